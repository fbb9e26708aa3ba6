/**
 * The synthesized backup state machine, executed by aws-local-stepfunctions. Only the ECS RunTask
 * call is replaced (ECS has no local equivalent): the local job (./local-job.ts) starts the real job
 * entry point as a process with the environment ECS would give the container (task definition env +
 * secrets + the state's container overrides), against the real PostgreSQL server and s3rver.
 */
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { StateMachine } from 'aws-local-stepfunctions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobEnv, JobExit, Metrics } from '../../../core/contract.ts';
import { MANIFEST_SUFFIX } from '../../../core/repository/layout.ts';
import { createDatabase, dropDatabase, PG_HOST, PG_PORT, uniqueName, withClient } from '../../../fixtures/pg.ts';
import { BackupWorkflow } from '../../../lib/constructs/workflows/backup-workflow.ts';
import { createTestBucket, s3Client } from '../../support/s3.ts';
import { buildStack } from '../helpers.ts';
import { definitionOf } from './definition.ts';
import { localJob } from './local-job.ts';

interface LocalWorkflow {
  /** `stoppedFirst`: exit codes of stand-in tasks answered before the local job runs (no process is started for them). */
  run(
    input: Record<string, string>,
    options?: { stoppedFirst?: number[] },
  ): Promise<{
    output?: any;
    error?: { name: string; message: string };
    tasks: Record<string, string>[];
    logs: string[];
    metrics: any[];
  }>;
}

/** Synthesizes the stack for `databases` on the local server and prepares its definition to run locally. */
function localWorkflow(databases: string[], bucket: string): LocalWorkflow {
  const { template } = buildStack(
    {
      databases: databases.map((name) => ({ name, host: PG_HOST, port: PG_PORT, secret: 'test/db' })),
      sslMode: 'disable',
      insecureTls: true,
      backupConcurrency: 2,
    },
    // The image is irrelevant here (the job runs as a local process); skip staging the Docker context.
    { jobImage: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest') },
  );
  const machine = new StateMachine(definitionOf(template, 'BackupWorkflow') as any);

  return {
    async run(input, options = {}) {
      // The vault bucket's name is a deploy-time token: point the repository at the test bucket.
      const job = localJob(template, { env: { [JobEnv.repo]: `s3://${bucket}/` } });
      const metrics: any[] = [];
      const recordMetric = async (parameters: any) => {
        metrics.push(parameters);
        return {};
      };
      const stoppedFirst = [...(options.stoppedFirst ?? [])];
      const execution = machine.run(input, {
        overrides: {
          taskResourceLocalHandlers: {
            // A stand-in task stopped with the given exit code, as RUN_JOB reports one; then the local job.
            [BackupWorkflow.RUN_TASK_STATE]: async (parameters: any) => {
              const code = stoppedFirst.shift();
              if (code === undefined) return job.handler(parameters);
              return {
                TaskArn: 'arn:aws:ecs:us-east-1:123456789012:task/local/stand-in',
                LastStatus: 'STOPPED',
                Containers: [{ Name: 'dr', ExitCode: code, LastStatus: 'STOPPED' }],
              };
            },
            // CloudWatch PutMetricData is mocked (no local CloudWatch): its parameters are recorded.
            [BackupWorkflow.METRIC_STATE]: recordMetric,
            [BackupWorkflow.LOCK_TIMEOUT_METRIC_STATE]: recordMetric,
            [BackupWorkflow.SUSPECT_METRIC_STATE]: recordMetric,
          },
          // The retry after a lock timeout waits 10 minutes on AWS; here at once.
          retryIntervalOverrides: { [BackupWorkflow.ATTEMPT_STATE]: 0 },
        },
      });
      const tasks = () => job.runs.map((r) => r.env);
      const logs = () => job.runs.map((r) => r.output);
      try {
        return { output: await execution.result, tasks: tasks(), logs: logs(), metrics };
      } catch (err) {
        const cause = (err as { cause?: { name: string; message: string } }).cause;
        if (!cause) throw err;
        return { error: { name: cause.name, message: cause.message }, tasks: tasks(), logs: logs(), metrics };
      }
    },
  };
}

async function manifestKeys(bucket: string, database: string): Promise<string[]> {
  const listed = await s3Client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `backups/${database}/` }));
  return (listed.Contents ?? []).map((o) => o.Key!).filter((k) => k.endsWith(MANIFEST_SUFFIX));
}

describe('backup workflow executed locally (ECS RunTask replaced by a local job process: no local ECS; CloudWatch PutMetricData mocked)', () => {
  const first = uniqueName('sfn_a');
  const second = uniqueName('sfn_b');
  const missing = uniqueName('sfn_missing');
  let bucket: string;

  beforeAll(async () => {
    bucket = await createTestBucket('dr-sfn');
    await createDatabase(first);
    await createDatabase(second);
  });
  afterAll(async () => {
    await dropDatabase(first);
    await dropDatabase(second);
  });

  it('backs up a database: the execution succeeds, a manifest appears in the bucket and BackupSucceeded is emitted', async () => {
    const { output, error, tasks, logs, metrics } = await localWorkflow([first], bucket).run({ tier: 'weekly' });
    expect(metrics).toEqual([
      {
        Namespace: Metrics.namespace,
        MetricData: [
          {
            MetricName: Metrics.backupSucceeded,
            Dimensions: [{ Name: Metrics.dimension, Value: first }],
            Value: 1,
            Unit: 'Count',
          },
        ],
      },
    ]);
    expect(error, logs.join('\n')).toBeUndefined();
    expect(output).toMatchObject({ tier: 'weekly', databases: [first], anyFailed: false });
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({
      [JobEnv.command]: 'backup',
      [JobEnv.database]: first,
      [JobEnv.tier]: 'weekly',
      [JobEnv.sslMode]: 'disable',
    });
    const keys = await manifestKeys(bucket, first);
    expect(keys).toEqual([
      expect.stringMatching(new RegExp(`^backups/${first}/\\d{8}T\\d{6}Z-[0-9a-f]{6}\\.manifest\\.json$`)),
    ]);
    const manifest = JSON.parse(
      await (await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: keys[0] }))).Body!.transformToString(),
    );
    expect(manifest.tier).toBe('weekly');
  });

  it('fails the execution when the container exits non-zero', async () => {
    const { output, error, logs, metrics } = await localWorkflow([missing], bucket).run({});
    expect(output).toBeUndefined();
    expect(metrics).toEqual([]);
    expect(logs.join('')).toContain(`database "${missing}" does not exist`);
    expect(error).toEqual({
      name: BackupWorkflow.BACKUPS_FAILED_ERROR,
      message: expect.stringContaining(`backup failed for ["${missing}"]`),
    });
    expect(await manifestKeys(bucket, missing)).toEqual([]);
  });

  it('backs up the other databases when one fails, then fails naming only that one', async () => {
    const before = (await manifestKeys(bucket, first)).length;
    const { error, tasks } = await localWorkflow([first, missing, second], bucket).run({});
    expect(tasks.map((t) => t[JobEnv.database]).sort()).toEqual([first, missing, second].sort());
    expect(error?.name).toBe(BackupWorkflow.BACKUPS_FAILED_ERROR);
    expect(error?.message).toContain(`["${missing}"]`);
    expect(error?.message).not.toContain(first);
    expect(error?.message).not.toContain(second);
    expect(await manifestKeys(bucket, first)).toHaveLength(before + 1);
    expect(await manifestKeys(bucket, second)).toHaveLength(1);
  });

  it('retries once after a lock timeout (first ECS RunTask replaced by a stand-in task exiting JobExit.lockTimeout, the second by the local job): backed up, the lock timeout counted', async () => {
    const before = (await manifestKeys(bucket, first)).length;
    const { output, error, tasks, logs, metrics } = await localWorkflow([first], bucket).run(
      {},
      { stoppedFirst: [JobExit.lockTimeout] },
    );
    expect(error, logs.join('\n')).toBeUndefined();
    expect(output).toMatchObject({ databases: [first], anyFailed: false });
    expect(tasks).toHaveLength(1);
    expect(metrics.map((m) => m.MetricData[0].MetricName)).toEqual([
      Metrics.backupLockTimeouts,
      Metrics.backupSucceeded,
    ]);
    expect(metrics[0].MetricData[0].Dimensions).toEqual([{ Name: Metrics.dimension, Value: first }]);
    expect(await manifestKeys(bucket, first)).toHaveLength(before + 1);
  });

  it('fails the database after a second lock timeout, naming it; the task ran twice, no more (ECS RunTask replaced by stand-in tasks)', async () => {
    const { error, metrics } = await localWorkflow([first], bucket).run(
      {},
      { stoppedFirst: [JobExit.lockTimeout, JobExit.lockTimeout, 0] },
    );
    expect(error).toEqual({
      name: BackupWorkflow.BACKUPS_FAILED_ERROR,
      message: expect.stringContaining(`backup failed for ["${first}"]`),
    });
    expect(metrics.map((m) => m.MetricData[0].MetricName)).toEqual([
      Metrics.backupLockTimeouts,
      Metrics.backupLockTimeouts,
    ]);
  });

  it('does not retry other failures (ECS RunTask replaced by a stand-in task exiting 1)', async () => {
    const { error, tasks, metrics } = await localWorkflow([first], bucket).run({}, { stoppedFirst: [1] });
    expect(error?.name).toBe(BackupWorkflow.BACKUPS_FAILED_ERROR);
    expect(tasks).toEqual([]);
    expect(metrics).toEqual([]);
  });

  it('a backup that shrank (a table dropped since the last one) exits JobExit.backupSuspect from the real job: BackupSuspect emitted, counted as backed up', async () => {
    const shrinking = uniqueName('sfn_shrink');
    await createDatabase(shrinking);
    try {
      await withClient(shrinking, (c) =>
        c.query(
          'CREATE TABLE kept (id int); CREATE TABLE alerts (id int); INSERT INTO kept VALUES (1); INSERT INTO alerts VALUES (1)',
        ),
      );
      const full = await localWorkflow([shrinking], bucket).run({});
      expect(full.error, full.logs.join('\n')).toBeUndefined();
      await withClient(shrinking, (c) => c.query('DROP TABLE alerts'));
      const { output, error, logs, metrics } = await localWorkflow([shrinking], bucket).run({});
      expect(error, logs.join('\n')).toBeUndefined();
      expect(logs.join('')).toContain('SUSPECT');
      expect(output).toMatchObject({ anyFailed: false });
      expect(metrics.map((m) => m.MetricData[0].MetricName)).toEqual([Metrics.backupSuspect, Metrics.backupSucceeded]);
      expect(metrics[0].MetricData[0].Dimensions).toEqual([{ Name: Metrics.dimension, Value: shrinking }]);
    } finally {
      await dropDatabase(shrinking);
    }
  });

  it('rejects an unknown tier before starting any task', async () => {
    const { error, tasks } = await localWorkflow([first], bucket).run({ tier: 'yearly' });
    expect(error?.name).toBe('DR.InvalidInput');
    expect(tasks).toEqual([]);
  });
});
