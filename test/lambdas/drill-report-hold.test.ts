/**
 * The drill-report Lambda holds the newest verified backup: real s3rver for the vault and a real
 * restore/verification from the local PostgreSQL; SNS is mocked, and so are the two Legal Hold
 * commands, which s3rver does not implement (test/support/legal-hold.ts).
 */
import type { PublishCommand } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BackupResult, runBackup } from '../../core/backup/backup.ts';
import { Metrics, ReportEnv } from '../../core/contract.ts';
import { readManifest } from '../../core/repository/backups.ts';
import { manifestKey } from '../../core/repository/layout.ts';
import { S3Repository } from '../../core/repository/s3.ts';
import { runRestore } from '../../core/restore/full.ts';
import type { RestoreResult } from '../../core/restore/result.ts';
import { type VerifyResult, verifyAgainstManifest } from '../../core/verify/verify.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { createHandler } from '../../lambdas/drill-report/handler.ts';
import { captureStdout, type StdoutCapture } from '../support/handler.ts';
import { legalHoldClient } from '../support/legal-hold.ts';
import { createTestBucket, s3Client, useS3Env } from '../support/s3.ts';

const source = uniqueName('dr_hold_src');
const scratch = uniqueName('drill_hold_scratch');
const holds = new Map<string, 'ON' | 'OFF'>();
let bucket: string;
let repo: S3Repository;
let older: BackupResult;
let newer: BackupResult;
let restore: RestoreResult;
let verify: VerifyResult;
let stdout: StdoutCapture;

beforeAll(async () => {
  stdout = captureStdout();
  useS3Env();
  bucket = await createTestBucket('dr-report-hold');
  repo = new S3Repository({ bucket, client: legalHoldClient(s3Client(), holds) });
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  older = await runBackup({ db: pgUrl(source), repository: repo });
  newer = await runBackup({ db: pgUrl(source), repository: repo });
  restore = await runRestore({ repository: repo, backup: newer.id, database: source, target: pgUrl(scratch) });
  verify = await verifyAgainstManifest({
    manifest: await readManifest(repo, source, newer.id),
    target: pgUrl(scratch),
  });
  await dropDatabase(scratch);
});

afterAll(async () => {
  stdout.restore();
  await dropDatabase(source);
  await dropDatabase(scratch);
});

function harness() {
  const published: PublishCommand['input'][] = [];
  const mark = stdout.mark();
  const handler = createHandler({
    env: { [ReportEnv.repo]: `s3://${bucket}/`, [ReportEnv.topicArn]: 'arn:aws:sns:eu-west-1:123456789012:dr-alarms' },
    sns: {
      send: async (command: PublishCommand) => {
        published.push(command.input);
        return {};
      },
    } as never,
    kms: { send: async () => ({}) } as never,
    repository: repo,
  });
  const verifiedAge = () =>
    stdout
      .emf(mark)
      .map((m) => m[Metrics.verifiedBackupAgeHours])
      .filter((v) => v !== undefined);
  return { handler, published, verifiedAge };
}

describe('drill-report Lambda: Legal Hold of the newest verified backup (legal-hold calls mocked)', () => {
  it('a passed drill holds its backup, releases the one held before, emits VerifiedBackupAgeHours and says so in the summary', async () => {
    // The older backup was the newest verified one until now (a drill or dr check --hold held it).
    holds.set(`${bucket}/${manifestKey(source, older.id)}`, 'ON');
    const { handler, published, verifiedAge } = harness();
    const out = await handler({ database: source, backupId: newer.id, restore, verify });
    expect(out.passed).toBe(true);
    expect(out.hold).toMatchObject({ supported: true, held: newer.id, released: [older.id] });
    expect(holds.get(`${bucket}/${manifestKey(source, newer.id)}`)).toBe('ON');
    expect(holds.get(`${bucket}/${manifestKey(source, older.id)}`)).toBe('OFF');
    expect(verifiedAge()).toEqual([expect.any(Number)]);
    expect(verifiedAge()[0]).toBeGreaterThanOrEqual(0);
    expect(published[0]!.Message).toContain(
      `Newest verified backup under legal hold: ${newer.id} (released ${older.id})`,
    );
  });

  it('a failed drill holds nothing new but still reports the age of the backup that is held', async () => {
    const { handler, verifiedAge } = harness();
    const failing = { ...verify, passed: false, checks: [{ ...verify.checks[0], passed: false }] };
    const out = await handler({ database: source, backupId: older.id, restore, verify: failing });
    expect(out.passed).toBe(false);
    expect(out.hold).toMatchObject({ held: newer.id, released: [] });
    expect(holds.get(`${bucket}/${manifestKey(source, older.id)}`)).toBe('OFF');
    expect(verifiedAge()).toHaveLength(1);
  });
});
