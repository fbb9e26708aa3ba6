import { type App, Aws, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { RETENTION_DAYS } from '../core/repository/tiers.ts';
import type { OffsiteConfig } from './config.ts';
import { PitrRepository } from './constructs/pitr-repository.ts';
import { protectBucket, protectKey } from './constructs/protection.ts';
import { BackupVault } from './constructs/vault.ts';
import { newVersionedKmsBucket } from './constructs/versioned-bucket.ts';

/**
 * Physical names shared by the primary stack (replication rule and role) and the offsite stack
 * (bucket, key alias, policies). They are computed from configuration on both sides because the
 * stacks are in different regions (maybe accounts), where CloudFormation references and
 * exports do not reach.
 */
export interface OffsiteNames {
  readonly bucketName: string;
  /** KMS alias of the offsite key, without `alias/`. */
  readonly keyAlias: string;
  /** The replication role in the primary (source) account. */
  readonly replicationRoleName: string;
  /** The PITR repository's offsite replica bucket. */
  readonly pitrBucketName: string;
  /** KMS alias of the PITR replica's own key, without `alias/`. */
  readonly pitrKeyAlias: string;
  /** The PITR repository's replication role in the primary account. */
  readonly pitrReplicationRoleName: string;
}

export interface OffsiteNamesInput {
  /** Name of the primary stack (keeps the role name unique per deployment). */
  readonly primaryStackName: string;
  readonly region: string;
  /** @default - the account of the stack the names are used in (same-account offsite) */
  readonly account?: string;
  /** @default - crypto-stock-dr-offsite-<account>-<region> */
  readonly bucketName?: string;
}

export function offsiteNames(input: OffsiteNamesInput): OffsiteNames {
  // Aws.ACCOUNT_ID resolves in each stack to its own account: the same one when no account is configured.
  const account = input.account ?? Aws.ACCOUNT_ID;
  return {
    bucketName: input.bucketName ?? `crypto-stock-dr-offsite-${account}-${input.region}`,
    keyAlias: `${input.primaryStackName.toLowerCase()}/offsite`,
    replicationRoleName: `${input.primaryStackName}-offsite-replication`.slice(0, 64),
    pitrBucketName: input.bucketName
      ? `${input.bucketName.slice(0, 58)}-pitr`
      : `crypto-stock-dr-offsite-pitr-${account}-${input.region}`,
    pitrKeyAlias: `${input.primaryStackName.toLowerCase()}/offsite-pitr`,
    pitrReplicationRoleName: `${input.primaryStackName.slice(0, 38)}-offsite-pitr-replication`,
  };
}

/** Actions the source account may never perform on the offsite bucket or its objects. */
export const DENIED_TO_SOURCE_ACCOUNT = [
  's3:DeleteObject',
  's3:DeleteObjectVersion',
  's3:DeleteObjectTagging',
  's3:DeleteObjectVersionTagging',
  's3:PutObjectRetention',
  's3:PutObjectLegalHold',
  's3:BypassGovernanceRetention',
  's3:DeleteBucket',
] as const;

/**
 * Bucket settings the source account may not change either, when the offsite is in another
 * account. In a single account they stay allowed: CloudFormation deploys with that account's
 * credentials and must be able to update the bucket it owns.
 */
export const DENIED_TO_SOURCE_ACCOUNT_CROSS_ACCOUNT = [
  's3:PutLifecycleConfiguration',
  's3:PutBucketObjectLockConfiguration',
  's3:PutBucketVersioning',
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
  's3:PutReplicationConfiguration',
] as const;

export interface OffsiteVaultStackProps extends StackProps {
  /** Names from offsiteNames(), identical to the ones the primary stack replicates to. */
  readonly names: OffsiteNames;
  /**
   * The primary (source) account, whose principals are denied deletes and whose replication
   * role may write replicas. Must be a literal account id when the offsite is in another account.
   * @default - this stack's account (same-account offsite)
   */
  readonly sourceAccount?: string;
  /**
   * COMPLIANCE retention of replicas that arrive without their own Object Lock date. Never shorter
   * than the longest lock the source writes (the monthly tier), so no replica is ever less
   * protected than its source object.
   * @default Duration.days(180) - the longest tier (core/repository/tiers.ts)
   */
  readonly defaultRetention?: Duration;
  /**
   * The only principal that may change the offsite bucket's and key's protection (a role of the
   * offsite account).
   * @default - role crypto-stock-dr-break-glass of the offsite account
   */
  readonly breakGlassRoleArn?: string;
  /**
   * Also receive the primary's PITR repository (pgBackRest WAL and base backups): a bucket of its
   * own, with its own KMS key, that the source account cannot delete from either.
   * @default false
   */
  readonly pitr?: boolean;
  /**
   * With `pitr`: how long a replica stays after it was written. The primary's pgBackRest deletes
   * expired backups and WAL, but deletions are never replicated, so replicas expire here instead;
   * at least the PITR window and the week until the next full backup.
   * @default Duration.days(28) - twice the default PITR retention (14 days)
   */
  readonly pitrReplicaExpiration?: Duration;
}

/** The longest Object Lock the primary's writer sets (the longest tier). */
const LONGEST_SOURCE_LOCK_DAYS = Math.max(...Object.values(RETENTION_DAYS));

/**
 * The offsite copy: in a second region and optionally a second account, a BackupVault (own KMS
 * key, versioning, TLS only, access logs, the same tag-based lifecycle) with Object Lock in
 * a COMPLIANCE default retention, and a bucket policy that denies the source account any delete.
 * Replicas keep the Object Lock mode and date the job wrote on the primary (GOVERNANCE daily, COMPLIANCE weekly and monthly);
 * the COMPLIANCE default covers only objects that arrive without one.
 */
export class OffsiteVaultStack extends Stack {
  public readonly vault: BackupVault;
  /** With props.pitr: the PITR repository's replica bucket and its own key. */
  public readonly pitrBucket?: s3.Bucket;
  public readonly pitrKey?: kms.Key;
  /** True when the source account is another account than this stack's. */
  public readonly crossAccount: boolean;

  constructor(scope: Construct, id: string, props: OffsiteVaultStackProps) {
    super(scope, id, props);
    const sourceAccount = props.sourceAccount ?? this.account;
    this.crossAccount = sourceAccount !== this.account;
    if (this.crossAccount && (Token.isUnresolved(sourceAccount) || Token.isUnresolved(this.account))) {
      throw new Error(
        `OffsiteVaultStack ${this.node.path}: the offsite account differs from the source account, so both must be literal account ids (source ${sourceAccount}, offsite ${this.account}); run cdk with credentials of the source account (CDK_DEFAULT_ACCOUNT) or set config offsite.account only for a second account`,
      );
    }
    const retention = props.defaultRetention ?? Duration.days(LONGEST_SOURCE_LOCK_DAYS);
    if (retention.toDays() < LONGEST_SOURCE_LOCK_DAYS) {
      throw new Error(
        `OffsiteVaultStack ${this.node.path}: defaultRetention is ${retention.toHumanString()}, shorter than the ${LONGEST_SOURCE_LOCK_DAYS}-day lock the source may put on a backup; use at least Duration.days(${LONGEST_SOURCE_LOCK_DAYS}) or leave it out`,
      );
    }

    this.vault = new BackupVault(this, 'Vault', {
      bucketName: props.names.bucketName,
      keyAlias: props.names.keyAlias,
      objectLockDefaultRetention: s3.ObjectLockRetention.compliance(retention),
      breakGlassRoleArn: props.breakGlassRoleArn,
    });
    this.admitReplicas(
      this.vault.bucket,
      this.vault.key,
      BackupVault.BACKUPS_PREFIX,
      sourceAccount,
      props.names.replicationRoleName,
    );

    if (props.pitr) {
      const expiration = props.pitrReplicaExpiration ?? Duration.days(28);
      this.pitrKey = new kms.Key(this, 'PitrKey', {
        description: 'crypto-stock-dr offsite replica of the PITR repository (re-encrypted under this key)',
        enableKeyRotation: true,
        alias: props.names.pitrKeyAlias,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      // No Object Lock, like the source (pgBackRest rewrites its info files); the source account may delete nothing here.
      this.pitrBucket = newVersionedKmsBucket(this, 'PitrBucket', {
        bucketName: props.names.pitrBucketName,
        encryptionKey: this.pitrKey,
        accessLogsBucket: this.vault.accessLogsBucket,
        accessLogsPrefix: 'offsite-pitr/',
        noncurrentVersionExpiration: Duration.days(14),
        lifecycleRules: [{ id: 'expire-pitr-replicas', expiration }],
        removalPolicy: RemovalPolicy.RETAIN,
      });
      protectBucket(this.pitrBucket, this.vault.breakGlassRoleArn);
      protectKey(this.pitrKey, this.vault.breakGlassRoleArn);
      this.admitReplicas(
        this.pitrBucket,
        this.pitrKey,
        `${PitrRepository.PREFIX}/`,
        sourceAccount,
        props.names.pitrReplicationRoleName,
        'Pitr',
      );
      new CfnOutput(this, 'OffsitePitrUrl', {
        description:
          "The PITR repository's offsite replica: dr pitr ... --pitr <this> (AWS_REGION set to this region, --kms-key-id the OffsitePitrKeyArn)",
        value: `s3://${this.pitrBucket.bucketName}/${PitrRepository.PREFIX}`,
      });
      new CfnOutput(this, 'OffsitePitrKeyArn', { value: this.pitrKey.keyArn });
    }

    new CfnOutput(this, 'OffsiteBucketName', {
      description: 'The offsite replica; dr reaches it as s3://<this>/ (AWS_REGION set to this region)',
      value: this.vault.bucket.bucketName,
    });
    new CfnOutput(this, 'OffsiteKeyArn', { value: this.vault.key.keyArn });
  }

  /**
   * Bucket and key policies of a replica bucket: the source account may delete nothing (nor change
   * the bucket, across accounts); across accounts its replication role may write replicas under
   * `prefix` and encrypt them with `key`.
   */
  private admitReplicas(
    bucket: s3.Bucket,
    key: kms.IKey,
    prefix: string,
    sourceAccount: string,
    replicationRoleName: string,
    sidPrefix = '',
  ): void {
    const replicationRoleArn = `arn:${Aws.PARTITION}:iam::${sourceAccount}:role/${replicationRoleName}`;
    const fromSourceAccount = { StringEquals: { 'aws:PrincipalAccount': sourceAccount } };

    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: `${sidPrefix}DenyDeletesFromSourceAccount`,
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: [...DENIED_TO_SOURCE_ACCOUNT, ...(this.crossAccount ? DENIED_TO_SOURCE_ACCOUNT_CROSS_ACCOUNT : [])],
        resources: [bucket.bucketArn, bucket.arnForObjects('*')],
        conditions: fromSourceAccount,
      }),
    );
    if (!this.crossAccount) return;

    // Principal is the account with an aws:PrincipalArn condition: a role ARN principal would make
    // this policy fail to deploy before the primary stack has created the role.
    const replicationRole = { ArnEquals: { 'aws:PrincipalArn': replicationRoleArn } };
    const sourceRoot = new iam.AccountPrincipal(sourceAccount);
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: `${sidPrefix}AllowReplicationFromSourceAccount`,
        principals: [sourceRoot],
        actions: ['s3:ReplicateObject', 's3:ReplicateTags'],
        resources: [bucket.arnForObjects(`${prefix}*`)],
        conditions: replicationRole,
      }),
    );
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: `${sidPrefix}AllowReplicationChecks`,
        principals: [sourceRoot],
        actions: ['s3:GetBucketVersioning', 's3:GetBucketObjectLockConfiguration', 's3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: replicationRole,
      }),
    );
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowReplicaEncryption',
        principals: [sourceRoot],
        actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { ...replicationRole, StringEquals: { 'kms:ViaService': `s3.${this.region}.amazonaws.com` } },
      }),
    );
  }
}

/**
 * The offsite stack for `primary` (a DrStack built with the same `offsite` config), deployed
 * before it: S3 checks that the destination bucket exists when the replication rule is created.
 * `sourceAccount` is the primary's account id (CDK_DEFAULT_ACCOUNT); required with offsite.account.
 */
export function addOffsiteStack(
  app: App,
  primary: Stack,
  offsite: OffsiteConfig,
  sourceAccount: string | undefined,
  breakGlassRoleArn?: string,
): OffsiteVaultStack {
  if (offsite.account && !sourceAccount) {
    throw new Error(
      'config offsite.account is set, so the offsite bucket policy must name the source account: run cdk with credentials of the primary account (the CDK CLI sets CDK_DEFAULT_ACCOUNT from them)',
    );
  }
  const stack = new OffsiteVaultStack(app, `${primary.stackName}Offsite`, {
    names: offsiteNames({ primaryStackName: primary.stackName, ...offsite }),
    sourceAccount: offsite.account ? sourceAccount : undefined,
    // In the primary's account the primary's break-glass role; in another account that account's own.
    breakGlassRoleArn: offsite.account ? undefined : breakGlassRoleArn,
    // The primary replicates its PITR repository when it has one (DrStack.pitrRepository).
    pitr: (primary as Stack & { readonly pitrRepository?: unknown }).pitrRepository !== undefined,
    description:
      'crypto-stock-dr: offsite replica of the backup vault (Object Lock, deletes denied to the source account)',
    env: { account: offsite.account ?? sourceAccount, region: offsite.region },
  });
  primary.addStackDependency(stack, 'the vault replicates to the offsite bucket');
  return stack;
}
