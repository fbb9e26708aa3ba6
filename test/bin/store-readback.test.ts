/**
 * A backup is complete only when the store holds exactly what was written: against s3rver, which
 * keeps the SDK's aws-chunked framing as data when the SDK's default checksums are on, the backup
 * must fail (naming the setting that fixes it) and leave no manifest behind.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, dropDatabase, pgUrl, uniqueName } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { expectOneLineError, runDr } from '../support/cli.ts';
import { createTestBucket, s3Client, s3Env } from '../support/s3.ts';

const source = uniqueName('dr_readback_src');

beforeAll(async () => {
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
});

afterAll(async () => {
  await dropDatabase(source);
});

/** The SDK's own defaults (WHEN_SUPPORTED): the checksum settings of s3Env() removed. */
function sdkDefaults(): Record<string, string> {
  const env = s3Env();
  env.AWS_REQUEST_CHECKSUM_CALCULATION = 'WHEN_SUPPORTED';
  env.AWS_RESPONSE_CHECKSUM_VALIDATION = 'WHEN_SUPPORTED';
  return env;
}

describe('dr backup reads back what the store holds', () => {
  it('fails with the SDK defaults against s3rver, naming AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED, and writes no manifest', async () => {
    const bucket = await createTestBucket('dr-readback');
    const run = await runDr(
      ['backup', '--db', pgUrl(source), '--repo', `s3://${bucket}/b`, '-q', '--jobs', '2'],
      sdkDefaults(),
    );
    expectOneLineError(
      run,
      /is damaged: s3:\/\/.* holds \d+ bytes, \d+ were written.*AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED/,
      1,
    );
    const keys =
      (await s3Client().send(new ListObjectsV2Command({ Bucket: bucket }))).Contents?.map((o) => o.Key) ?? [];
    expect(keys.filter((k) => k?.endsWith('manifest.json'))).toEqual([]);
    const list = await runDr(['list', '--repo', `s3://${bucket}/b`, '--json'], s3Env());
    expect(list.json.backups).toEqual([]);
  });

  it('succeeds against the same store with WHEN_REQUIRED, and check passes', async () => {
    const bucket = await createTestBucket('dr-readback');
    const repo = `s3://${bucket}/b`;
    const run = await runDr(['backup', '--db', pgUrl(source), '--repo', repo, '-q', '--json', '--jobs', '2'], s3Env());
    expect(run.code, run.stderr).toBe(0);
    const check = await runDr(['check', '--repo', repo, '--json'], s3Env());
    expect(check.code, check.stderr).toBe(0);
  });
});
