import { Aws } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/** The break-glass role's name when config breakGlassRoleArn is not set (README "Break glass"). */
export const DEFAULT_BREAK_GLASS_ROLE_NAME = 'crypto-stock-dr-break-glass';

/** The break-glass role of the account the ARN is used in, by its default name. */
export function defaultBreakGlassRoleArn(): string {
  return `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role/${DEFAULT_BREAK_GLASS_ROLE_NAME}`;
}

/**
 * Bucket-level actions that would let someone remove, unlock or stop copying backups: denied to
 * every principal but the break-glass role, whatever the account's IAM policies say (an
 * administrator of the account included).
 */
export const PROTECTED_BUCKET_ACTIONS = [
  's3:DeleteObjectVersion',
  's3:BypassGovernanceRetention',
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
  's3:PutLifecycleConfiguration',
  's3:PutBucketObjectLockConfiguration',
  's3:PutReplicationConfiguration',
  's3:PutBucketVersioning',
] as const;

/** Key actions that would make every copy unreadable (deletion, disabling) or unlock the key policy. */
export const PROTECTED_KEY_ACTIONS = [
  'kms:ScheduleKeyDeletion',
  'kms:DisableKey',
  'kms:PutKeyPolicy',
  'kms:DeleteAlias',
] as const;

const notBreakGlass = (breakGlassRoleArn: string) => ({ ArnNotEquals: { 'aws:PrincipalArn': breakGlassRoleArn } });

/** Adds the DenyProtectionChanges statement to `bucket`'s policy. */
export function protectBucket(bucket: s3.Bucket, breakGlassRoleArn: string): void {
  bucket.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'DenyProtectionChangesExceptBreakGlass',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: [...PROTECTED_BUCKET_ACTIONS],
      resources: [bucket.bucketArn, bucket.arnForObjects('*')],
      conditions: notBreakGlass(breakGlassRoleArn),
    }),
  );
}

/**
 * Denies PROTECTED_KEY_ACTIONS on `key` to every principal but the break-glass role. The account
 * root keeps kms:* otherwise (CDK's default statement), so IAM policies still grant use of the key.
 */
export function protectKey(key: kms.IKey, breakGlassRoleArn: string): void {
  if (!(key instanceof kms.Key)) {
    throw new Error(
      `protectKey: the key ${key.node.path} is imported, so its policy is not in this app; protect it where it is defined, or let the construct create its key`,
    );
  }
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'DenyKeyDestructionExceptBreakGlass',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: [...PROTECTED_KEY_ACTIONS],
      resources: ['*'],
      conditions: notBreakGlass(breakGlassRoleArn),
    }),
  );
  // KMS refuses a key policy that denies PutKeyPolicy to the principal creating the key (here
  // CloudFormation's role) unless the lockout safety check is bypassed. The lockout is the point:
  // only the break-glass role may change this policy afterwards.
  (key.node.defaultChild as kms.CfnKey).bypassPolicyLockoutSafetyCheck = true;
}

export interface TamperAlarmProps {
  /** Buckets whose policy, lifecycle or objects' governance locks must not change unnoticed. */
  readonly buckets: readonly s3.IBucket[];
  /** Keys whose deletion, disabling or policy change must not go unnoticed. */
  readonly keys: readonly kms.IKey[];
  /** Notified with the CloudTrail event. */
  readonly topic: sns.ITopic;
}

/** Bucket API calls (CloudTrail management events) that would weaken a bucket's protection. */
export const TAMPER_BUCKET_EVENTS = [
  'PutBucketPolicy',
  'DeleteBucketPolicy',
  'PutBucketLifecycleConfiguration',
  'DeleteBucketLifecycle',
  'PutBucketReplication',
  'DeleteBucketReplication',
  'PutBucketVersioning',
  'PutObjectLockConfiguration',
] as const;
/** Object deletes: no role of this app may delete a backup, so any attempt (a governance bypass above all) is tampering. S3 data events: they need a trail that records them (README). */
export const TAMPER_OBJECT_EVENTS = [
  'DeleteObject',
  'DeleteObjects',
  'PutObjectRetention',
  'PutObjectLegalHold',
] as const;
/** Key API calls that would make every copy unreadable or unlock the key policy. */
export const TAMPER_KEY_EVENTS = ['ScheduleKeyDeletion', 'DisableKey', 'PutKeyPolicy', 'DeleteAlias'] as const;

/**
 * EventBridge rules on CloudTrail events that notify the alarm topic on any attempt (allowed or
 * denied: both are recorded) to weaken the vault's, the PITR repository's or their keys'
 * protection, and on object deletes in those buckets.
 */
export class TamperAlarm extends Construct {
  public readonly bucketRule: events.Rule;
  public readonly keyRule: events.Rule;

  constructor(scope: Construct, id: string, props: TamperAlarmProps) {
    super(scope, id);
    const target = new targets.SnsTopic(props.topic, {
      message: events.RuleTargetInput.fromText(
        `crypto-stock-dr TAMPERING ALERT: ${events.EventField.fromPath('$.detail.eventName')} by ${events.EventField.fromPath('$.detail.userIdentity.arn')}` +
          ` on ${events.EventField.fromPath('$.detail.requestParameters')} (error: ${events.EventField.fromPath('$.detail.errorCode')}). Check CloudTrail; README "Break glass".`,
      ),
    });
    this.bucketRule = new events.Rule(this, 'BucketRule', {
      description:
        "crypto-stock-dr: attempts to change the backup buckets' policy, lifecycle, replication, versioning or Object Lock, or to delete their objects",
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['s3.amazonaws.com'],
          eventName: [...TAMPER_BUCKET_EVENTS, ...TAMPER_OBJECT_EVENTS],
          requestParameters: { bucketName: props.buckets.map((b) => b.bucketName) },
        },
      },
      targets: [target],
    });
    this.keyRule = new events.Rule(this, 'KeyRule', {
      description: 'crypto-stock-dr: attempts to delete, disable or re-policy the backup keys',
      eventPattern: {
        source: ['aws.kms'],
        detailType: ['AWS API Call via CloudTrail'],
        detail: {
          eventSource: ['kms.amazonaws.com'],
          eventName: [...TAMPER_KEY_EVENTS],
          // CloudTrail names the key by ARN in resources, whatever form the request used (id, ARN, alias).
          resources: { ARN: props.keys.map((k) => k.keyArn) },
        },
      },
      targets: [target],
    });
  }
}
