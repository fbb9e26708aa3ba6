import { Aws, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { nagResourceName } from '../nag.ts';
import { BackupVault } from './vault.ts';

/**
 * Where replicas go, by physical names only: the destination lives in another region (and maybe
 * another account), where CloudFormation token references cannot reach.
 */
export interface ReplicationDestination {
  /** Destination bucket name (OffsiteVaultStack's bucket). */
  readonly bucketName: string;
  /** Destination region. */
  readonly region: string;
  /**
   * Destination account.
   * @default - this stack's account (same-account replication)
   */
  readonly account?: string;
  /** Alias (without `alias/`) of the destination bucket's KMS key; replicas are encrypted with it. */
  readonly keyAlias: string;
}

/** A replicated bucket and the key its objects are encrypted with (a BackupVault, a PitrRepository). */
export interface ReplicationSource {
  readonly bucket: s3.Bucket;
  readonly key: kms.IKey;
}

export interface VaultReplicationProps {
  /** The primary bucket (the vault, or the PITR repository) whose `prefix` objects are replicated. */
  readonly vault: ReplicationSource;
  readonly destination: ReplicationDestination;
  /**
   * Key prefix replicated (and the only prefix the role may read and write), ending in '/'.
   * @default BackupVault.BACKUPS_PREFIX ('backups/')
   */
  readonly prefix?: string;
  /**
   * Id of the replication rule (a dimension of the AWS/S3 replication metrics).
   * @default VaultReplication.RULE_ID
   */
  readonly ruleId?: string;
  /**
   * What is replicated, for the role's description and the alarm texts.
   * @default 'backups'
   */
  readonly what?: string;
  /**
   * Physical name of the replication role, so the destination's bucket and key policies can name it.
   * @default - generated (fine for same-account replication)
   */
  readonly roleName?: string;
  /**
   * S3 Replication Time Control: 99.99 % of objects within 15 minutes, at an extra per-GB charge.
   * @default false
   */
  readonly replicationTimeControl?: boolean;
  /**
   * Alarm when the oldest pending replication is older than this.
   * @default Duration.hours(1) (Duration.minutes(15) with replicationTimeControl)
   */
  readonly maxLatency?: Duration;
  /**
   * Topic notified by the replication alarms.
   * @default - alarms without actions
   */
  readonly alarmTopic?: sns.ITopic;
}

/**
 * S3 replication of the vault's `backups/` prefix to the offsite bucket: SSE-KMS objects
 * re-encrypted under the offsite key, tags and Object Lock dates kept, delete markers NOT
 * replicated (a deletion on the primary never reaches the copy). Replication metrics are always
 * on; alarms fire on failed operations and on latency above `maxLatency`.
 */
export class VaultReplication extends Construct {
  /** Id of the one replication rule (a dimension of the AWS/S3 replication metrics). */
  public static readonly RULE_ID = 'backups-to-offsite';

  /** The rule id of this replication (props.ruleId). */
  public readonly ruleId: string;
  public readonly role: iam.Role;
  public readonly latencyAlarm: cloudwatch.Alarm;
  public readonly failedAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: VaultReplicationProps) {
    super(scope, id);
    const { vault, destination } = props;
    const stack = Stack.of(this);
    if (destination.region === stack.region) {
      throw new Error(
        `VaultReplication ${this.node.path}: the destination region ${destination.region} is the vault's own region; choose another region (config offsite.region) so a regional outage cannot take both copies`,
      );
    }
    const rtc = props.replicationTimeControl ?? false;
    const maxLatency = props.maxLatency ?? (rtc ? Duration.minutes(15) : Duration.hours(1));
    const destinationAccount = destination.account ?? Aws.ACCOUNT_ID;
    const destinationBucketArn = `arn:${Aws.PARTITION}:s3:::${destination.bucketName}`;
    const destinationKeyArns = `arn:${Aws.PARTITION}:kms:${destination.region}:${destinationAccount}:key/*`;
    const aliasArn = `arn:${Aws.PARTITION}:kms:${destination.region}:${destinationAccount}:alias/${destination.keyAlias}`;
    const prefix = props.prefix ?? BackupVault.BACKUPS_PREFIX;
    if (!prefix.endsWith('/') || prefix.startsWith('/'))
      throw new Error(
        `VaultReplication ${this.node.path}: prefix "${prefix}" must be a folder like "pitr/" (ending in /, no leading /)`,
      );
    const backups = `${prefix}*`;
    const ruleId = props.ruleId ?? VaultReplication.RULE_ID;
    const what = props.what ?? 'backups';
    this.ruleId = ruleId;

    this.role = new iam.Role(this, 'Role', {
      roleName: props.roleName,
      assumedBy: new iam.ServicePrincipal('s3.amazonaws.com'),
      description: `crypto-stock-dr: replicates ${prefix} of ${what === 'backups' ? 'the vault' : `the ${what}`} to the offsite bucket (no delete)`,
    });
    const policy = new iam.Policy(this, 'Policy', {
      statements: [
        new iam.PolicyStatement({
          actions: ['s3:GetReplicationConfiguration', 's3:ListBucket'],
          resources: [vault.bucket.bucketArn],
        }),
        new iam.PolicyStatement({
          // GetObjectRetention/LegalHold: the replica keeps the source's Object Lock dates.
          actions: [
            's3:GetObjectVersionForReplication',
            's3:GetObjectVersionAcl',
            's3:GetObjectVersionTagging',
            's3:GetObjectRetention',
            's3:GetObjectLegalHold',
          ],
          resources: [vault.bucket.arnForObjects(backups)],
        }),
        new iam.PolicyStatement({
          // No s3:ReplicateDelete: delete markers are not replicated.
          actions: ['s3:ReplicateObject', 's3:ReplicateTags'],
          resources: [`${destinationBucketArn}/${backups}`],
        }),
        new iam.PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [vault.key.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } },
        }),
        new iam.PolicyStatement({
          // The destination key's id is random and lives in another region: it is named by its alias.
          actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
          resources: [destinationKeyArns],
          conditions: {
            StringEquals: { 'kms:ViaService': `s3.${destination.region}.amazonaws.com` },
            'ForAnyValue:StringEquals': { 'kms:ResourceAliases': `alias/${destination.keyAlias}` },
          },
        }),
      ],
    });
    policy.attachToRole(this.role);
    Validations.of(policy).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::${nagResourceName(this, vault.bucket.arnForObjects(backups))}]`,
        reason: `Replication reads every object version under ${prefix} (keys chosen at run time); only the Get*ForReplication, tagging and Object Lock read actions, only that prefix.`,
      },
      {
        id: `AwsSolutions-IAM5[Resource::${nagResourceName(this, `${destinationBucketArn}/${backups}`)}]`,
        reason: `Replication writes replicas under ${prefix} of the offsite bucket with the same run-time keys; ReplicateObject/ReplicateTags only, no ReplicateDelete.`,
      },
      {
        id: `AwsSolutions-IAM5[Resource::${nagResourceName(this, destinationKeyArns)}]`,
        reason:
          'The offsite key is in another region (maybe account) and its key id is random, so it is named by alias: key/* is narrowed by kms:ResourceAliases to the offsite alias and kms:ViaService to S3 in that region.',
      },
    );

    const cfnBucket = vault.bucket.node.defaultChild as s3.CfnBucket;
    cfnBucket.replicationConfiguration = {
      role: this.role.roleArn,
      rules: [
        {
          id: ruleId,
          status: 'Enabled',
          priority: 1,
          filter: { prefix },
          // Never replicate deletions: a delete marker on the primary leaves the replica current.
          deleteMarkerReplication: { status: 'Disabled' },
          sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: 'Enabled' } },
          destination: {
            bucket: destinationBucketArn,
            account: destination.account,
            encryptionConfiguration: { replicaKmsKeyId: aliasArn },
            metrics: rtc ? { status: 'Enabled', eventThreshold: { minutes: 15 } } : { status: 'Enabled' },
            replicationTime: rtc ? { status: 'Enabled', time: { minutes: 15 } } : undefined,
          },
        },
      ],
    };

    const metric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/S3',
        metricName,
        dimensionsMap: {
          SourceBucket: vault.bucket.bucketName,
          DestinationBucket: destination.bucketName,
          RuleId: ruleId,
        },
        statistic,
        period: Duration.minutes(5),
      });
    this.latencyAlarm = new cloudwatch.Alarm(this, 'LatencyAlarm', {
      alarmDescription: `Offsite replication of ${what} is more than ${maxLatency.toHumanString()} behind (AWS/S3 ReplicationLatency); check the replication role, the offsite bucket and key policies`,
      metric: metric('ReplicationLatency', 'Maximum'),
      threshold: maxLatency.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      // S3 publishes replication metrics only while there is something to replicate.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.failedAlarm = new cloudwatch.Alarm(this, 'FailedAlarm', {
      alarmDescription: `Offsite replication of ${what} failed for at least one object (AWS/S3 OperationsFailedReplication); usually a permission or KMS key policy problem at the offsite bucket`,
      metric: metric('OperationsFailedReplication', 'Sum'),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic) {
      for (const alarm of [this.latencyAlarm, this.failedAlarm])
        alarm.addAlarmAction(new actions.SnsAction(props.alarmTopic));
    }
  }
}
