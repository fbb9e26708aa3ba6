import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

export interface AlarmTopicProps {
  /**
   * Email address subscribed to the topic (the recipient must confirm it).
   * @default - no subscription; subscribe to `topic` by other means
   */
  readonly alertEmail?: string;
}

/** The principals that publish to the alarm topic: CloudWatch alarms and EventBridge rules of this account. */
const TOPIC_PUBLISHERS: readonly { readonly service: string; readonly sourceArn: string }[] = [
  {
    service: 'cloudwatch.amazonaws.com',
    sourceArn: `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*`,
  },
  { service: 'events.amazonaws.com', sourceArn: `arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:rule/*` },
];

/**
 * The topic every alarm, tamper rule and failed restore notifies, under a customer-managed key
 * (CloudWatch alarms cannot publish to a topic under the AWS-managed SNS key). Its policy admits
 * this account's alarms and rules only; other publishers get grantPublish.
 */
export class AlarmTopic extends Construct {
  public readonly topic: sns.Topic;
  public readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: AlarmTopicProps = {}) {
    super(scope, id);
    this.key = new kms.Key(this, 'TopicKey', {
      description: 'crypto-stock-dr alarm topic',
      enableKeyRotation: true,
    });
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'crypto-stock-dr alarms',
      masterKey: this.key,
      enforceSSL: true,
    });
    // A topic policy replaces SNS's default one, so the publishers must be allowed explicitly, and
    // only from this account's alarms and rules (confused deputy).
    for (const { service, sourceArn } of TOPIC_PUBLISHERS) {
      const conditions = {
        StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        ArnLike: { 'aws:SourceArn': sourceArn },
      };
      this.topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `AllowPublishFrom${service.split('.')[0]}`,
          principals: [new iam.ServicePrincipal(service)],
          actions: ['sns:Publish'],
          resources: [this.topic.topicArn],
          conditions,
        }),
      );
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({
          principals: [new iam.ServicePrincipal(service)],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions,
        }),
      );
    }
    if (props.alertEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alertEmail));
  }

  /** Lets `grantee` publish to the topic, with the key actions publishing under it takes. */
  public grantPublish(grantee: iam.IGrantable): iam.Grant {
    return this.topic.grantPublish(grantee);
  }
}
