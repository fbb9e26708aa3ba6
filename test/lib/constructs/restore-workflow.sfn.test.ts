/**
 * The synthesized restore state machine, executed by aws-local-stepfunctions against the real
 * PostgreSQL server and s3rver. The task states run the real code: the validate and result
 * Lambdas' handlers in-process (with the environment the template gives them, and the error
 * shape Lambda gives a thrown error), the ECS task as the real job process (./local-job.ts).
 * Only SNS Publish is mocked: it records the message.
 */
import { randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { Template } from 'aws-cdk-lib/assertions';
import { StateMachine } from 'aws-local-stepfunctions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobEnv } from '../../../core/contract.ts';
import { jobResultKey, readJobResult } from '../../../core/job-result.ts';
import { openRepository } from '../../../core/repository/index.ts';
import { fileKey } from '../../../core/repository/layout.ts';
import {
  createDatabase,
  dropDatabase,
  PG_HOST,
  PG_PORT,
  PG_USER,
  pgUrl,
  uniqueName,
  withClient,
} from '../../../fixtures/pg.ts';
import { createSampleDatabase } from '../../../fixtures/sample-database.ts';
import { createHandler as createResultHandler } from '../../../lambdas/restore-result/handler.ts';
import { createHandler as createValidateHandler } from '../../../lambdas/validate-restore/handler.ts';
import { RestoreWorkflow } from '../../../lib/constructs/workflows/restore-workflow.ts';
import { runDr } from '../../support/cli.ts';
import { createTestBucket, s3Client, s3Env, useS3Env } from '../../support/s3.ts';
import {
  createTimescaleDatabase,
  dropTimescaleDatabase,
  timescaleUrl,
  withTimescaleClient,
} from '../../support/timescale.ts';
import { definitionOf } from './definition.ts';
import { localJob } from './local-job.ts';
import { restoreStack } from './restore-stack.ts';

/** The environment the template gives the Lambda whose description contains `what`. */
function lambdaEnv(template: Template, what: string): Record<string, string> {
  const fns = Object.values(template.findResources('AWS::Lambda::Function')).filter((f: any) =>
    String(f.Properties.Description).includes(what),
  );
  if (fns.length !== 1) throw new Error(`expected one Lambda "${what}", found ${fns.length}`);
  return (fns[0] as any).Properties.Environment.Variables;
}

/** A handler bound as a LambdaInvoke state: Payload in, {Payload} out; a throw fails as Lambda reports it. */
function asLambdaInvoke(handler: (event: unknown) => Promise<unknown>) {
  return async (parameters: any) => {
    try {
      return {
        StatusCode: 200,
        ExecutedVersion: '$LATEST',
        Payload: JSON.parse(JSON.stringify(await handler(parameters.Payload))),
      };
    } catch (err) {
      // Lambda: Error = the error's name (errorType), Cause = JSON {errorType, errorMessage, trace}.
      const e = err as Error;
      const failure = new Error(
        JSON.stringify({ errorType: e.name, errorMessage: e.message, trace: (e.stack ?? '').split('\n') }),
      );
      failure.name = e.name;
      throw failure;
    }
  };
}

interface Execution {
  readonly name: string;
  readonly output?: any;
  readonly error?: { readonly name: string; readonly message: string };
  readonly job: ReturnType<typeof localJob>;
  readonly notifications: { Message: string; Subject?: string }[];
  /** Names of the task states invoked, in order. */
  readonly tasks: string[];
}

/** The database server the workflow restores on: the machine's, or the run's TimescaleDB server. */
interface Server {
  readonly host: string;
  readonly port: number;
  readonly user: string;
}

const MACHINE_SERVER: Server = { host: PG_HOST, port: PG_PORT, user: PG_USER };

function localWorkflow(source: string, bucket: string, server: Server = MACHINE_SERVER) {
  const { template } = restoreStack({
    databases: [{ name: source, host: server.host, port: server.port }],
    sslMode: 'disable',
  });
  const machine = new StateMachine(definitionOf(template) as any);
  const validate = createValidateHandler({ env: lambdaEnv(template, 'validates a restore request') });
  // The vault's name is a deploy-time token: point the repository at the test bucket.
  const repoEnv = { ...lambdaEnv(template, 'reads the result'), [JobEnv.repo]: `s3://${bucket}/` };
  const result = createResultHandler({ env: repoEnv });

  return async (input: unknown): Promise<Execution> => {
    const name = `test-${randomBytes(6).toString('hex')}`;
    const job = localJob(template, {
      env: { [JobEnv.repo]: `s3://${bucket}/` },
      secretValue: () => JSON.stringify({ username: server.user, password: '' }),
    });
    const notifications: Execution['notifications'] = [];
    const tasks: string[] = [];
    const traced =
      <T>(state: string, fn: (p: any) => Promise<T>) =>
      (p: any) => {
        tasks.push(state);
        return fn(p);
      };
    const execution = machine.run(input as any, {
      context: {
        Execution: { Id: `arn:aws:states:us-east-1:123456789012:execution:restore:${name}`, Name: name },
      } as any,
      overrides: {
        taskResourceLocalHandlers: {
          [RestoreWorkflow.VALIDATE_STATE]: traced(RestoreWorkflow.VALIDATE_STATE, asLambdaInvoke(validate)),
          [RestoreWorkflow.RUN_TASK_STATE]: traced(RestoreWorkflow.RUN_TASK_STATE, job.handler),
          [RestoreWorkflow.READ_RESULT_STATE]: traced(RestoreWorkflow.READ_RESULT_STATE, asLambdaInvoke(result)),
          // The only mock: SNS has no local equivalent here.
          [RestoreWorkflow.NOTIFY_STATE]: traced(RestoreWorkflow.NOTIFY_STATE, async (p: any) => {
            notifications.push({ Message: p.Message, Subject: p.Subject });
            return { MessageId: randomBytes(8).toString('hex') };
          }),
        },
      },
    });
    try {
      return { name, output: await execution.result, job, notifications, tasks };
    } catch (err) {
      const cause = (err as { cause?: { name: string; message: string } }).cause;
      if (!cause) throw err;
      return { name, error: { name: cause.name, message: cause.message }, job, notifications, tasks };
    }
  };
}

const logsOf = (e: Execution) => e.job.runs.map((r) => r.output).join('\n');

const count = (db: string, sql: string) => withClient(db, async (c) => Number((await c.query(sql)).rows[0].n));

/** Replaces one stored object's bytes, as disk rot or tampering would (write-once binds dr, not an attacker). */
async function damage(bucket: string, key: string): Promise<void> {
  await s3Client().send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from('not the bytes the manifest recorded') }),
  );
}

describe('restore workflow executed locally (real validate/result handlers and job process; SNS publish mocked)', () => {
  const source = uniqueName('rsfn_src');
  const restored = uniqueName('rsfn_full');
  const targets: string[] = [restored];
  let bucket: string;
  let run: ReturnType<typeof localWorkflow>;
  let firstBackup: string;

  beforeAll(async () => {
    useS3Env();
    bucket = await createTestBucket('dr-rsfn');
    await createDatabase(source);
    await createSampleDatabase(pgUrl(source), { scale: 'test' });
    const backup = await runDr(
      ['backup', '--db', pgUrl(source), '--repo', `s3://${bucket}/`, '--json', '--quiet'],
      s3Env(),
    );
    expect(backup.code, backup.stderr).toBe(0);
    firstBackup = backup.json.id as string;
    run = localWorkflow(source, bucket);
  });
  afterAll(async () => {
    for (const db of [source, ...targets]) await dropDatabase(db);
  });

  it('full restore: validates, runs dr restore in the job, and outputs the summary (backup, verified checksums, rows, duration)', async () => {
    const e = await run({
      database: source,
      backup: 'latest',
      mode: 'full',
      target: { database: restored, overwrite: false },
    });
    expect(e.error, logsOf(e)).toBeUndefined();
    expect(e.tasks).toEqual([
      RestoreWorkflow.VALIDATE_STATE,
      RestoreWorkflow.RUN_TASK_STATE,
      RestoreWorkflow.READ_RESULT_STATE,
    ]);
    expect(e.job.runs[0]!.env).toMatchObject({
      [JobEnv.command]: 'restore',
      [JobEnv.database]: source,
      [JobEnv.targetDatabase]: restored,
      [JobEnv.args]: '["--backup","latest"]',
      [JobEnv.resultName]: e.name,
      [JobEnv.dbHost]: PG_HOST,
      [JobEnv.dbPort]: String(PG_PORT),
    });
    // Ran on the restore task definition: no Object Lock setting, which only the backup one has.
    expect(e.job.runs[0]!.env[JobEnv.objectLock]).toBeUndefined();
    expect(e.output).toMatchObject({
      status: 'SUCCEEDED',
      execution: e.name,
      mode: 'full',
      database: source,
      targetDatabase: restored,
      backup: { id: firstBackup },
      fallback: null,
      checksums: {
        verified: true,
        files: expect.any(Number),
        bytes: expect.any(Number),
        note: expect.stringContaining("verified against the manifest's SHA-256 before the target was touched"),
      },
      rows: expect.any(Number),
      restoreSeconds: expect.any(Number),
      executionSeconds: expect.any(Number),
      resultKey: `results/restores/${e.name}.json`,
    });
    expect(e.output.rows).toBeGreaterThan(0);
    expect(e.output.checksums.files).toBeGreaterThan(1);
    expect(await count(restored, 'SELECT count(*) AS n FROM candles')).toBe(
      await count(source, 'SELECT count(*) AS n FROM candles'),
    );
    // The job's record stays in the vault as the audit trail.
    expect(await readJobResult(openRepository(`s3://${bucket}/`), jobResultKey('restore', e.name))).toMatchObject({
      exitCode: 0,
      result: { ok: true },
    });
    expect(e.notifications).toEqual([]);
  });

  it('table restore: replaces only the named table in the existing target, keeping the old rows in a safety table', async () => {
    await withClient(restored, (c) =>
      c.query(
        `DELETE FROM alerts; DELETE FROM candles_2025_09 WHERE ctid IN (SELECT ctid FROM candles_2025_09 LIMIT 10)`,
      ),
    );
    const alertsBefore = await count(restored, 'SELECT count(*) AS n FROM alerts');
    const expected = await count(source, 'SELECT count(*) AS n FROM candles');
    const e = await run({ database: source, mode: 'table', tables: ['candles'], target: { database: restored } });
    expect(e.error, logsOf(e)).toBeUndefined();
    expect(e.job.runs[0]!.env[JobEnv.args]).toBe('["--backup","latest","--tables","candles"]');
    expect(e.output).toMatchObject({
      mode: 'table',
      backup: { id: firstBackup },
      rows: expected,
      rowsReplaced: expected - 10,
      tables: [
        {
          table: expect.stringContaining('candles'),
          rowsRestored: expected,
          rowsReplaced: expected - 10,
          safetyTable: expect.stringContaining('candles__dr_saved_'),
        },
      ],
      checksums: { verified: true },
    });
    expect(await count(restored, 'SELECT count(*) AS n FROM candles')).toBe(expected);
    // Other tables are untouched.
    expect(await count(restored, 'SELECT count(*) AS n FROM alerts')).toBe(alertsBefore);
  });

  it('range restore: restores one day of candles, rows outside the range unchanged', async () => {
    const day = "time >= '2026-01-10T00:00:00Z' AND time < '2026-01-11T00:00:00Z'";
    const inDay = await count(source, `SELECT count(*) AS n FROM candles WHERE ${day}`);
    expect(inDay).toBeGreaterThan(0);
    await withClient(restored, (c) =>
      c.query(
        `DELETE FROM candles WHERE ${day}; DELETE FROM candles_2025_10 WHERE ctid IN (SELECT ctid FROM candles_2025_10 LIMIT 5)`,
      ),
    );
    const outsideBefore = await count(restored, `SELECT count(*) AS n FROM candles WHERE NOT (${day})`);
    const e = await run({
      database: source,
      mode: 'range',
      tables: ['candles'],
      since: '2026-01-10T00:00:00Z',
      until: '2026-01-11',
      target: { database: restored },
    });
    expect(e.error, logsOf(e)).toBeUndefined();
    expect(JSON.parse(e.job.runs[0]!.env[JobEnv.args]!)).toEqual([
      '--backup',
      'latest',
      '--tables',
      'candles',
      '--since',
      '2026-01-10T00:00:00Z',
      '--until',
      '2026-01-11T00:00:00Z',
    ]);
    expect(e.output).toMatchObject({
      mode: 'range',
      rows: inDay,
      rowsReplaced: 0,
      range: { since: expect.stringContaining('2026-01-10'), until: expect.stringContaining('2026-01-11') },
    });
    expect(await count(restored, `SELECT count(*) AS n FROM candles WHERE ${day}`)).toBe(inDay);
    expect(await count(restored, `SELECT count(*) AS n FROM candles WHERE NOT (${day})`)).toBe(outsideBefore);
  });

  it('invalid input fails with InvalidRestoreRequest before any task runs (no job, no notification)', async () => {
    const e = await run({
      database: source,
      mode: 'range',
      tables: ['candles'],
      since: '2026-01-12T00:00:00Z',
      until: '2026-01-10T00:00:00Z',
      target: { database: source },
    });
    expect(e.error?.name).toBe('InvalidRestoreRequest');
    expect(e.error?.message).toContain('since: 2026-01-12T00:00:00Z is not before until 2026-01-10T00:00:00Z');
    expect(e.error?.message).toContain(`target.overwrite: target.database "${source}" is a production database`);
    expect(e.tasks).toEqual([RestoreWorkflow.VALIDATE_STATE]);
    expect(e.job.runs).toEqual([]);
    expect(e.notifications).toEqual([]);

    const notObject = await run('restore please');
    expect(notObject.error?.name).toBe('InvalidRestoreRequest');
    expect(notObject.job.runs).toEqual([]);
    const unknownDb = await run({ database: 'nope', mode: 'full', target: { database: 'x' } });
    expect(unknownDb.error?.message).toContain(`database: "nope" is not a configured database; use one of "${source}"`);
  });

  it("a failing dr restore notifies the topic with dr's reason and fails the execution", async () => {
    // The full restore's target is not empty: without overwrite, dr refuses before touching it.
    const e = await run({ database: source, mode: 'full', target: { database: restored } });
    expect(e.tasks).toEqual([
      RestoreWorkflow.VALIDATE_STATE,
      RestoreWorkflow.RUN_TASK_STATE,
      RestoreWorkflow.READ_RESULT_STATE,
      RestoreWorkflow.NOTIFY_STATE,
    ]);
    expect(e.job.runs[0]!.exitCode).toBe(1);
    expect(e.error).toEqual({
      name: RestoreWorkflow.RESTORE_FAILED_ERROR,
      message: expect.stringMatching(
        new RegExp(`^dr restore exited with code 1: target database ${restored} .* is not empty; pass --overwrite`),
      ),
    });
    expect(e.notifications).toEqual([
      {
        Subject: 'crypto-stock-dr: restore failed',
        Message: `Restore execution ${e.name} failed (DR.RestoreFailed): ${e.error!.message} -- Execution: arn:aws:states:us-east-1:123456789012:execution:restore:${e.name}`,
      },
    ]);
  });

  it('a corrupted newest backup: latest falls back to the previous one and the summary reports it', async () => {
    await withClient(source, (c) => c.query(`UPDATE symbols SET name = name || ' (renamed)' WHERE ticker = 'SPY'`));
    const newer = await runDr(
      ['backup', '--db', pgUrl(source), '--repo', `s3://${bucket}/`, '--json', '--quiet'],
      s3Env(),
    );
    expect(newer.code, newer.stderr).toBe(0);
    const newerId = newer.json.id as string;
    const manifest = await readManifestJson(bucket, source, newerId);
    const dataFile = manifest.files.find(
      (f: { path: string }) => f.path.startsWith('data/') && !f.path.endsWith('toc.dat'),
    ).path;
    await damage(bucket, fileKey(source, newerId, dataFile));

    const target = uniqueName('rsfn_fallback');
    targets.push(target);
    const e = await run({ database: source, mode: 'full', target: { database: target } });
    expect(e.error, logsOf(e)).toBeUndefined();
    expect(e.output.backup.id).toBe(firstBackup);
    expect(e.output.fallback).toEqual({
      used: true,
      skipped: [{ id: newerId, reason: expect.stringContaining(dataFile) }],
      note: `the newest backup ${newerId} failed verification; restored ${firstBackup} instead`,
    });
    expect(e.output.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^FALLBACK: /)]));
    // The older backup is what landed: the rename after it is absent.
    expect(await count(target, `SELECT count(*) AS n FROM symbols WHERE name LIKE '%(renamed)'`)).toBe(0);
  });
});

async function readManifestJson(bucket: string, database: string, id: string): Promise<any> {
  const repo = openRepository(`s3://${bucket}/`);
  const chunks: Buffer[] = [];
  for await (const chunk of await repo.get(`backups/${database}/${id}.manifest.json`)) chunks.push(Buffer.from(chunk));
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

describe('restore workflow on the TimescaleDB sample (real job process against the TimescaleDB server; SNS publish mocked)', () => {
  let source: string;
  let restored: string;
  let bucket: string;
  let run: ReturnType<typeof localWorkflow>;
  const scalar = (db: string, sql: string) =>
    withTimescaleClient(db, async (c) => Object.values((await c.query(sql)).rows[0] as object)[0]);

  beforeAll(async () => {
    useS3Env();
    bucket = await createTestBucket('dr-rsfn-ts');
    source = await createTimescaleDatabase('rsfn_ts_src');
    restored = uniqueName('rsfn_ts_full');
    await createSampleDatabase(timescaleUrl(source), { scale: 'test', timescale: true });
    const backup = await runDr(
      ['backup', '--db', timescaleUrl(source), '--repo', `s3://${bucket}/`, '--json', '--quiet'],
      s3Env(),
    );
    expect(backup.code, backup.stderr).toBe(0);
    const url = new URL(timescaleUrl());
    run = localWorkflow(source, bucket, { host: url.hostname, port: Number(url.port), user: url.username });
  });
  afterAll(async () => {
    for (const db of [source, restored]) await dropTimescaleDatabase(db);
  });

  it('full restore, then a range restore inside a compressed chunk: hypertables, compression and the continuous aggregate come back', async () => {
    const full = await run({ database: source, backup: 'latest', mode: 'full', target: { database: restored } });
    expect(full.error, logsOf(full)).toBeUndefined();
    expect(full.output).toMatchObject({ status: 'SUCCEEDED', mode: 'full', checksums: { verified: true } });
    const compressed = `SELECT count(*)::int FROM timescaledb_information.chunks WHERE hypertable_name = 'candles' AND is_compressed`;
    expect(await scalar(restored, compressed)).toBe(await scalar(source, compressed));
    expect(await scalar(restored, 'SELECT count(*)::int FROM candles_daily')).toBe(
      await scalar(source, 'SELECT count(*)::int FROM candles_daily'),
    );

    const day = "time >= '2025-10-10T00:00:00Z' AND time < '2025-10-11T00:00:00Z'";
    await withTimescaleClient(restored, (c) => c.query(`DELETE FROM candles WHERE ${day}`));
    const range = await run({
      database: source,
      mode: 'range',
      tables: ['candles'],
      since: '2025-10-10T00:00:00Z',
      until: '2025-10-11T00:00:00Z',
      target: { database: restored },
    });
    expect(range.error, logsOf(range)).toBeUndefined();
    expect(range.output).toMatchObject({
      mode: 'range',
      rows: await scalar(source, `SELECT count(*)::int FROM candles WHERE ${day}`),
    });
    expect(await scalar(restored, `SELECT count(*)::int FROM candles WHERE ${day}`)).toBe(
      await scalar(source, `SELECT count(*)::int FROM candles WHERE ${day}`),
    );
    expect(await scalar(restored, compressed)).toBe(await scalar(source, compressed));
  });
});
