/**
 * `dr check`: every file of a backup read back and compared with its manifest, on both repository
 * types, without restoring; a damaged file is named and the exit status is 1.
 */
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileKey } from '../../core/repository/layout.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { errorLines, runDr } from '../support/cli.ts';
import { createTestBucket, s3Client, s3Env } from '../support/s3.ts';

const source = uniqueName('dr_check_src');
let dir: string;

beforeAll(async () => {
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  dir = await mkdtemp(join(tmpdir(), 'dr-check-'));
});

afterAll(async () => {
  await dropDatabase(source);
  await rm(dir, { recursive: true, force: true });
});

async function backupInto(repo: string): Promise<string> {
  const run = await runDr(['backup', '--db', pgUrl(source), '--repo', repo, '--json', '-q'], s3Env());
  expect(run.code, run.stderr).toBe(0);
  return run.json.id as string;
}

describe('dr check', () => {
  it('passes an intact file:// backup and names the damaged file once one is altered', async () => {
    const repo = `file://${dir}`;
    const older = await backupInto(repo);
    const newer = await backupInto(repo);
    const ok = await runDr(['check', '--repo', repo, '--backup', 'all', '--json'], s3Env());
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json).toMatchObject({
      ok: true,
      passed: true,
      backups: [
        { id: newer, ok: true },
        { id: older, ok: true },
      ],
    });

    await appendFile(join(dir, fileKey(source, newer, 'data/toc.dat')), 'x');
    const bad = await runDr(['check', '--repo', repo, '--backup', 'all'], s3Env());
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(
      new RegExp(`DAMAGED  ${source}/${newer}  backup ${newer}: file data/toc\\.dat is longer than recorded`),
    );
    expect(bad.stdout).toMatch(new RegExp(`ok       ${source}/${older}  `));
    expect(bad.stdout).toContain('1 of 2 backups damaged: restore from an older backup or the offsite copy');
    // latest checks only the newest backup of each database; --json keeps every backup's result
    const latest = await runDr(['check', '--repo', repo, '--json'], s3Env());
    expect(latest.code).toBe(1);
    expect(latest.json).toMatchObject({
      ok: true,
      passed: false,
      backups: [{ id: newer, ok: false, problem: expect.stringContaining('data/toc.dat') }],
    });
    const explicit = await runDr(['check', '--repo', repo, '--backup', older, '--json'], s3Env());
    expect(explicit.json).toMatchObject({ ok: true, backups: [{ id: older }] });
  });

  it('reads an s3:// backup back without writing anything, and catches an overwritten object', async () => {
    const bucket = await createTestBucket('dr-check');
    const repo = `s3://${bucket}/`;
    const id = await backupInto(repo);
    const ok = await runDr(['check', '--repo', repo], s3Env());
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`ok +${source}/${id}  \\d+ files`));

    await s3Client().send(
      new PutObjectCommand({ Bucket: bucket, Key: fileKey(source, id, 'data/toc.dat'), Body: 'tampered' }),
    );
    const bad = await runDr(['check', '--repo', repo], s3Env());
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/DAMAGED .*file data\/toc\.dat is truncated/);
  });

  it('says what to do when there is nothing to check', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'dr-check-empty-'));
    const run = await runDr(['check', '--repo', `file://${empty}`]);
    expect(run.code).toBe(1);
    expect(errorLines(run)).toEqual([expect.stringContaining('no complete backups in file://')]);
    await rm(empty, { recursive: true, force: true });
  });
});
