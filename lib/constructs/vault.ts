import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct, type IConstruct } from 'constructs';
import { BACKUPS_ROOT } from '../../core/layout.ts';
import { RETENTION_DAYS, RETENTION_TAG_KEY, TIERS } from '../../core/tiers.ts';
import { nagResourceName } from '../nag.ts';

const DAY_MS = 86_400_000;

export interface BackupVaultProps {
  /**
   * Key for SSE-KMS on every backup object.
   * @default - a new customer-managed key with yearly rotation, retained on stack deletion
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * How long an overwritten or expired object version is kept before it is removed for good.
   * @default Duration.days(1)
   */
  readonly noncurrentVersionExpiration?: Duration;
  /**
   * Bucket receiving the vault's S3 server access logs.
   * @default - a new bucket (SSE-S3, TLS only, no public access) whose logs expire after 365 days
   */
  readonly accessLogsBucket?: s3.IBucket;
  /**
   * What happens to the bucket and key when they leave the stack.
   * @default RemovalPolicy.RETAIN - backups outlive the stack
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Where backups live: a versioned, Object Lock enabled, KMS-encrypted, TLS-only bucket whose
 * lifecycle rules expire objects by their `retention` tag (the tiers of core/tiers.ts).
 */
export class BackupVault extends Construct {
  /** Prefix every backup object is written under (core/layout.ts). */
  public static readonly BACKUPS_PREFIX = `${BACKUPS_ROOT}/`;

  public readonly key: kms.IKey;
  public readonly bucket: s3.Bucket;
  public readonly accessLogsBucket: s3.IBucket;

  constructor(scope: Construct, id: string, props: BackupVaultProps = {}) {
    super(scope, id);
    const noncurrent = props.noncurrentVersionExpiration ?? Duration.days(1);
    const ms = noncurrent.toMilliseconds();
    if (ms < DAY_MS || ms % DAY_MS !== 0) {
      throw new Error(`BackupVault ${this.node.path}: noncurrentVersionExpiration is ${noncurrent.toHumanString()}; S3 counts whole days, so pass Duration.days(n) with n >= 1`);
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.key = props.encryptionKey ?? new kms.Key(this, 'Key', {
      description: 'crypto-stock-dr backup vault (SSE-KMS for backup objects)',
      enableKeyRotation: true,
      removalPolicy,
    });

    if (props.accessLogsBucket) {
      this.accessLogsBucket = props.accessLogsBucket;
    } else {
      // Server access logs can only be delivered to an SSE-S3 bucket, hence no KMS here.
      const logs = new s3.Bucket(this, 'AccessLogs', {
        encryption: s3.BucketEncryption.S3_MANAGED,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        minimumTLSVersion: 1.2,
        // objectOwnership left to CDK: it depends on whether log delivery is granted by ACL or bucket policy (feature flag).
        lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
        removalPolicy,
      });
      Validations.of(logs).acknowledge({
        id: 'AwsSolutions-S1',
        reason: 'This bucket is the server access log destination; logging it into itself would loop and another log bucket would only move the problem.',
      });
      this.accessLogsBucket = logs;
    }

    this.bucket = new s3.Bucket(this, 'Bucket', {
      versioned: true,
      // Enabled now so retention can be switched on later without replacing the bucket; no default retention yet.
      objectLockEnabled: true,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'backup-vault/',
      lifecycleRules: [
        ...TIERS.map((tier) => ({
          id: `expire-${tier}`,
          tagFilters: { [RETENTION_TAG_KEY]: tier },
          expiration: Duration.days(RETENTION_DAYS[tier]),
        })),
        {
          id: 'expire-noncurrent-versions',
          noncurrentVersionExpiration: noncurrent,
          expiredObjectDeleteMarker: true,
        },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy,
    });
  }

  /**
   * Lets `grantee` write and read backups under `backups/`: put (with the retention tag), get,
   * list, abort its own multipart uploads, and use the key. Never delete: a compromised job
   * must not be able to erase history.
   */
  public grantBackupWrite(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: [
        's3:PutObject',
        's3:PutObjectTagging',
        's3:GetObject',
        's3:GetObjectTagging',
        's3:AbortMultipartUpload',
        's3:ListMultipartUploadParts',
      ],
      resourceArns: [this.bucket.arnForObjects(`${BackupVault.BACKUPS_PREFIX}*`)],
    });
    this.grantListBackups(grantee);
    this.key.grant(grantee, 'kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey');
    this.acknowledgeBackupsWildcard(grantee);
    return grant;
  }

  /** Lets `grantee` list and read backups under `backups/` and decrypt them. */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:GetObjectTagging'],
      resourceArns: [this.bucket.arnForObjects(`${BackupVault.BACKUPS_PREFIX}*`)],
    });
    this.grantListBackups(grantee);
    this.key.grant(grantee, 'kms:Decrypt');
    this.acknowledgeBackupsWildcard(grantee);
    return grant;
  }

  private acknowledgeBackupsWildcard(grantee: iam.IGrantable): void {
    const principal = grantee.grantPrincipal as Partial<IConstruct>;
    if (!principal.node) return; // an imported principal: its policy is not in this app
    const objects = nagResourceName(this, this.bucket.arnForObjects(`${BackupVault.BACKUPS_PREFIX}*`));
    Validations.of(principal as IConstruct).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${objects}]`,
      reason: 'Backup object keys (backups/<database>/<id>/...) are chosen at run time; the wildcard covers only the backups/ prefix of the vault bucket.',
    });
  }

  private grantListBackups(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      // IfExists: HeadBucket (the CLI's reachability check) is authorized as s3:ListBucket without any prefix.
      conditions: { StringLikeIfExists: { 's3:prefix': [BackupVault.BACKUPS_PREFIX, `${BackupVault.BACKUPS_PREFIX}*`] } },
    });
  }
}
