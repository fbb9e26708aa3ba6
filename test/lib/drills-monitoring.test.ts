/**
 * The drills and monitoring in the synthesized stack: RPO, drill and drill-age alarms (with their
 * missing-data treatment), the dashboard, the drill schedule, the drill Lambdas' settings and the
 * drill state machine's definition.
 */
import { Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import { DrillAgeEnv, DrillCleanupEnv, JobEnv, Metrics, ReportEnv, VerifyEnv } from '../../core/contract.ts';
import { BackupMonitoring, DrillMonitoring } from '../../lib/constructs/monitoring.ts';
import { DrillWorkflow } from '../../lib/constructs/workflows/drill-workflow.ts';
import { definitionOf } from './constructs/definition.ts';
import { drillFixture } from './constructs/drill-fixture.ts';
import { buildStack, newApp } from './helpers.ts';

const { stack, template } = buildStack({
  databases: [
    { name: 'crypto_stock', host: 'db1.internal' },
    { name: 'ticks', host: 'db2.internal', port: 5433 },
  ],
  rtoSeconds: 14_400,
  drill: {
    scratchServer: { host: 'staging.internal', port: 6432, secret: 'staging/db' },
    healthUrls: ['https://api.example/health'],
  },
});

function alarms(metricName: string): Record<string, any>[] {
  return Object.values(
    template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: metricName } }),
  ).map((r: any) => r.Properties);
}

function lambdaEnv(name: string): Record<string, unknown> {
  const fns = Object.values(
    template.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp(name) } }),
  ) as any[];
  expect(fns).toHaveLength(1);
  return fns[0].Properties.Environment.Variables;
}

describe('monitoring alarms', () => {
  it('RPO: per database, no BackupSucceeded in 26 h alarms at once (an empty window is filled with 0), and a metric that never existed counts as a breach', () => {
    const rpo = Object.values(
      template.findResources('AWS::CloudWatch::Alarm', {
        Properties: { AlarmDescription: Match.stringLikeRegexp('^RPO breach') },
      }),
    ).map((r: any) => r.Properties);
    const stats = rpo.map((a) => a.Metrics.find((m: any) => m.MetricStat).MetricStat);
    expect(stats.map((st) => st.Metric.Dimensions)).toEqual([
      [{ Name: Metrics.dimension, Value: 'crypto_stock' }],
      [{ Name: Metrics.dimension, Value: 'ticks' }],
    ]);
    for (const [i, a] of rpo.entries()) {
      expect(stats[i]).toMatchObject({
        Metric: { Namespace: Metrics.namespace, MetricName: Metrics.backupSucceeded },
        Stat: 'Sum',
        Period: 26 * 3600,
      });
      // FILL, not the bare metric: CloudWatch would otherwise judge the newest real datapoint of its
      // wider evaluation range (yesterday's backup) and alarm days after the 26 h.
      expect(a.Metrics).toContainEqual(expect.objectContaining({ Expression: 'FILL(backups, 0)', ReturnData: true }));
      expect(a.Metrics.find((m: any) => m.MetricStat)).toMatchObject({ Id: 'backups', ReturnData: false });
      expect(a).toMatchObject({
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'breaching',
        AlarmActions: [{ Ref: expect.stringMatching(/MonitoringTopic/) }],
      });
    }
  });

  it('a drill that did not pass alarms (DrillPassed < 1); no drill that day is not a breach', () => {
    const failed = alarms(Metrics.drillPassed);
    expect(failed).toHaveLength(2);
    expect(failed[0]).toMatchObject({
      Statistic: 'Minimum',
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'notBreaching',
      Period: 86_400,
    });
  });

  it('a restore slower than the configured RTO alarms', () => {
    const rto = alarms(Metrics.restoreSeconds);
    expect(rto).toHaveLength(2);
    expect(rto[0]).toMatchObject({
      Statistic: 'Maximum',
      Threshold: 14_400,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('no drill report in 35 days alarms, also when the daily drill-age metric is missing', () => {
    const stale = alarms(Metrics.daysSinceLastDrill);
    expect(stale).toHaveLength(2);
    expect(stale[0]).toMatchObject({
      Statistic: 'Maximum',
      Threshold: 35,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'breaching',
      Period: 86_400,
      EvaluationPeriods: 1,
    });
  });

  it("restore times trending towards the RTO alarm: medians up more than 20%, or the RTO within 90 days at the year's rate", () => {
    const growth = alarms(Metrics.restoreTrendGrowthPercent);
    expect(growth).toHaveLength(2);
    expect(growth[0]).toMatchObject({
      Statistic: 'Maximum',
      Threshold: 20,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      Period: 86_400,
    });
    const horizon = alarms(Metrics.daysUntilRto);
    expect(horizon).toHaveLength(2);
    expect(horizon[0]).toMatchObject({
      Statistic: 'Minimum',
      Threshold: 90,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(horizon[0]!.AlarmDescription).toContain('reach the RTO (14400 s) within 90 days');
  });

  it('a failed drill execution alarms, and every alarm notifies the topic', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsFailed',
      Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: Match.stringLikeRegexp('DrillWorkflowStateMachine') } }],
    });
    for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm')) as any[]) {
      expect(alarm.Properties.AlarmActions).toHaveLength(1);
    }
  });

  it('rejects an RPO window CloudWatch cannot evaluate, and bad drill settings, saying how to fix them', () => {
    const s = new Stack(newApp(), 'M');
    const machine = sfn.StateMachine.fromStateMachineName(s, 'SM', 'x');
    expect(
      () =>
        new BackupMonitoring(s, 'B', {
          backupStateMachine: machine,
          databases: ['a'],
          rpoWindow: { toSeconds: () => 8 * 86_400, toHumanString: () => '8 days' } as any,
        }),
    ).toThrow('BackupMonitoring M/B: rpoWindow is 691200 s; use whole minutes from 1 hour to 7 days');
    expect(() => new BackupMonitoring(s, 'C', { backupStateMachine: machine, databases: [] })).toThrow(
      'databases is empty; pass the backed-up database names',
    );
    const topic = (s.node.findChild('B') as BackupMonitoring).topic;
    expect(
      () => new DrillMonitoring(s, 'D', { topic, drillStateMachine: machine, databases: ['a'], rtoSeconds: 0 }),
    ).toThrow('DrillMonitoring M/D: rtoSeconds is 0; use whole seconds >= 60');
    expect(
      () =>
        new DrillMonitoring(s, 'E', {
          topic,
          drillStateMachine: machine,
          databases: ['a'],
          rtoSeconds: 3600,
          maxDaysBetweenDrills: 0.5,
        }),
    ).toThrow('maxDaysBetweenDrills is 0.5; use whole days >= 1');
  });
});

describe('dashboard', () => {
  it('shows backups, backup age, restore time against the RTO line, drill results and executions', () => {
    const body = JSON.stringify(
      stack.resolve(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]).Properties.DashboardBody,
    );
    for (const title of [
      'Successful backups per day',
      'Age of the drilled backup (hours)',
      'Drill restore time vs RTO (seconds)',
      'Drill passed (1) / failed (0)',
      'Days since last drill',
      'Backup workflow executions',
      'Drill workflow executions',
    ]) {
      expect(body).toContain(title);
    }
    for (const metric of [
      Metrics.backupSucceeded,
      Metrics.backupAgeHours,
      Metrics.restoreSeconds,
      Metrics.drillPassed,
      Metrics.daysSinceLastDrill,
      'ExecutionsFailed',
    ])
      expect(body).toContain(metric);
    expect(body).toContain('RTO 14400 s');
  });
});

describe('drill schedule', () => {
  it('starts the drill workflow at 03:00 UTC on the first Sunday of each month with {}', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(0 3 ? * SUN#1 *)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { Ref: Match.stringLikeRegexp('DrillWorkflowStateMachine') }, Input: '{}' })],
    });
  });

  it('is disabled by drill.scheduleEnabled false', () => {
    const { template: t } = buildStack({ drill: { scheduleEnabled: false } });
    t.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'cron(0 3 ? * SUN#1 *)', State: 'DISABLED' });
  });

  it('runs the drill-age Lambda daily', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(30 6 * * ? *)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('DrillFunctionsDrillAge'), 'Arn'] } })],
    });
  });
});

describe('drill Lambdas', () => {
  it('verify and cleanup use the staging server secret and run in the VPC; the report has the vault and topic; drill-age the databases', () => {
    expect(lambdaEnv('verify a drill scratch database')).toMatchObject({
      [VerifyEnv.repo]: expect.anything(),
      [VerifyEnv.secretArn]: expect.anything(),
      [VerifyEnv.sslMode]: 'verify-full',
    });
    expect(lambdaEnv('drop a drill scratch database')).toMatchObject({
      [DrillCleanupEnv.secretArn]: expect.anything(),
      [DrillCleanupEnv.sslMode]: 'verify-full',
    });
    expect(lambdaEnv('write the drill report')).toMatchObject({
      [ReportEnv.repo]: expect.anything(),
      [ReportEnv.topicArn]: { Ref: expect.stringMatching(/MonitoringTopic/) },
    });
    expect(lambdaEnv('DaysSinceLastDrill')).toMatchObject({ [DrillAgeEnv.databases]: '["crypto_stock","ticks"]' });
    template.resourcePropertiesCountIs(
      'AWS::Lambda::Function',
      { VpcConfig: Match.anyValue(), Description: Match.stringLikeRegexp('drill scratch database') },
      2,
    );
  });

  it('the Lambdas reach the staging server port and HTTPS only; the drill task can reach the staging port too (test/lib/hardening-12.test.ts: where HTTPS goes)', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('drill Lambdas'),
      SecurityGroupEgress: [
        Match.objectLike({ FromPort: 443, ToPort: 443 }),
        Match.objectLike({ FromPort: 6432, ToPort: 6432 }),
      ],
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('drill task'),
      SecurityGroupEgress: Match.arrayWith([Match.objectLike({ FromPort: 6432, ToPort: 6432 })]),
    });
  });

  it('lets the report read restore result records and list only the reports and results folders', () => {
    const reportPolicy = Object.values(
      template.findResources('AWS::IAM::Policy', {
        Properties: { PolicyName: Match.stringLikeRegexp('DrillFunctionsReport') },
      }),
    )[0] as any;
    const statements = stack.resolve(reportPolicy.Properties.PolicyDocument.Statement) as any[];
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: 's3:GetObject',
        Resource: { 'Fn::Join': ['', [expect.anything(), '/results/restores/*']] },
      }),
    );
    const lists = statements
      .filter((st) => st.Action === 's3:ListBucket')
      .map((st) => st.Condition.StringLikeIfExists['s3:prefix']);
    expect(lists).toEqual(expect.arrayContaining([['reports/drills/*'], ['results/restores/*']]));
  });

  it('drills run their own task definition, which holds only the staging server secret (DR_SCRATCH_SECRET), no production secret; no other task definition holds it', () => {
    const secretsOf = (t: { taskDefinitionArn: string }) =>
      (
        template.toJSON().Resources[stack.resolve(t.taskDefinitionArn).Ref].Properties.ContainerDefinitions[0]
          .Secrets as any[]
      ).map((s) => s.Name);
    expect(secretsOf(stack.job.drill.taskDefinition)).toEqual([DrillWorkflow.SCRATCH_SECRET_ENV]);
    expect(secretsOf(stack.job.restore.taskDefinition)).not.toContain(DrillWorkflow.SCRATCH_SECRET_ENV);
    expect(secretsOf(stack.job.backup.taskDefinition)).not.toContain(DrillWorkflow.SCRATCH_SECRET_ENV);
    // Its execution role (which injects secrets) reads the scratch secret and no database secret.
    const policies = Object.values(
      template.findResources('AWS::IAM::Policy', {
        Properties: { Roles: [stack.resolve((stack.job.drill.taskDefinition.executionRole as iam.Role).roleName)] },
      }),
    ) as any[];
    const secretReads = policies
      .flatMap((p) => p.Properties.PolicyDocument.Statement)
      .filter((st: any) => [st.Action].flat().includes('secretsmanager:GetSecretValue'));
    expect(JSON.stringify(secretReads)).toContain(':secret:staging/db-');
    expect(JSON.stringify(secretReads)).not.toContain('crypto-stock/db');
  });

  it('outputs the drill state machine ARN and the dashboard name', () => {
    template.hasOutput('DrillStateMachineArn', { Value: { Ref: Match.stringLikeRegexp('DrillWorkflowStateMachine') } });
    template.hasOutput('DashboardName', Match.anyValue());
  });
});

describe('DrillWorkflow definition', () => {
  const { template: t } = drillFixture(
    ['crypto_stock'],
    { host: 'staging', port: 6432 },
    { healthUrls: ['https://api.example/health'] },
  );
  const json = definitionOf(t);
  const inner = json.States['Drill each database'].ItemProcessor.States;

  it('names the scratch database drill_<db>_<yyyymmdd> from the execution start', () => {
    expect(json.States['Name the day'].Parameters['day.$']).toBe(
      "States.ArrayGetItem(States.StringSplit($$.Execution.StartTime, 'T'), 0)",
    );
    expect(inner['Name scratch database'].Parameters['scratchDatabase.$']).toBe(
      "States.Format('drill_{}_{}', $.database.name, $.yyyymmdd)",
    );
    expect(json.States['Drill settings'].Result).toEqual({
      scratchHost: 'staging',
      scratchPort: '6432',
      rtoSeconds: 3600,
      healthUrls: ['https://api.example/health'],
    });
  });

  it('restores the latest backup with the job into the scratch database on the staging server, recording the result', () => {
    const task = inner[DrillWorkflow.RESTORE_STATE];
    expect(task.Resource).toMatch(/:states:::ecs:runTask\.sync$/);
    expect(task.Parameters.Overrides.ContainerOverrides[0].Environment).toEqual([
      { Name: JobEnv.command, Value: 'restore' },
      { Name: JobEnv.database, 'Value.$': '$.database' },
      { Name: JobEnv.targetDatabase, 'Value.$': '$.scratchDatabase' },
      { Name: JobEnv.dbHost, 'Value.$': '$.settings.scratchHost' },
      { Name: JobEnv.dbPort, 'Value.$': '$.settings.scratchPort' },
      { Name: JobEnv.secretEnv, Value: DrillWorkflow.SCRATCH_SECRET_ENV },
      { Name: JobEnv.args, Value: '["--backup","latest","--hold-timescale-jobs"]' },
      { Name: JobEnv.resultName, 'Value.$': '$.restoreResultName' },
    ]);
    expect(inner['Restore succeeded?'].Choices[0].Next).toBe(DrillWorkflow.READ_RESULT_STATE);
    expect(inner['Restore succeeded?'].Default).toBe(DrillWorkflow.CLEANUP_STATE);
    expect(inner[DrillWorkflow.READ_RESULT_STATE].ResultSelector).toEqual({
      'record.$': 'States.StringToJson($.Body)',
    });
  });

  it('verifies the backup the job actually restored', () => {
    expect(inner[DrillWorkflow.VERIFY_STATE].Parameters).toMatchObject({
      'backupId.$': '$.restoreRecord.record.result.backup.id',
      'targetDatabase.$': '$.scratchDatabase',
    });
    expect(inner[DrillWorkflow.VERIFY_STATE].Next).toBe(DrillWorkflow.CLEANUP_STATE);
  });

  it('always drops the scratch database: every step before it is caught and leads there', () => {
    for (const [state, note] of [
      [DrillWorkflow.DROP_LEFTOVER_STATE, 'Note leftover cleanup error'],
      [DrillWorkflow.RESTORE_STATE, 'Note restore error'],
      [DrillWorkflow.READ_RESULT_STATE, 'Note restore result error'],
      [DrillWorkflow.VERIFY_STATE, 'Note verify error'],
    ] as const) {
      expect(inner[state].Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.caught', Next: note }]);
      expect(inner[note].Next).toBe(DrillWorkflow.CLEANUP_STATE);
    }
    expect(inner[DrillWorkflow.CLEANUP_STATE].Next).toBe(DrillWorkflow.REPORT_STATE);
    // A failed cleanup is reported too, with the earlier error kept.
    expect(inner[DrillWorkflow.CLEANUP_STATE].Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.caught', Next: 'Note cleanup error' },
    ]);
    expect(inner['Add cleanup error'].Parameters).toEqual({ 'all.$': 'States.Array($.errors, $.cleanupError)' });
  });

  it('reports with the whole drill state and fails the execution naming drills that did not pass', () => {
    expect(inner[DrillWorkflow.REPORT_STATE].Parameters).toBeUndefined();
    expect(inner[DrillWorkflow.REPORT_STATE].Catch[0].Next).toBe('Record unreported drill');
    expect(json.States['Drills failed']).toMatchObject({
      Type: 'Fail',
      Error: DrillWorkflow.DRILLS_FAILED_ERROR,
      CausePath: '$.cause',
    });
  });

  it('rejects an RTO under a minute, a bad staging port and a concurrency below 1, saying how to fix them', () => {
    expect(() => drillFixture(['a'], { host: 'h', port: 5432 }, { rtoSeconds: 30 })).toThrow(
      'DrillWorkflow Drill/DrillWorkflow: rtoSeconds is 30; use whole seconds >= 60',
    );
    expect(() =>
      drillFixture(
        ['a'],
        { host: 'h', port: 5432 },
        { scratchServer: { host: 'h', port: 70000, secret: undefined as any } },
      ),
    ).toThrow('scratchServer.port is 70000; use an integer from 1 to 65535');
    expect(() => drillFixture(['a'], { host: 'h', port: 5432 }, { maxConcurrency: 0 })).toThrow(
      'maxConcurrency is 0; use an integer >= 1',
    );
  });

  it('rejects names whose scratch database would exceed 63 bytes, and a database listed twice', () => {
    expect(() => drillFixture(['x'.repeat(49)], { host: 'h', port: 5432 })).toThrow(
      /cannot be drilled: .* use names of at most 48/,
    );
    expect(() => drillFixture(['a'], { host: 'h', port: 5432 }, { databases: ['a', 'a'] })).toThrow(
      /DrillWorkflow Drill\/DrillWorkflow: a database is listed twice/,
    );
  });
});
