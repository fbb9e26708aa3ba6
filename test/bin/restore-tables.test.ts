/**
 * `dr restore --tables/--since/--until/--time-column` as users run it: human and --json output,
 * and every bad flag combination getting one line, a non-zero exit, and the target untouched.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, dropDatabase, pgUrl, uniqueName, withClient } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { expectOneLineError, runDr } from '../support/cli.ts';
import { createTestBucket, s3Env } from '../support/s3.ts';

const source = uniqueName('dr_clit_src');
const databases: string[] = [source];
let fileRepo: string;
let dir: string;

async function copyOfSource(): Promise<string> {
  const name = uniqueName('dr_clit_tgt');
  databases.push(name);
  await withClient('postgres', (c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${source}"`));
  return name;
}

/** Count and content hash of every table of a database. */
async function snapshot(db: string): Promise<Record<string, string>> {
  return withClient(db, async (c) => {
    const { rows } = await c.query<{ t: string }>(
      `SELECT format('%I.%I', schemaname, relname) AS t FROM pg_stat_user_tables ORDER BY 1`,
    );
    const out: Record<string, string> = {};
    for (const { t } of rows) {
      out[t] = (
        await c.query(
          `SELECT count(*) || ':' || coalesce(md5(string_agg(md5(x::text), '' ORDER BY md5(x::text))), '-') AS h FROM ${t} x`,
        )
      ).rows[0].h;
    }
    return out;
  });
}

beforeAll(async () => {
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  dir = await mkdtemp(join(tmpdir(), 'dr-clit-repo-'));
  fileRepo = `file://${dir}`;
  const backup = await runDr(['backup', '--db', pgUrl(source), '--repo', fileRepo, '--jobs', '2', '--json']);
  expect(backup.code, backup.stderr).toBe(0);
});

afterAll(async () => {
  for (const db of databases) await dropDatabase(db);
  await rm(dir, { recursive: true, force: true });
});

describe('dr restore --tables', () => {
  it('restores a table and reports rows replaced/restored and the safety table, in --json and in words', async () => {
    const name = await copyOfSource();
    await withClient(name, (c) => c.query(`DELETE FROM alerts WHERE id > 6`));
    const run = await runDr([
      'restore',
      '--repo',
      fileRepo,
      '--target',
      pgUrl(name),
      '--tables',
      'public.alerts',
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.json).toMatchObject({
      ok: true,
      mode: 'tables',
      fallbacks: [],
      range: null,
      backup: { database: source },
      tables: [
        {
          table: 'public.alerts',
          rowsReplaced: 6,
          rowsRestored: 12,
          created: false,
          safetyTable: expect.stringMatching(/^public\.alerts__dr_saved_/),
        },
      ],
      phases: { downloadMs: expect.any(Number), stageMs: expect.any(Number), applyMs: expect.any(Number) },
      durationMs: expect.any(Number),
    });
    expect((run.json.files as string[])[0]).toBe('data/toc.dat');

    const human = await runDr(['restore', '--repo', fileRepo, '--target', pgUrl(name), '--tables', 'alerts']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^restored 1 table\(s\) from backup \S+ of dr_clit_src_\w+ into /m);
    expect(human.stdout).toMatch(
      /^ {2}public\.alerts: 12 rows inserted, 12 replaced, 0 kept; previous rows kept in public\.alerts__dr_saved_\d{8}t\d{6}z/m,
    );
  });

  it('restores a date range from an s3:// repository', async () => {
    const repo = `s3://${await createTestBucket()}/cli`;
    const env = s3Env();
    const backup = await runDr(['backup', '--db', pgUrl(source), '--repo', repo, '--jobs', '2', '--json'], env);
    expect(backup.code, backup.stderr).toBe(0);
    const name = await copyOfSource();
    await withClient(name, (c) => c.query(`DELETE FROM candles WHERE time >= '2026-01-10' AND time < '2026-01-12'`));
    const run = await runDr(
      [
        'restore',
        '--repo',
        repo,
        '--target',
        pgUrl(name),
        '--tables',
        'candles',
        '--since',
        '2026-01-10T00:00:00Z',
        '--until',
        '2026-01-12T00:00:00Z',
        '--time-column',
        'time',
        '--json',
      ],
      env,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.json).toMatchObject({
      mode: 'range',
      range: { since: '2026-01-10T00:00:00.000Z', until: '2026-01-12T00:00:00.000Z' },
      tables: [{ table: 'public.candles', rowsReplaced: 0, safetyTable: null, timeColumn: 'time' }],
    });
    expect((run.json.tables as { rowsRestored: number }[])[0]!.rowsRestored).toBeGreaterThan(0);
    expect(run.json.files).toHaveLength(2);
    expect(await snapshot(name)).toEqual(await snapshot(source));
  });

  it('refuses bad flags with one line and leaves the target untouched', async () => {
    const name = await copyOfSource();
    await withClient(name, (c) => c.query(`UPDATE candles SET close = 1 WHERE symbol_id = 2`));
    const before = await snapshot(name);
    const base = ['restore', '--repo', fileRepo, '--target', pgUrl(name)];
    const cases: [string[], RegExp, number?][] = [
      [['--tables', 'nope'], /error: unknown table "nope" in backup \S+; known tables: .*public\.candles/],
      [
        ['--tables', 'candles', '--overwrite'],
        /error: --overwrite replaces a whole database and does not apply to --tables; drop it/,
        2,
      ],
      [['--tables', 'candles', '--with-globals'], /error: --with-globals applies to full restores only/, 2],
      [['--since', '2026-01-10T00:00:00Z', '--until', '2026-01-11T00:00:00Z'], /error: --since needs --tables/, 2],
      [
        ['--tables', 'candles', '--since', '2026-01-10T00:00:00Z'],
        /error: --since needs --until; give both --since and --until/,
        2,
      ],
      [
        ['--tables', 'candles', '--since', '2026-01-11T00:00:00Z', '--until', '2026-01-10T00:00:00Z'],
        /error: --since 2026-01-11T00:00:00Z is not before --until 2026-01-10T00:00:00Z/,
        2,
      ],
      [
        [
          '--tables',
          'candles',
          '--since',
          '2026-01-10T00:00:00Z',
          '--until',
          '2026-01-11T00:00:00Z',
          '--time-column',
          'volume',
        ],
        /error: unknown time column "volume" for public\.candles in the target \(it is numeric\); pass --time-column with one of: time/,
      ],
      [
        ['--tables', 'candles', '--since', '2027-01-10T00:00:00Z', '--until', '2027-01-11T00:00:00Z'],
        /error: range starts at 2027-01-10T00:00:00\.000Z, after the newest public\.candles row in backup/,
      ],
      [['--tables', 'candles', '--time-column', 'time'], /error: --time-column applies to range restores only/, 2],
    ];
    for (const [flags, pattern, code = 1] of cases) expectOneLineError(await runDr([...base, ...flags]), pattern, code);
    expect(await snapshot(name)).toEqual(before);
  });
});
