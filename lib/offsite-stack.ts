import { type App, Aws, CfnOutput, Duration, Stack, type StackProps, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { RETENTION_DAYS } from '../core/tiers.ts';
import type { OffsiteConfig } from './config.ts';
import { BackupVault } from './constructs/vault.ts';

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
   * @default Duration.days(180) - the longest tier (core/tiers.ts)
   */
  readonly defaultRetention?: Duration;
  /**
   * The only principal that may change the offsite bucket's and key's protection (a role of the
   * offsite account).
   * @default - role crypto-stock-dr-break-glass of the offsite account
   */
  readonly breakGlassRoleArn?: string;
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
  /** True when the source account is another account than this stack's. */
  public readonly crossAccount: boolean;

  constructor(scope: Construct, id: string, props: OffsiteVaultStackProps) {
    super(scope, id, props);
    const sourceAccount = props.sourceAccount ?? this.account;
    this.crossAccount = sourceAccount !== this.account;
    if (this.crossAccount && (Token.isUnresolved(sourceAccount) || Token.isUnresolved(this.account))) {
      throw new Error(`OffsiteVaultStack ${this.node.path}: the offsite account differs from the source account, so both must be literal account ids (source ${sourceAccount}, offsite ${this.account}); run cdk with credentials of the source account (CDK_DEFAULT_ACCOUNT) or set config offsite.account only for a second account`);
    }
    const retention = props.defaultRetention ?? Duration.days(LONGEST_SOURCE_LOCK_DAYS);
    if (retention.toDays() < LONGEST_SOURCE_LOCK_DAYS) {
      throw new Error(`OffsiteVaultStack ${this.node.path}: defaultRetention is ${retention.toHumanString()}, shorter than the ${LONGEST_SOURCE_LOCK_DAYS}-day lock the source may put on a backup; use at least Duration.days(${LONGEST_SOURCE_LOCK_DAYS}) or leave it out`);
    }

    this.vault = new BackupVault(this, 'Vault', {
      bucketName: props.names.bucketName,
      keyAlias: props.names.keyAlias,
      objectLockDefaultRetention: s3.ObjectLockRetention.compliance(retention),
      breakGlassRoleArn: props.breakGlassRoleArn,
    });
    const { bucket, key } = this.vault;
    const replicationRoleArn = `arn:${Aws.PARTITION}:iam::${sourceAccount}:role/${props.names.replicationRoleName}`;
    const fromSourceAccount = { StringEquals: { 'aws:PrincipalAccount': sourceAccount } };

    bucket.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'DenyDeletesFromSourceAccount',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: [...DENIED_TO_SOURCE_ACCOUNT, ...(this.crossAccount ? DENIED_TO_SOURCE_ACCOUNT_CROSS_ACCOUNT : [])],
      resources: [bucket.bucketArn, bucket.arnForObjects('*')],
      conditions: fromSourceAccount,
    }));

    if (this.crossAccount) {
      // Principal is the account with an aws:PrincipalArn condition: a role ARN principal would make
      // this policy fail to deploy before the primary stack has created the role.
      const replicationRole = { ArnEquals: { 'aws:PrincipalArn': replicationRoleArn } };
      const sourceRoot = new iam.AccountPrincipal(sourceAccount);
      bucket.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'AllowReplicationFromSourceAccount',
        principals: [sourceRoot],
        actions: ['s3:ReplicateObject', 's3:ReplicateTags'],
        resources: [bucket.arnForObjects(`${BackupVault.BACKUPS_PREFIX}*`)],
        conditions: replicationRole,
      }));
      bucket.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'AllowReplicationChecks',
        principals: [sourceRoot],
        actions: ['s3:GetBucketVersioning', 's3:GetBucketObjectLockConfiguration', 's3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: replicationRole,
      }));
      key.addToResourcePolicy(new iam.PolicyStatement({
        sid: 'AllowReplicaEncryption',
        principals: [sourceRoot],
        actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { ...replicationRole, StringEquals: { 'kms:ViaService': `s3.${this.region}.amazonaws.com` } },
      }));
    }

    new CfnOutput(this, 'OffsiteBucketName', {
      description: 'The offsite replica; dr reaches it as s3://<this>/ (AWS_REGION set to this region)',
      value: bucket.bucketName,
    });
    new CfnOutput(this, 'OffsiteKeyArn', { value: key.keyArn });
  }
}

/**
 * The offsite stack for `primary` (a DrStack built with the same `offsite` config), deployed
 * before it: S3 checks that the destination bucket exists when the replication rule is created.
 * `sourceAccount` is the primary's account id (CDK_DEFAULT_ACCOUNT); required with offsite.account.
 */
export function addOffsiteStack(app: App, primary: Stack, offsite: OffsiteConfig, sourceAccount: string | undefined, breakGlassRoleArn?: string): OffsiteVaultStack {
  if (offsite.account && !sourceAccount) {
    throw new Error('config offsite.account is set, so the offsite bucket policy must name the source account: run cdk with credentials of the primary account (the CDK CLI sets CDK_DEFAULT_ACCOUNT from them)');
  }
  const stack = new OffsiteVaultStack(app, `${primary.stackName}Offsite`, {
    names: offsiteNames({ primaryStackName: primary.stackName, ...offsite }),
    sourceAccount: offsite.account ? sourceAccount : undefined,
    // In the primary's account the primary's break-glass role; in another account that account's own.
    breakGlassRoleArn: offsite.account ? undefined : breakGlassRoleArn,
    description: 'crypto-stock-dr: offsite replica of the backup vault (Object Lock, deletes denied to the source account)',
    env: { account: offsite.account ?? sourceAccount, region: offsite.region },
  });
  primary.addStackDependency(stack, 'the vault replicates to the offsite bucket');
  return stack;
}
