import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

export interface BackupMonitoringProps {
  /** The backup workflow whose failures raise the alarm. */
  readonly backupStateMachine: sfn.IStateMachine;
  /**
   * Email address subscribed to the alarm topic (the recipient must confirm it).
   * @default - no subscription; subscribe to `topic` by other means
   */
  readonly alertEmail?: string;
}

/** Alarms for the DR system, all notifying one encrypted SNS topic. */
export class BackupMonitoring extends Construct {
  public readonly topic: sns.Topic;
  public readonly topicKey: kms.Key;
  public readonly backupFailedAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: BackupMonitoringProps) {
    super(scope, id);
    if (props.alertEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(props.alertEmail)) {
      throw new Error(`BackupMonitoring ${this.node.path}: alertEmail "${props.alertEmail}" is not an email address; pass e.g. ops@example.com or leave it out`);
    }

    // A customer-managed key: CloudWatch alarms cannot publish to a topic under the AWS-managed SNS key.
    this.topicKey = new kms.Key(this, 'TopicKey', {
      description: 'crypto-stock-dr alarm topic',
      enableKeyRotation: true,
    });
    this.topicKey.grant(new iam.ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'crypto-stock-dr alarms',
      masterKey: this.topicKey,
      enforceSSL: true,
    });
    if (props.alertEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alertEmail));

    this.backupFailedAlarm = new cloudwatch.Alarm(this, 'BackupFailed', {
      alarmDescription: 'A backup execution failed: at least one database was not backed up. See the state machine execution and the job logs.',
      metric: props.backupStateMachine.metricFailed({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.backupFailedAlarm.addAlarmAction(new actions.SnsAction(this.topic));
  }
}
