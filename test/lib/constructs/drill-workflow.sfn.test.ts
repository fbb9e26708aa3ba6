/**
 * The synthesized drill state machine, executed by aws-local-stepfunctions against the real
 * PostgreSQL server and s3rver. The task states run the real code: the restore task is the real
 * job process (./local-job.ts), the result read is a real GetObject on s3rver, and the verify,
 * cleanup and drill-report Lambdas are their real handlers in-process. Mocked, as they have no
 * local equivalent: Secrets Manager GetSecretValue (the local server trusts), SNS Publish (the
 * message is recorded) and CloudWatch (the report's EMF lines are captured instead of shipped).
 */
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { StateMachine } from 'aws-local-stepfunctions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrillCleanupEnv, JobEnv, Metrics, ReportEnv, VerifyEnv } from '../../../core/contract.ts';
import {
  createDatabase,
  databaseExists,
  dropDatabase,
  PG_HOST,
  PG_PORT,
  PG_USER,
  pgUrl,
  uniqueName,
  withClient,
} from '../../../fixtures/pg.ts';
import { createSampleDatabase } from '../../../fixtures/sample-database.ts';
import { createHandler as createDrillCleanupHandler } from '../../../lambdas/drill-cleanup/handler.ts';
import { createHandler as createReportHandler } from '../../../lambdas/drill-report/handler.ts';
import { createHandler as createVerifyHandler } from '../../../lambdas/verify/handler.ts';
import { DrillWorkflow } from '../../../lib/constructs/workflows/drill-workflow.ts';
import { runDr } from '../../support/cli.ts';
import { captureStdout } from '../../support/handler.ts';
import { createTestBucket, s3Client, s3Env, useS3Env } from '../../support/s3.ts';
import { definitionOf } from './definition.ts';
import { drillFixture } from './drill-fixture.ts';
import { type LocalJob, localJob } from './local-job.ts';

const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:staging-AbCdEf';
const TOPIC_ARN = 'arn:aws:sns:us-east-1:123456789012:dr-alarms';
const EXECUTION_ARN = 'arn:aws:states:us-east-1:123456789012:execution:dr-drill:drill-test';

interface DrillRun {
  readonly output?: any;
  readonly error?: { readonly name: string; readonly message: string };
  readonly job: LocalJob;
  /** Task states invoked, in order, with their input. */
  readonly calls: { state: string; input: any }[];
  readonly published: { Subject?: string; Message: string }[];
  readonly emf: Record<string, any>[];
}

interface Sabotage {
  /** Runs after the restore task, before the verification (the scratch database's name is given). */
  readonly afterRestore?: (scratch: string) => Promise<void>;
}

/** A handler thrown error as Lambda reports it to Step Functions: Error = errorType, Cause = JSON. */
function asLambda(handler: (event: unknown) => Promise<unknown>) {
  return async (payload: any) => {
    try {
      return JSON.parse(JSON.stringify(await handler(payload)));
    } catch (err) {
      const e = err as Error;
      const failure = new Error(JSON.stringify({ errorType: e.name, errorMessage: e.message }));
      failure.name = e.name;
      throw failure;
    }
  };
}

async function runDrill(databases: string[], bucket: string, sabotage: Sabotage = {}): Promise<DrillRun> {
  const { template } = drillFixture(databases, { host: PG_HOST, port: PG_PORT });
  const machine = new StateMachine(definitionOf(template) as any);
  const repo = `s3://${bucket}/`;
  const job = localJob(template, { env: { [JobEnv.repo]: repo } });
  const calls: DrillRun['calls'] = [];
  const published: DrillRun['published'] = [];
  const getSecret = async () => JSON.stringify({ username: PG_USER, password: '', host: PG_HOST, port: PG_PORT });
  const verify = createVerifyHandler({
    getSecret,
    env: { [VerifyEnv.repo]: repo, [VerifyEnv.secretArn]: SECRET_ARN, [VerifyEnv.sslMode]: 'disable' },
  });
  const cleanup = createDrillCleanupHandler({
    getSecret,
    env: { [DrillCleanupEnv.secretArn]: SECRET_ARN, [DrillCleanupEnv.sslMode]: 'disable' },
  });
  const report = createReportHandler({
    env: { [ReportEnv.repo]: repo, [ReportEnv.topicArn]: TOPIC_ARN },
    sns: {
      send: async (command: any) => {
        published.push(command.input);
        return {};
      },
    } as any,
    kms: { send: async () => ({}) } as any,
  });
  const record = (state: string, fn: (input: any) => Promise<any>) => async (input: any) => {
    calls.push({ state, input });
    return fn(input);
  };
  const stdout = captureStdout(); // the report Lambda's EMF documents
  const execution = machine.run(
    {},
    {
      // As Step Functions gives it: every Lambda's correlation id is the execution's ARN.
      context: { Execution: { Id: EXECUTION_ARN, Name: 'drill-test' } } as any,
      overrides: {
        taskResourceLocalHandlers: {
          [DrillWorkflow.DROP_LEFTOVER_STATE]: record(DrillWorkflow.DROP_LEFTOVER_STATE, asLambda(cleanup)),
          [DrillWorkflow.RESTORE_STATE]: record(DrillWorkflow.RESTORE_STATE, async (parameters) => {
            const result = await job.handler(parameters);
            const env = job.runs.at(-1)!.env;
            await sabotage.afterRestore?.(env[JobEnv.targetDatabase]!);
            return result;
          }),
          // A real GetObject on s3rver; the vault's name is a deploy-time token, so the test bucket is read.
          [DrillWorkflow.READ_RESULT_STATE]: record(DrillWorkflow.READ_RESULT_STATE, async (parameters) => {
            const got = await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: parameters.Key }));
            return { Body: await got.Body!.transformToString(), ContentType: got.ContentType };
          }),
          [DrillWorkflow.VERIFY_STATE]: record(DrillWorkflow.VERIFY_STATE, asLambda(verify)),
          [DrillWorkflow.CLEANUP_STATE]: record(DrillWorkflow.CLEANUP_STATE, asLambda(cleanup)),
          [DrillWorkflow.REPORT_STATE]: record(DrillWorkflow.REPORT_STATE, asLambda(report)),
        },
      },
    },
  );
  try {
    return { output: await execution.result, job, calls, published, emf: stdout.emf() };
  } catch (err) {
    const cause = (err as { cause?: { name: string; message: string } }).cause;
    if (!cause) throw err;
    return { error: { name: cause.name, message: cause.message }, job, calls, published, emf: stdout.emf() };
  } finally {
    stdout.restore();
  }
}

async function readJson(bucket: string, key: string): Promise<any> {
  const got = await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse(await got.Body!.transformToString());
}

async function reportKeys(bucket: string, database: string): Promise<string[]> {
  const listed = await s3Client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'reports/drills/' }));
  return (listed.Contents ?? []).map((o) => o.Key!).filter((k) => k.split('/')[3]?.startsWith(database));
}

const today = () => new Date().toISOString().slice(0, 10);
const scratchOf = (database: string) => `drill_${database}_${today().replace(/-/g, '')}`;

describe('drill workflow executed locally (real job process, verify, cleanup and report handlers; mocked Secrets Manager, SNS Publish and CloudWatch)', () => {
  const source = uniqueName('drl');
  const unbacked = uniqueName('drl_none');
  let bucket: string;

  beforeAll(async () => {
    useS3Env(); // the handlers run in this process and reach s3rver through the SDK's environment
    bucket = await createTestBucket('dr-drill');
    await createDatabase(source);
    await createSampleDatabase(pgUrl(source), { scale: 'test' });
    const backup = await runDr(['backup', '--db', pgUrl(source), '--repo', `s3://${bucket}/`, '--json'], s3Env());
    expect(backup.code, backup.stderr).toBe(0);
  }, 180_000);
  afterAll(async () => {
    await dropDatabase(source);
    await dropDatabase(scratchOf(source));
  });

  it('passes: restores the latest backup into drill_<db>_<yyyymmdd>, verifies it, drops it and writes a PASS report', async () => {
    const run = await runDrill([source], bucket);
    expect(
      run.error,
      `${run.job.runs.map((r) => r.output).join('\n')}\n${JSON.stringify(run.calls.at(-1), null, 1)}`,
    ).toBeUndefined();
    expect(run.output).toMatchObject({ anyFailed: false, results: [{ name: source, status: 'PASSED' }] });
    expect(run.calls.map((c) => c.state)).toEqual([
      DrillWorkflow.DROP_LEFTOVER_STATE,
      DrillWorkflow.RESTORE_STATE,
      DrillWorkflow.READ_RESULT_STATE,
      DrillWorkflow.VERIFY_STATE,
      DrillWorkflow.CLEANUP_STATE,
      DrillWorkflow.REPORT_STATE,
    ]);
    // Every Lambda is given the execution's ARN, its log lines' correlation id.
    const lambdaStates: string[] = [
      DrillWorkflow.DROP_LEFTOVER_STATE,
      DrillWorkflow.VERIFY_STATE,
      DrillWorkflow.CLEANUP_STATE,
      DrillWorkflow.REPORT_STATE,
    ];
    for (const call of run.calls.filter((c) => lambdaStates.includes(c.state)))
      expect(call.input.executionArn, call.state).toBe(EXECUTION_ARN);
    const env = run.job.runs[0]!.env;
    expect(env).toMatchObject({
      [JobEnv.command]: 'restore',
      [JobEnv.database]: source,
      [JobEnv.targetDatabase]: scratchOf(source),
      [JobEnv.args]: '["--backup","latest","--hold-timescale-jobs"]',
    });
    expect(env[JobEnv.secretEnv]).toBe(DrillWorkflow.SCRATCH_SECRET_ENV);
    // Ran on the restore task definition: no Object Lock setting, which only the backup one has.
    expect(env[JobEnv.objectLock]).toBeUndefined();
    const restored = run.job.runs[0]!.result as any;
    const verifyCall = run.calls.find((c) => c.state === DrillWorkflow.VERIFY_STATE)!;
    expect(verifyCall.input).toMatchObject({
      database: source,
      backupId: restored.backup.id,
      targetDatabase: scratchOf(source),
    });
    expect(await databaseExists(scratchOf(source))).toBe(false);

    const keys = await reportKeys(bucket, source);
    const json = keys.find((k) => k.endsWith('.json'))!;
    expect(
      keys
        .filter((k) => k.startsWith(`reports/drills/${today()}/`))
        .map((k) => k.split('.').pop())
        .sort(),
    ).toEqual(['html', 'json', 'md']);
    const reportJson = await readJson(bucket, json);
    expect(reportJson).toMatchObject({ passed: true, database: source });
    expect(run.published).toEqual([
      expect.objectContaining({ TopicArn: TOPIC_ARN, Subject: `Restore drill PASS: ${source}` }),
    ]);
    expect(run.emf).toEqual([
      expect.objectContaining({
        [Metrics.dimension]: source,
        [Metrics.drillPassed]: 1,
        [Metrics.restoreSeconds]: expect.any(Number),
      }),
    ]);
  }, 180_000);

  it('fails verification (rows deleted in the scratch database after the restore): drops the scratch database, reports FAIL naming the check', async () => {
    const before = (await reportKeys(bucket, source)).filter((k) => k.endsWith('.json'));
    const run = await runDrill([source], bucket, {
      afterRestore: (scratch) =>
        withClient(scratch, async (c) => {
          await c.query('DELETE FROM audit_logs WHERE id IN (SELECT id FROM audit_logs LIMIT 3)');
        }),
    });
    expect(run.error).toEqual({
      name: DrillWorkflow.DRILLS_FAILED_ERROR,
      message: expect.stringContaining(`["${source}"]`),
    });
    const verified = run.calls.find((c) => c.state === DrillWorkflow.VERIFY_STATE);
    expect(verified).toBeDefined();
    expect(run.calls.at(-2)?.state).toBe(DrillWorkflow.CLEANUP_STATE);
    expect(await databaseExists(scratchOf(source))).toBe(false);

    const json = (await reportKeys(bucket, source)).filter((k) => k.endsWith('.json') && !before.includes(k));
    expect(json).toHaveLength(1);
    const report = await readJson(bucket, json[0]!);
    expect(report.passed).toBe(false);
    expect(JSON.stringify(report.verification)).toContain('public.audit_logs');
    expect(report.checklist).toContainEqual(
      expect.objectContaining({
        item: 'Row counts match',
        state: 'fail',
        detail: expect.stringContaining('audit_logs'),
      }),
    );
    expect(run.published[0]!.Subject).toBe(`Restore drill FAIL: ${source}`);
    expect(run.published[0]!.Message).toContain('audit_logs');
    expect(run.emf[0]).toMatchObject({ [Metrics.drillPassed]: 0 });
  }, 180_000);

  it('fails the restore (no backup of the database): cleanup still runs and a FAIL report with the restore error is written', async () => {
    await createDatabase(unbacked);
    try {
      const run = await runDrill([unbacked], bucket);
      expect(run.error?.name).toBe(DrillWorkflow.DRILLS_FAILED_ERROR);
      expect(run.job.runs[0]!.exitCode).not.toBe(0);
      expect(run.calls.map((c) => c.state)).toEqual([
        DrillWorkflow.DROP_LEFTOVER_STATE,
        DrillWorkflow.RESTORE_STATE,
        DrillWorkflow.CLEANUP_STATE,
        DrillWorkflow.REPORT_STATE,
      ]);
      expect(run.calls.find((c) => c.state === DrillWorkflow.CLEANUP_STATE)!.input).toEqual({
        executionArn: EXECUTION_ARN,
        database: scratchOf(unbacked),
        host: PG_HOST,
        port: String(PG_PORT),
      });
      expect(await databaseExists(scratchOf(unbacked))).toBe(false);
      const json = (await reportKeys(bucket, unbacked)).filter((k) => k.endsWith('.json'));
      expect(json).toHaveLength(1);
      const report = await readJson(bucket, json[0]!);
      expect(report.passed).toBe(false);
      expect(report.issues).toEqual([
        expect.objectContaining({
          step: 'restore',
          message: expect.stringContaining(`no complete backup of ${unbacked}`),
        }),
      ]);
      expect(report.checklist).toContainEqual(expect.objectContaining({ item: 'Restore completed', state: 'fail' }));
      expect(run.published[0]!.Subject).toBe(`Restore drill FAIL: ${unbacked}`);
    } finally {
      await dropDatabase(unbacked);
    }
  }, 180_000);
});
