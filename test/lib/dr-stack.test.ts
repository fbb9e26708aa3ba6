import { Validations } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { buildStack, onlyResource } from './helpers.ts';

/** Acknowledgements of the drills (lib/constructs/drill-functions.ts, lib/constructs/workflows/drill-workflow.ts). */
const DRILL_ACKS = [
  // verify, drill-cleanup, drill-report, drill-age (DrFunction): basic execution role, X-Ray, runtime.
  ...Array(4).fill('AwsSolutions-IAM4[Policy::arn:<ref>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]'),
  ...Array(4).fill('AwsSolutions-IAM5[Resource::*]'),
  ...Array(4).fill('AwsSolutions-L1'),
  // verify and drill-cleanup run in the VPC.
  ...Array(2).fill('AwsSolutions-IAM4[Policy::arn:<ref>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]'),
  // verify and drill-report read backups; the report writes reports/ and publishes to the encrypted topic.
  ...Array(2).fill('AwsSolutions-IAM5[Resource::<ref>/backups/*]'),
  // Legal Hold of the newest verified backup: the report places and releases it, drill-age reads it.
  ...Array(2).fill('AwsSolutions-IAM5[Resource::<ref>/backups/*]'),
  'AwsSolutions-IAM5[Resource::<ref>/reports/*]',
  'AwsSolutions-IAM5[Resource::<ref>/results/restores/*]',
  'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
  // The drill state machine: RUN_JOB/X-Ray/logs, its result records, LambdaInvoke version ARNs of its 3 functions.
  'AwsSolutions-IAM5[Resource::*]',
  'AwsSolutions-IAM5[Resource::<ref>/results/restores/*]',
  ...Array(3).fill('AwsSolutions-IAM5[Resource::<ref>:*]'),
];

describe('DrStack', () => {
  const { app, stack, template } = buildStack({ alertEmail: 'ops@example.com' });

  it('starts the backup workflow at 02:00 UTC every day with {} as input', () => {
    const rule = onlyResource(template, 'AWS::Events::Rule', { ScheduleExpression: 'cron(0 2 * * ? *)' }).Properties;
    expect(rule.ScheduleExpression).toBe('cron(0 2 * * ? *)');
    expect(rule.State).toBe('ENABLED');
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: { Ref: expect.stringMatching(/BackupWorkflowStateMachine/) },
        Input: '{}',
        RoleArn: expect.anything(),
      }),
    ]);
  });

  it('has an encrypted, TLS-only alarm topic with the configured email subscription', () => {
    const topic = onlyResource(template, 'AWS::SNS::Topic').Properties;
    expect(topic.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/TopicKey/), 'Arn'] });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    // CloudWatch must be able to use the topic key to publish.
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' } })]),
      },
    });
  });

  it('alarms on failed backup executions and notifies the topic', () => {
    const alarm = onlyResource(template, 'AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/States',
      AlarmDescription: Match.stringLikeRegexp('^A backup execution failed'),
    }).Properties;
    expect(alarm).toMatchObject({
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsFailed',
      Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: expect.stringMatching(/BackupWorkflowStateMachine/) } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(alarm.AlarmActions).toEqual([{ Ref: expect.stringMatching(/MonitoringTopic/) }]);
  });

  it('subscribes the configured alert email (the shipped example has one), and none with only alertTopicArn', () => {
    buildStack().template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
    buildStack({ alertTopicArn: 'arn:aws:sns:us-east-1:123456789012:on-call' }).template.resourceCountIs(
      'AWS::SNS::Subscription',
      0,
    );
  });

  it('passes the AwsSolutions cdk-nag checks with zero unacknowledged findings', () => {
    const report = new AwsSolutionsChecks(app).validateScope(stack);
    const findings = report.violations.map(
      (v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('gives every acknowledgement a real reason', () => {
    const acks = stack.node
      .findAll()
      .flatMap((c) =>
        c.node.metadata
          .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .flatMap((m) => Object.entries(m.data as Record<string, string>)),
      )
      // aws-cdk-lib acknowledges some of its own CloudFormation-Validate rules; ours are the cdk-nag ones.
      .filter(([id]) => id.replace(/^annotation::/i, '').startsWith('AwsSolutions-'));
    expect(acks.map(([id]) => id.replace(/^annotation::/i, '').replace(/<[^>]+>/g, '<ref>')).sort()).toEqual(
      [
        // The VPC endpoints' security group: HTTPS from the VPC CIDR (lib/constructs/job.ts).
        'AwsSolutions-EC23',
        // The S3 prefix-list lookup (AwsCustomResource): DescribeManagedPrefixLists on "*", and its provider's basic execution role.
        'AwsSolutions-IAM5[Resource::*]',
        'AwsSolutions-IAM4[Policy::arn:<ref>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        // The job's three task definitions (backup, restore, drill): non-secret environment, and each
        // execution role's ecr:GetAuthorizationToken on "*".
        'AwsSolutions-ECS2',
        'AwsSolutions-ECS2',
        'AwsSolutions-ECS2',
        'AwsSolutions-IAM5[Resource::*]',
        'AwsSolutions-IAM5[Resource::*]',
        'AwsSolutions-IAM5[Resource::*]',
        'AwsSolutions-IAM4[Policy::arn:<ref>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        // Restore workflow: the validate and result Lambdas (DrFunction).
        'AwsSolutions-IAM4[Policy::arn:<ref>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        'AwsSolutions-IAM4[Policy::arn:<ref>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        'AwsSolutions-IAM5[Resource::*]',
        'AwsSolutions-IAM5[Resource::*]',
        // Restore workflow: its state machine role and its two Lambdas (X-Ray).
        'AwsSolutions-IAM5[Resource::*]',
        'AwsSolutions-IAM5[Resource::*]',
        'AwsSolutions-IAM5[Resource::*]',
        // The backup role's write grant and the restore and drill roles' read grants on backups/.
        'AwsSolutions-IAM5[Resource::<ref>/backups/*]',
        'AwsSolutions-IAM5[Resource::<ref>/backups/*]',
        'AwsSolutions-IAM5[Resource::<ref>/backups/*]',
        // Offsite replication role (lib/constructs/replication.ts): source objects, offsite key by alias, offsite objects.
        'AwsSolutions-IAM5[Resource::<ref>/backups/*]',
        // PITR repository: the host policy, the restore role's read grant, the RPO watch's head grant.
        'AwsSolutions-IAM5[Resource::<ref>/pitr/*]',
        'AwsSolutions-IAM5[Resource::<ref>/pitr/*]',
        'AwsSolutions-IAM5[Resource::<ref>/pitr/*]',
        // results/restores/: the restore and drill roles write their records, the restore-result Lambda reads them.
        'AwsSolutions-IAM5[Resource::<ref>/results/restores/*]',
        'AwsSolutions-IAM5[Resource::<ref>/results/restores/*]',
        'AwsSolutions-IAM5[Resource::<ref>/results/restores/*]',
        // Restore workflow: LambdaInvoke's <function arn>:* (versions of the one function), twice.
        'AwsSolutions-IAM5[Resource::<ref>:*]',
        'AwsSolutions-IAM5[Resource::<ref>:*]',
        'AwsSolutions-IAM5[Resource::arn:<ref>:kms:us-west-2:<ref>:key/*]',
        'AwsSolutions-IAM5[Resource::arn:<ref>:s3:::crypto-stock-dr-offsite-<ref>-us-west-2/backups/*]',
        // Offsite replication of the PITR repository: its pitr/ objects, the offsite PITR key by alias, the replicas.
        'AwsSolutions-IAM5[Resource::<ref>/pitr/*]',
        'AwsSolutions-IAM5[Resource::arn:<ref>:kms:us-west-2:<ref>:key/*]',
        'AwsSolutions-IAM5[Resource::arn:<ref>:s3:::crypto-stock-dr-offsite-pitr-<ref>-us-west-2/pitr/*]',
        'AwsSolutions-L1',
        'AwsSolutions-L1',
        'AwsSolutions-L1',
        'AwsSolutions-S1',
        ...DRILL_ACKS,
      ].sort(),
    );
    for (const [, reason] of acks) expect(reason.length).toBeGreaterThan(60);
  });
});
