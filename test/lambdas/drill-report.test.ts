/**
 * The drill-report Lambda with the events the drill state machine passes, against real s3rver
 * (the vault: manifests, job results, reports) and real restore/verify results from the local
 * PostgreSQL. Only SNS Publish is mocked; the CloudWatch metrics are the EMF lines it prints.
 */
import { text } from 'node:stream/consumers';
import type { PublishCommand } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BackupResult, runBackup } from '../../core/backup/backup.ts';
import { Metrics, ReportEnv } from '../../core/contract.ts';
import { causeMessage } from '../../core/drill/facts.ts';
import { jobResultKey, writeJobResult } from '../../core/job-result.ts';
import { readManifest } from '../../core/repository/backups.ts';
import { openRepository, type Repository } from '../../core/repository/index.ts';
import { runRestore } from '../../core/restore/full.ts';
import type { RestoreResult } from '../../core/restore/result.ts';
import { type VerifyResult, verifyAgainstManifest } from '../../core/verify/verify.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { createHandler } from '../../lambdas/drill-report/handler.ts';
import { captureStdout, type StdoutCapture } from '../support/handler.ts';
import { createTestBucket, useS3Env } from '../support/s3.ts';

const source = uniqueName('dr_report_src');
const scratch = uniqueName('drill_report_scratch');
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:dr-alarms';
let bucket: string;
let repo: Repository;
let backup: BackupResult;
let restore: RestoreResult;
let verify: VerifyResult;
let stdout: StdoutCapture;

beforeAll(async () => {
  stdout = captureStdout();
  useS3Env();
  bucket = await createTestBucket('dr-report');
  repo = openRepository(`s3://${bucket}/`);
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  // What the drill's job and verify Lambda would produce: a real restore and verification.
  backup = await runBackup({ db: pgUrl(source), repository: repo });
  restore = await runRestore({ repository: repo, backup: backup.id, database: source, target: pgUrl(scratch) });
  verify = await verifyAgainstManifest({
    manifest: await readManifest(repo, source, backup.id),
    target: pgUrl(scratch),
  });
  await dropDatabase(scratch);
});

afterAll(async () => {
  stdout.restore();
  await dropDatabase(source);
  await dropDatabase(scratch);
});

/** The handler with a recording SNS client; the EMF documents are those it prints to stdout. */
function harness() {
  const published: PublishCommand['input'][] = [];
  const mark = stdout.mark();
  const handler = createHandler({
    env: { [ReportEnv.repo]: `s3://${bucket}/`, [ReportEnv.topicArn]: TOPIC },
    sns: {
      send: async (command: PublishCommand) => {
        published.push(command.input);
        return {};
      },
    } as never,
    kms: { send: async () => ({}) } as never,
  });
  return { handler, published, emf: () => stdout.emf(mark) };
}

const readJson = async (key: string) => JSON.parse(await text(await repo.get(key)));
const today = () => new Date().toISOString().slice(0, 10);

describe('drill-report Lambda (real s3rver, mocked SNS client)', () => {
  it('a passing drill: three files in the vault, a PASS summary to SNS, DrillPassed 1 / RestoreSeconds / BackupAgeHours as EMF', async () => {
    const { handler, published, emf } = harness();
    const out = await handler({
      database: source,
      backupId: backup.id,
      rtoSeconds: 3600,
      restore: JSON.stringify({ ok: true, ...restore }), // as the job prints it, passed through as a string
      verify,
      scratch: { database: 'drill_x_20261206', server: 'staging:5432', dropped: true },
      timings: { cleanup: { startedAt: 1_764_990_000_000, stoppedAt: 1_764_990_000_400 } },
    });
    const base = `reports/drills/${today()}/${source}`;
    expect(out).toEqual({
      database: source,
      passed: true,
      rtoPassed: true,
      summary: expect.stringMatching(/^PASS /),
      keys: { html: `${base}.html`, md: `${base}.md`, json: `${base}.json` },
      signed: false,
    });
    const report = await readJson(out.keys.json);
    expect(report).toMatchObject({
      passed: true,
      backup: { id: backup.id, bytes: backup.bytes, tier: backup.tier },
      scratch: { dropped: true },
    });
    expect(report.phases.find((p: { name: string }) => p.name === 'cleanup').seconds).toBe(0.4);
    expect(await text(await repo.get(out.keys.html))).toMatch(/^<!DOCTYPE html>[\s\S]*<svg/);
    expect(await text(await repo.get(out.keys.md))).toMatch(/^# Restore drill PASS/);

    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ TopicArn: TOPIC, Subject: `Restore drill PASS: ${source}` });
    expect(published[0]!.Message).toContain(report.summary);
    expect(published[0]!.Message).toContain(`Report: s3://${bucket}/${out.keys.html}`);

    const line = emf()[0]!;
    expect(line._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: Metrics.namespace,
        Dimensions: [[Metrics.dimension]],
        Metrics: [
          { Name: 'DrillPassed', Unit: 'None' },
          { Name: 'RestoreSeconds', Unit: 'Seconds' },
          { Name: 'BackupAgeHours', Unit: 'None' },
        ],
      },
    ]);
    expect(line).toMatchObject({ Database: source, DrillPassed: 1, RestoreSeconds: restore.durationMs / 1000 });
    expect(line.BackupAgeHours).toBeGreaterThanOrEqual(0);
  });

  it('a drill whose verification failed: FAIL naming the check, DrillPassed 0, a second report that day with the first in its trend', async () => {
    const { handler, published, emf } = harness();
    const broken = verify.checks.find((c) => c.name === 'row-count')!;
    const failing: VerifyResult = {
      ...verify,
      passed: false,
      checks: verify.checks.map((c) => (c === broken ? { ...c, actual: Number(c.expected) - 1, passed: false } : c)),
      totals: { checks: verify.totals.checks, failed: 1 },
    };
    const out = await handler({
      database: source,
      backupId: backup.id,
      restore,
      verify: failing,
      scratch: { database: 'drill_x', dropped: true },
    });
    expect(out.passed).toBe(false);
    expect(out.keys.json).toMatch(new RegExp(`/${source}-\\d{6}Z\\.json$`));
    const report = await readJson(out.keys.json);
    expect(report.checklist.find((c: { item: string }) => c.item === 'Row counts match')).toMatchObject({
      state: 'fail',
      detail: expect.stringContaining(broken.object),
    });
    expect(report.trend.previous).toHaveLength(1);
    expect(published[0]!.Subject).toBe(`Restore drill FAIL: ${source}`);
    expect(published[0]!.Message).toMatch(
      new RegExp(`✗\\s+Row counts match: 1 of \\d+ failed: ${broken.object.replace(/[.$]/g, '\\$&')}`),
    );
    expect(emf()[0]).toMatchObject({ DrillPassed: 0 });
  });

  it("a drill whose restore failed: the job's recorded error, the task's run time, backup size from the manifest, no RestoreSeconds", async () => {
    const { handler, published, emf } = harness();
    const name = `drill-${Date.now()}-${source}`.slice(0, 80);
    await writeJobResult(repo, jobResultKey('restore', name), {
      command: 'restore',
      exitCode: 1,
      finishedAt: new Date().toISOString(),
      result: {
        ok: false,
        error: 'pg_restore failed: could not extend file: No space left on device',
        hint: 'see the pg_restore message; the target was not changed',
      },
    });
    const out = await handler({
      database: source,
      backupId: backup.id,
      restoreResultName: name,
      errors: {
        step: 'cleanup',
        Error: 'States.TaskFailed',
        Cause: JSON.stringify({ errorType: 'DrError', errorMessage: 'could not connect to the staging server' }),
      },
      timings: { restore: { startedAt: '2026-12-06T03:00:00Z', stoppedAt: '2026-12-06T03:05:30Z' } },
      scratch: { database: 'drill_x', dropped: false },
    });
    expect(out).toMatchObject({ passed: false, rtoPassed: false });
    const report = await readJson(out.keys.json);
    expect(report.restore).toMatchObject({ completed: false, seconds: 330 });
    expect(report.backup).toMatchObject({ id: backup.id, bytes: backup.bytes });
    expect(report.checklist.find((c: { item: string }) => c.item === 'Restore completed')).toMatchObject({
      state: 'fail',
      detail: expect.stringContaining('No space left on device'),
    });
    expect(report.issues).toEqual(
      expect.arrayContaining([
        { kind: 'error', step: 'cleanup', message: 'DrError: could not connect to the staging server' },
        { kind: 'error', step: 'restore', message: expect.stringContaining('pg_restore failed') },
      ]),
    );
    expect(published[0]!.Message).toContain('No space left on device');
    const line = emf()[0]!;
    expect(line.DrillPassed).toBe(0);
    expect(line).not.toHaveProperty('RestoreSeconds');
  });

  it('refuses a bad event before writing or publishing anything', async () => {
    const { handler, published, emf } = harness();
    const before = await repo.list('reports/');
    await expect(handler({ backupId: backup.id })).rejects.toThrow(/database/);
    await expect(handler({ database: source, timings: { restore: { startedAt: 'yesterday' } } })).rejects.toThrow(
      /a time/,
    );
    expect(await repo.list('reports/')).toEqual(before);
    expect(published).toEqual([]);
    expect(emf()).toEqual([]);
  });
});

describe('causeMessage', () => {
  it('reads Lambda and ECS causes, and keeps other text', () => {
    expect(causeMessage('Lambda.Unknown', JSON.stringify({ errorType: 'Error', errorMessage: 'boom' }))).toBe(
      'Error: boom',
    );
    expect(
      causeMessage(
        'States.TaskFailed',
        JSON.stringify({
          StoppedReason: 'Essential container in task exited',
          Containers: [{ Name: 'dr', ExitCode: 1 }],
        }),
      ),
    ).toBe('Essential container in task exited (exit code 1)');
    expect(causeMessage('States.Timeout', undefined)).toBe('States.Timeout');
    expect(causeMessage('X', 'plain words')).toBe('X: plain words');
  });
});
