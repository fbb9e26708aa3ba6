import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct, type IConstruct } from 'constructs';
import { nagResourceName } from '../nag.ts';
import { defaultBreakGlassRoleArn, protectBucket, protectKey } from './protection.ts';
import { newAccessLogsBucket, newVersionedKmsBucket, validateNoncurrentExpiration } from './versioned-bucket.ts';

export interface PitrRepositoryProps {
  /**
   * Key for SSE-KMS on every repository object.
   * @default - a new customer-managed key with yearly rotation, separate from the vault's, so the
   * database host can use this one without being able to decrypt the logical backups
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Bucket receiving the server access logs (the vault's, usually).
   * @default - a new bucket (SSE-S3, TLS only, no public access) whose logs expire after 365 days
   */
  readonly accessLogsBucket?: s3.IBucket;
  /**
   * How far back point-in-time recovery reaches: pgBackRest's retention (`dr pitr config`
   * --retention-full 2 weekly fulls keeps up to 14 days).
   * @default Duration.days(14)
   */
  readonly retention?: Duration;
  /**
   * How long an object version that pgBackRest overwrote (backup.info, archive.info) or deleted
   * (expired backups and WAL) is kept. The host may delete objects but not versions, so this is
   * the window in which a compromised host's deletions can be undone; at least `retention`, so a
   * host that deletes everything cannot shorten the recovery window.
   * @default - `retention`
   */
  readonly noncurrentVersionExpiration?: Duration;
  /**
   * The only principal that may delete versions or change the bucket's and key's protection.
   * @default - defaultBreakGlassRoleArn(): role crypto-stock-dr-break-glass of this account
   */
  readonly breakGlassRoleArn?: string;
  /**
   * What happens to the bucket and key when they leave the stack.
   * @default RemovalPolicy.RETAIN - the WAL archive outlives the stack
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The pgBackRest repository for point-in-time recovery: a bucket of its own, not a prefix of the
 * BackupVault, because the two need opposite write semantics.
 *
 * - pgBackRest rewrites `backup.info`/`archive.info` (and their `.copy`) on every backup and
 *   deletes its own expired backups and WAL (`repo1-retention-full`). The vault has Object Lock
 *   enabled for write-once logical backups (per-object GOVERNANCE dates, and possibly a default
 *   retention); under a default retention every pgBackRest object would be locked, the info files
 *   could not be replaced in place and `expire` would fail. Object Lock cannot be disabled once on,
 *   so the repository must live in a bucket that never had it.
 * - The vault's lifecycle rules expire by the `retention` tag; pgBackRest writes untagged objects,
 *   so they would never expire there, only accumulate noncurrent versions under the vault's rule.
 *   Here lifecycle touches only noncurrent versions and incomplete uploads: pgBackRest owns retention.
 * - The host's policy needs s3:DeleteObject for `expire`. In a bucket of its own that right cannot
 *   reach the logical backups, whose writers are never allowed to delete.
 *
 * The bucket is versioned and the host gets no s3:DeleteObjectVersion, so whatever it deletes or
 * overwrites stays recoverable for `noncurrentVersionExpiration`.
 */
export class PitrRepository extends Construct {
  /** Key prefix of the repository: pgBackRest `repo1-path=/pitr`. */
  public static readonly PREFIX = 'pitr';

  public readonly key: kms.IKey;
  public readonly bucket: s3.Bucket;
  /** The repository as `dr` and pgBackRest name it: s3://<bucket>/pitr. */
  public readonly url: string;
  /** Attach to the database host's role: read, write and expire the repository, and use the key. */
  public readonly hostPolicy: iam.ManagedPolicy;
  /** The principal exempt from the bucket's and key's protection statements. */
  public readonly breakGlassRoleArn: string;

  constructor(scope: Construct, id: string, props: PitrRepositoryProps = {}) {
    super(scope, id);
    const retention = props.retention ?? Duration.days(14);
    const noncurrent = props.noncurrentVersionExpiration ?? retention;
    validateNoncurrentExpiration(`PitrRepository ${this.node.path}`, noncurrent);
    if (noncurrent.toDays() < retention.toDays()) {
      throw new Error(
        `PitrRepository ${this.node.path}: noncurrentVersionExpiration (${noncurrent.toHumanString()}) is shorter than retention (${retention.toHumanString()}); keep deleted versions at least as long as the recovery window, or leave it out`,
      );
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.key =
      props.encryptionKey ??
      new kms.Key(this, 'Key', {
        description: 'crypto-stock-dr pgBackRest repository (SSE-KMS for WAL and base backups)',
        enableKeyRotation: true,
        removalPolicy,
      });

    // No objectLockEnabled, deliberately: see the class comment. Lifecycle touches only noncurrent
    // versions and incomplete uploads: pgBackRest owns retention.
    this.bucket = newVersionedKmsBucket(this, 'Bucket', {
      encryptionKey: this.key,
      accessLogsBucket: props.accessLogsBucket ?? newAccessLogsBucket(this, removalPolicy),
      accessLogsPrefix: 'pitr-repository/',
      noncurrentVersionExpiration: noncurrent,
      removalPolicy,
    });
    this.url = `s3://${this.bucket.bucketName}/${PitrRepository.PREFIX}`;
    this.breakGlassRoleArn = props.breakGlassRoleArn ?? defaultBreakGlassRoleArn();
    protectBucket(this.bucket, this.breakGlassRoleArn);
    if (!props.encryptionKey) protectKey(this.key, this.breakGlassRoleArn);

    const objects = this.objectsArn();
    this.hostPolicy = new iam.ManagedPolicy(this, 'HostPolicy', {
      description:
        'crypto-stock-dr: attach to the database host role; pgBackRest archive-push, backup, expire and restore on the PITR repository',
      statements: [
        new iam.PolicyStatement({
          sid: 'ListRepository',
          actions: ['s3:ListBucket'],
          resources: [this.bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${PitrRepository.PREFIX}/`, `${PitrRepository.PREFIX}/*`] } },
        }),
        new iam.PolicyStatement({
          sid: 'ReadWriteExpireRepository',
          // DeleteObject: pgBackRest `expire` removes old backups and WAL. No DeleteObjectVersion: the
          // versions it deletes stay recoverable until the noncurrent-version rule removes them.
          actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
          resources: [objects],
        }),
        new iam.PolicyStatement({
          sid: 'RepositoryKey',
          actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [this.key.keyArn],
        }),
      ],
    });
    this.acknowledgeObjectsWildcard(
      this.hostPolicy,
      'pgBackRest chooses its keys at run time (archive/<stanza>/..., backup/<stanza>/<label>/...); the wildcard covers only the pitr/ prefix of the PITR repository bucket, never the backup vault.',
    );
  }

  /** Lets `grantee` read the repository (a PITR restore: pgBackRest restore and archive-get) and decrypt it. */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    this.grantList(grantee);
    const grant = iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.objectsArn()] });
    this.key.grant(grantee, 'kms:Decrypt');
    this.acknowledgeObjectsWildcard(
      grantee,
      'A PITR restore reads pgBackRest keys chosen at run time (backup manifests, files, WAL); read-only, and only under the pitr/ prefix.',
    );
    return grant;
  }

  /**
   * Lets `grantee` list the repository and read object metadata (the RPO watch). HEAD of an
   * SSE-KMS object needs no key permission, so none is granted: the watcher cannot read WAL.
   */
  public grantWatch(grantee: iam.IGrantable): iam.Grant {
    this.grantList(grantee);
    // s3:GetObject authorizes HeadObject; there is no narrower action.
    const grant = iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.objectsArn()] });
    this.acknowledgeObjectsWildcard(
      grantee,
      'The RPO watch heads the newest WAL segment and backup manifest, whose keys are chosen by pgBackRest; only under the pitr/ prefix, and without the key it cannot decrypt their content.',
    );
    return grant;
  }

  private grantList(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${PitrRepository.PREFIX}/`, `${PitrRepository.PREFIX}/*`] } },
    });
  }

  private objectsArn(): string {
    return this.bucket.arnForObjects(`${PitrRepository.PREFIX}/*`);
  }

  private acknowledgeObjectsWildcard(target: iam.IGrantable | iam.ManagedPolicy, reason: string): void {
    const construct = (target instanceof iam.ManagedPolicy ? target : target.grantPrincipal) as Partial<IConstruct>;
    if (!construct.node) return; // an imported principal: its policy is not in this app
    // Same-stack principals only: across stacks the nag name of the ARN differs.
    if (Stack.of(construct as IConstruct) !== Stack.of(this)) return;
    Validations.of(construct as IConstruct).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceName(this, this.objectsArn())}]`,
      reason,
    });
  }
}
