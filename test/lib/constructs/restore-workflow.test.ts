import { Duration, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { JobEnv, RestoreEnv, secretEnvVarFor } from '../../../core/contract.ts';
import { RestoreWorkflow } from '../../../lib/constructs/workflows/restore-workflow.ts';
import { definitionOf } from './definition.ts';
import { restoreStack } from './restore-stack.ts';

describe('RestoreWorkflow', () => {
  const built = restoreStack({
    databases: [
      { name: 'crypto_stock', host: 'db.internal.example', port: 5432 },
      { name: 'ticks', host: 'ticks.internal', port: 5433 },
    ],
  });
  const { template, stack } = built;
  const definition = definitionOf(template);
  const states = definition.States as Record<string, any>;

  it('validates first; a rejected request fails with InvalidRestoreRequest and its message, before any task', () => {
    expect(definition.StartAt).toBe(RestoreWorkflow.VALIDATE_STATE);
    const validate = states[RestoreWorkflow.VALIDATE_STATE];
    expect(validate).toMatchObject({
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { Payload: { 'request.$': '$' } },
      Next: RestoreWorkflow.RUN_TASK_STATE,
    });
    expect(validate.Catch[0]).toEqual({ ErrorEquals: ['InvalidRestoreRequest'], Next: 'Parse rejection' });
    expect(states['Parse rejection']).toMatchObject({
      Type: 'Pass',
      Parameters: { 'lambdaError.$': 'States.StringToJson($.Cause)' },
      Next: 'Request rejected',
    });
    expect(states['Request rejected']).toEqual({
      Type: 'Fail',
      Error: 'InvalidRestoreRequest',
      CausePath: '$.lambdaError.errorMessage',
    });
  });

  it('runs dr restore on the job (RUN_JOB) with the validated overrides and the execution name for its result', () => {
    const run = states[RestoreWorkflow.RUN_TASK_STATE];
    expect(run.Resource).toBe('arn:aws:states:::ecs:runTask.sync');
    expect(run.TimeoutSeconds).toBe(6 * 3600);
    const env = Object.fromEntries(
      run.Parameters.Overrides.ContainerOverrides[0].Environment.map((e: any) => [e.Name, e.Value ?? e['Value.$']]),
    );
    expect(env).toEqual({
      [JobEnv.command]: 'restore',
      [JobEnv.database]: '$.job.database',
      [JobEnv.targetDatabase]: '$.job.targetDatabase',
      [JobEnv.args]: '$.job.args',
      [JobEnv.dbHost]: '$.job.host',
      [JobEnv.dbPort]: '$.job.port',
      [JobEnv.secretEnv]: '$.job.secretEnv',
      [JobEnv.resultName]: '$$.Execution.Name',
    });
    expect(run.Parameters.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp).toBeUndefined();
    expect(run.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.taskError', Next: 'Describe: Task failed' },
    ]);
  });

  it('reads the recorded result, then judges the exit code: success outputs the summary', () => {
    expect(states[RestoreWorkflow.READ_RESULT_STATE]).toMatchObject({
      Parameters: {
        Payload: {
          'executionName.$': '$$.Execution.Name',
          'executionStartedAt.$': '$$.Execution.StartTime',
          'request.$': '$.request',
          'containers.$': '$.task.Containers',
        },
      },
      ResultPath: '$.outcome',
      Next: 'Check exit code',
    });
    const check = states['Check exit code'];
    expect(check.Choices[0]).toEqual({
      Not: { Variable: '$.task.Containers[0].ExitCode', IsPresent: true },
      Next: 'Describe: Container did not run',
    });
    expect(check.Choices[1].Next).toBe('Restored');
    expect(check.Default).toBe('Describe: Restore failed');
    expect(states.Restored).toEqual({ Type: 'Succeed', OutputPath: '$.outcome.summary' });
  });

  it('every failure after validation notifies the alarm topic, then fails with its own error and cause', () => {
    const notify = states[RestoreWorkflow.NOTIFY_STATE];
    expect(notify).toMatchObject({
      Resource: 'arn:aws:states:::sns:publish',
      Parameters: { 'Message.$': '$.message', Subject: 'crypto-stock-dr: restore failed' },
      Next: 'Restore failed',
    });
    expect(notify.Parameters.TopicArn).toContain('ref/Alarms');
    // A failed publish still ends in the restore's own failure.
    expect(notify.Catch).toEqual([
      { ErrorEquals: ['States.ALL'], ResultPath: '$.notifyError', Next: 'Restore failed' },
    ]);
    expect(states['Restore failed']).toEqual({ Type: 'Fail', ErrorPath: '$.error', CausePath: '$.cause' });
    const describes = Object.entries(states).filter(([name]) => name.startsWith('Message: '));
    expect(describes.map(([, s]) => [s.Parameters.error, s.Next]).sort()).toEqual([
      [RestoreWorkflow.CONTAINER_NOT_RUN_ERROR, RestoreWorkflow.NOTIFY_STATE],
      [RestoreWorkflow.RESTORE_FAILED_ERROR, RestoreWorkflow.NOTIFY_STATE],
      [RestoreWorkflow.STEP_FAILED_ERROR, RestoreWorkflow.NOTIFY_STATE],
      [RestoreWorkflow.STEP_FAILED_ERROR, RestoreWorkflow.NOTIFY_STATE],
      [RestoreWorkflow.TASK_FAILED_ERROR, RestoreWorkflow.NOTIFY_STATE],
    ]);
  });

  it('gives the validate Lambda the configured databases, and the result Lambda the vault', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('validates a restore request'),
      Environment: {
        Variables: Match.objectLike({
          [RestoreEnv.databases]: JSON.stringify([
            {
              name: 'crypto_stock',
              host: 'db.internal.example',
              port: '5432',
              secretEnv: secretEnvVarFor('crypto_stock'),
            },
            { name: 'ticks', host: 'ticks.internal', port: '5433', secretEnv: secretEnvVarFor('ticks') },
          ]),
        }),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('reads the result'),
      Environment: {
        Variables: Match.objectLike({
          [RestoreEnv.repo]: { 'Fn::Join': ['', ['s3://', { Ref: Match.stringLikeRegexp('VaultBucket') }, '/']] },
        }),
      },
    });
  });

  it('runs the restore task definition; the job (restore role) writes results/restores/* and the result Lambda reads it, nothing wider', () => {
    expect(states[RestoreWorkflow.RUN_TASK_STATE].Parameters.TaskDefinition).toBe(
      stack.resolve(built.job.restore.taskDefinition.family),
    );
    const resolve = (v: unknown) => JSON.stringify(stack.resolve(v));
    const results = resolve(built.vault.bucket.arnForObjects('results/restores/*'));
    const statements = (role: unknown) =>
      Object.values(template.findResources('AWS::IAM::Policy'))
        .filter((p: any) => JSON.stringify(p.Properties.Roles).includes(JSON.stringify(stack.resolve(role))))
        .flatMap((p: any) => p.Properties.PolicyDocument.Statement);
    const onResults = (role: unknown) =>
      statements(role)
        .filter((s: any) => JSON.stringify(s.Resource) === results)
        .flatMap((s: any) => [s.Action].flat());
    expect(onResults((built.job.restore.taskDefinition.taskRole as any).roleName).sort()).toEqual([
      's3:GetObject',
      's3:PutObject',
      's3:PutObjectTagging',
    ]);
    expect(onResults((built.workflow.resultFunction.role as any).roleName)).toEqual(['s3:GetObject']);
    // The backup role records no restore results.
    expect(onResults((built.job.backup.taskDefinition.taskRole as any).roleName)).toEqual([]);
  });

  it('lets the state machine publish to the encrypted topic (sns:Publish, and the topic key)', () => {
    const policies = JSON.stringify(
      Object.values(template.findResources('AWS::IAM::Policy')).filter((p: any) =>
        JSON.stringify(p.Properties.Roles).includes('RestoreWorkflowStateMachineRole'),
      ),
    );
    expect(policies).toContain('"sns:Publish"');
    expect(policies).toContain('"kms:GenerateDataKey"');
  });

  it('passes the AwsSolutions cdk-nag checks with zero unacknowledged findings', () => {
    const report = new AwsSolutionsChecks(built.app).validateScope(stack);
    expect(
      report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`),
    ).toEqual([]);
  });

  it('rejects a container from another task definition and a task timeout not shorter than the execution timeout', () => {
    const other = new ecs.FargateTaskDefinition(new Stack(), 'Other');
    const container = other.addContainer('c', { image: ecs.ContainerImage.fromRegistry('busybox') });
    // The job's restore part with a container it does not own.
    const task = { ...built.job.restore, container, addSecret: () => {} };
    expect(() => restoreStack({ workflow: { task } })).toThrow(
      'RestoreWorkflow TestRestore/RestoreWorkflow: container "c" is not in the given task definition; pass the job\'s own container',
    );
    expect(() => restoreStack({ workflow: { taskTimeout: Duration.hours(8) } })).toThrow(
      'taskTimeout (8 hours) must be shorter than timeout (8 hours), so a stuck task is reported before the execution times out',
    );
  });
});
