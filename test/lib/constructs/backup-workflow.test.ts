import { Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import { JOB_CONTAINER_NAME, JobEnv, JobExit, Metrics, secretEnvVarFor } from '../../../core/contract.ts';
import { DrJob } from '../../../lib/constructs/job.ts';
import { BackupVault } from '../../../lib/constructs/vault.ts';
import { BackupWorkflow } from '../../../lib/constructs/workflows/backup-workflow.ts';
import { buildStack, newApp } from '../helpers.ts';
import { definitionOf } from './definition.ts';

describe('BackupWorkflow in the stack', () => {
  const { stack, template } = buildStack({
    databases: [
      { name: 'crypto_stock', host: 'db1.internal' },
      { name: 'ticks', host: 'db2.internal', port: 5433 },
    ],
    backupConcurrency: 3,
  });
  const definition = definitionOf(template, 'BackupWorkflow');
  const states = definition.States;
  const map = states['Back up each database'];
  const attempt = map.ItemProcessor.States['Back up database'].Branches[0].States[BackupWorkflow.ATTEMPT_STATE];
  const inner = attempt.Branches[0].States;

  it('logs ALL with execution data and traces with X-Ray', () => {
    const [sm] = Object.entries(template.findResources('AWS::StepFunctions::StateMachine'))
      .filter(([id]) => id.includes('BackupWorkflow'))
      .map(([, r]) => (r as { Properties: Record<string, any> }).Properties);
    expect(sm!.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: true });
    expect(sm!.TracingConfiguration).toEqual({ Enabled: true });
  });

  it('bakes the configured databases into the definition', () => {
    expect(states['List databases']).toMatchObject({
      Type: 'Pass',
      ResultPath: '$.databases',
      Result: [
        { name: 'crypto_stock', host: 'db1.internal', port: '5432', secretEnv: secretEnvVarFor('crypto_stock') },
        { name: 'ticks', host: 'db2.internal', port: '5433', secretEnv: secretEnvVarFor('ticks') },
      ],
    });
  });

  it('maps over them with bounded concurrency (JSONPath, not JSONata)', () => {
    expect(definition.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
    expect(map).toMatchObject({ Type: 'Map', ItemsPath: '$.databases', MaxConcurrency: 3, ResultPath: '$.results' });
    expect(map.ItemSelector).toEqual({ 'database.$': '$$.Map.Item.Value', 'tier.$': '$.tier' });
  });

  it('runs the job task with RUN_JOB on Fargate in private subnets, overriding the environment per database', () => {
    const task = inner[BackupWorkflow.RUN_TASK_STATE];
    expect(task.Resource).toMatch(/:states:::ecs:runTask\.sync$/);
    const params = stack.resolve(task.Parameters);
    expect(params).toMatchObject({
      LaunchType: 'FARGATE',
      NetworkConfiguration: { AwsvpcConfiguration: { Subnets: expect.any(Array), SecurityGroups: expect.any(Array) } },
    });
    const awsvpc = params.NetworkConfiguration.AwsvpcConfiguration;
    expect(awsvpc.AssignPublicIp ?? 'DISABLED').toBe('DISABLED'); // absent means DISABLED
    expect(awsvpc.Subnets).toEqual([expect.stringMatching(/privateSubnet1/), expect.stringMatching(/privateSubnet2/)]);
    expect(params.Overrides.ContainerOverrides).toEqual([
      {
        Name: JOB_CONTAINER_NAME,
        Environment: [
          { Name: JobEnv.command, Value: 'backup' },
          { Name: JobEnv.database, 'Value.$': '$.database.name' },
          { Name: JobEnv.dbHost, 'Value.$': '$.database.host' },
          { Name: JobEnv.dbPort, 'Value.$': '$.database.port' },
          { Name: JobEnv.secretEnv, 'Value.$': '$.database.secretEnv' },
          { Name: JobEnv.tier, 'Value.$': '$.tier' },
        ],
      },
    ]);
    expect(task.ResultPath).toBe('$.task');
    expect(task.TimeoutSeconds).toBe(6 * 3600);
  });

  it('checks the container exit code after the task, because RUN_JOB does not', () => {
    const choice = inner['Check exit code'];
    expect(inner[BackupWorkflow.RUN_TASK_STATE].Next).toBe('Check exit code');
    expect(choice.Choices).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Variable: '$.task.Containers[0].ExitCode', NumericEquals: 0 }),
      ]),
    );
    expect(states).not.toHaveProperty('Container failed');
    expect(inner['Container failed']).toMatchObject({
      Type: 'Fail',
      Error: BackupWorkflow.BACKUP_FAILED_ERROR,
      CausePath: '$.cause',
    });
    expect(inner['Describe: Container failed'].Parameters['cause.$']).toContain('$.task.Containers[0].ExitCode');
  });

  it('emits BackupSucceeded for the database after exit code 0, and a lost datapoint does not fail the backup', () => {
    expect(inner['Check exit code'].Choices).toEqual(
      expect.arrayContaining([expect.objectContaining({ NumericEquals: 0, Next: BackupWorkflow.METRIC_STATE })]),
    );
    const metric = inner[BackupWorkflow.METRIC_STATE];
    expect(metric.Resource).toMatch(/:states:::aws-sdk:cloudwatch:putMetricData$/);
    expect(metric.Parameters).toEqual({
      Namespace: Metrics.namespace,
      MetricData: [
        {
          MetricName: Metrics.backupSucceeded,
          Dimensions: [{ Name: Metrics.dimension, 'Value.$': '$.database.name' }],
          Value: 1,
          Unit: 'Count',
        },
      ],
    });
    expect(metric.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: null, Next: 'Metric not recorded' }]);
    expect(inner['Metric not recorded'].Next).toBe('Container exited 0');
  });

  it('retries the attempt (task + exit-code check) once, 10 min later, when the job exited on a lock timeout, and only then', () => {
    const state = stack.backupWorkflow.databaseBackup.node.findChild(BackupWorkflow.ATTEMPT_STATE) as sfn.Parallel;
    expect(stack.resolve(state.toStateJson())).toMatchObject({
      Type: 'Parallel',
      Retry: [{ ErrorEquals: [BackupWorkflow.LOCK_TIMEOUT_ERROR], IntervalSeconds: 600, MaxAttempts: 1 }],
    });
    expect(attempt.Retry).toEqual([
      { ErrorEquals: [BackupWorkflow.LOCK_TIMEOUT_ERROR], IntervalSeconds: 600, MaxAttempts: 1 },
    ]);
    expect(inner['Check exit code'].Choices).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Variable: '$.task.Containers[0].ExitCode',
          NumericEquals: JobExit.lockTimeout,
          Next: BackupWorkflow.LOCK_TIMEOUT_METRIC_STATE,
        }),
      ]),
    );
    // Counted on every attempt that timed out (the alarm), then the error the Retry matches.
    expect(inner[BackupWorkflow.LOCK_TIMEOUT_METRIC_STATE].Parameters.MetricData[0]).toMatchObject({
      MetricName: Metrics.backupLockTimeouts,
      Value: 1,
    });
    expect(inner[BackupWorkflow.LOCK_TIMEOUT_METRIC_STATE].Next).toBe('Describe: Lock wait timed out');
    expect(inner['Lock wait timed out']).toMatchObject({
      Type: 'Fail',
      Error: BackupWorkflow.LOCK_TIMEOUT_ERROR,
      CausePath: '$.cause',
    });
    // Any other failure is not retried: it fails the database's backup as before.
    expect(inner['Container failed'].Error).toBe(BackupWorkflow.BACKUP_FAILED_ERROR);
  });

  it('a suspect backup (job exit JobExit.backupSuspect) emits BackupSuspect, then BackupSucceeded: it is complete', () => {
    expect(inner['Check exit code'].Choices).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ NumericEquals: JobExit.backupSuspect, Next: BackupWorkflow.SUSPECT_METRIC_STATE }),
      ]),
    );
    expect(inner[BackupWorkflow.SUSPECT_METRIC_STATE].Parameters.MetricData[0]).toMatchObject({
      MetricName: Metrics.backupSuspect,
      Value: 1,
    });
    expect(inner[BackupWorkflow.SUSPECT_METRIC_STATE].Next).toBe(BackupWorkflow.METRIC_STATE);
  });

  it('alarms per database on any lock timeout and on any suspect backup, to the alarm topic', () => {
    for (const [metric, id] of [
      [Metrics.backupLockTimeouts, 'BackupLockTimeout'],
      [Metrics.backupSuspect, 'BackupSuspect'],
    ] as const) {
      for (const database of ['crypto_stock', 'ticks']) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: Metrics.namespace,
          MetricName: metric,
          Dimensions: [{ Name: Metrics.dimension, Value: database }],
          Statistic: 'Sum',
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          TreatMissingData: 'notBreaching',
          AlarmActions: [{ Ref: Match.stringLikeRegexp('MonitoringTopic') }],
        });
      }
      expect(stack.monitoring[id === 'BackupLockTimeout' ? 'lockTimeoutAlarms' : 'suspectBackupAlarms'].size).toBe(2);
    }
  });

  it('catches a database failure so the others continue, and fails the execution at the end', () => {
    expect(map.ItemProcessor.States['Back up database'].Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Record failure' },
    ]);
    expect(states['Any database failed?'].Choices[0]).toMatchObject({
      Variable: '$.anyFailed',
      BooleanEquals: true,
      Next: 'List failures',
    });
    expect(states['Backups failed']).toMatchObject({ Type: 'Fail', Error: BackupWorkflow.BACKUPS_FAILED_ERROR });
  });

  it('outputs the state machine ARN', () => {
    template.hasOutput('BackupStateMachineArn', {
      Value: { Ref: Match.stringLikeRegexp('BackupWorkflowStateMachine') },
    });
  });
});

describe('BackupWorkflow props', () => {
  function make(overrides: Record<string, unknown>) {
    const stack = new Stack(newApp(), 'Props');
    const databases = [
      { name: 'db', host: 'h', port: 5432, secret: secretsmanager.Secret.fromSecretNameV2(stack, 'S', 's') },
    ];
    const job = new DrJob(stack, 'Job', {
      vault: new BackupVault(stack, 'Vault'),
      databases,
      image: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest'),
    });
    return () =>
      new BackupWorkflow(stack, 'Workflow', {
        task: job.backup,
        databases,
        ...overrides,
      });
  }

  it('defaults to 2 databases at a time', () => {
    expect(make({})().node.findChild('StateMachine')).toBeDefined();
  });

  it('rejects maxConcurrency < 1', () => {
    expect(make({ maxConcurrency: 0 })).toThrow(
      'BackupWorkflow Props/Workflow: maxConcurrency is 0; use an integer >= 1 (databases backed up at once)',
    );
  });

  it('rejects an empty database list', () => {
    expect(make({ databases: [] })).toThrow(
      'BackupWorkflow Props/Workflow: databases is empty; pass at least one database to back up',
    );
  });

  it('rejects a database listed twice', () => {
    const stack = new Stack(newApp(), 'X');
    const secret = secretsmanager.Secret.fromSecretNameV2(stack, 'S', 's');
    expect(
      make({
        databases: [
          { name: 'db', host: 'h', port: 1, secret },
          { name: 'db', host: 'h', port: 1, secret },
        ],
      }),
    ).toThrow('database "db" is listed twice; list each database once');
  });
});
