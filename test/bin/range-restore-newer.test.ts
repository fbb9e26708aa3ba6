/**
 * A date-range restore never silently deletes rows written after the backup: reaching past the
 * backup's newest row is refused (counting the newer target rows), --merge inserts only the
 * backup's missing rows and keeps the rest, --replace-newer replaces the range as asked. Through
 * the CLI against the real server, on plain PostgreSQL and on the TimescaleDB sample.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, dropDatabase, pgUrl, uniqueName, withClient } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { expectOneLineError, runDr } from '../support/cli.ts';

const source = uniqueName('dr_newer_src');
const databases: string[] = [source];
let dir: string;
let repo: string;
/** The day holding the backup's newest candle, as a range reaching past the backup. */
let since: string;
let until: string;

async function copyOfSource(): Promise<string> {
  const name = uniqueName('dr_newer_tgt');
  databases.push(name);
  await withClient('postgres', (c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${source}"`));
  return name;
}

/** 1,000 rows newer than anything in the backup, inside the range (ingest after the backup). */
async function ingestNewer(db: string): Promise<void> {
  await withClient(db, (c) =>
    c.query(`
    INSERT INTO candles (symbol_id, time, open, high, low, close, volume)
    SELECT s.id, m.t + g * interval '1 second', 1, 2, 1, 1.5, 10
      FROM (SELECT max(time) AS t FROM candles) m, (SELECT id FROM symbols ORDER BY id LIMIT 1) s, generate_series(1, 1000) g`),
  );
}

async function count(db: string, where = 'true'): Promise<number> {
  return withClient(db, async (c) =>
    Number((await c.query(`SELECT count(*) AS n FROM candles WHERE ${where}`)).rows[0].n),
  );
}

beforeAll(async () => {
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  const max = await withClient(
    source,
    async (c) =>
      (
        await c.query<{ d: string }>(
          `SELECT to_char(date_trunc('day', max(time) AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS d FROM candles`,
        )
      ).rows[0]!.d,
  );
  since = `${max}T00:00:00Z`;
  until = new Date(Date.parse(since) + 2 * 86_400_000).toISOString();
  dir = await mkdtemp(join(tmpdir(), 'dr-newer-repo-'));
  repo = `file://${dir}`;
  const backup = await runDr(['backup', '--db', pgUrl(source), '--repo', repo, '--jobs', '2', '-q']);
  expect(backup.code, backup.stderr).toBe(0);
});

afterAll(async () => {
  for (const db of databases) await dropDatabase(db);
  await rm(dir, { recursive: true, force: true });
});

describe('dr restore --since/--until past the backup', () => {
  it('is refused by default, counting the newer target rows, and leaves the target untouched', async () => {
    const name = await copyOfSource();
    await ingestNewer(name);
    const before = await count(name);
    const run = await runDr([
      'restore',
      '--repo',
      repo,
      '--target',
      pgUrl(name),
      '--tables',
      'candles',
      '--since',
      since,
      '--until',
      until,
    ]);
    expectOneLineError(
      run,
      /error: 1000 rows of public\.candles in \[.*\) are newer than backup \S+ \(its newest time is .*\): replacing the range would delete them; add --merge .* or --replace-newer/,
      1,
    );
    expect(await count(name)).toBe(before);
    const saved = await withClient(
      name,
      async (c) =>
        (await c.query(`SELECT count(*) AS n FROM pg_tables WHERE tablename LIKE 'candles__dr_saved_%'`)).rows[0].n,
    );
    expect(Number(saved)).toBe(0);
  });

  it('--merge inserts only the backup rows that are missing and keeps every target row, newer ones included', async () => {
    const name = await copyOfSource();
    await ingestNewer(name);
    const inRange = `time >= '${since}' AND time < '${until}'`;
    // Rows lost in the range (what the restore is for), and one row changed since the backup.
    const lost = await withClient(
      name,
      async (c) =>
        (await c.query(`DELETE FROM candles WHERE ${inRange} AND volume <> 10 AND symbol_id % 2 = 0`)).rowCount ?? 0,
    );
    expect(lost).toBeGreaterThan(0);
    await withClient(name, (c) =>
      c.query(
        `UPDATE candles SET close = 4242.4242 WHERE (symbol_id, time) = (SELECT symbol_id, time FROM candles WHERE ${inRange} AND volume <> 10 AND symbol_id % 2 = 1 LIMIT 1)`,
      ),
    );
    const kept = await count(name, inRange);
    const run = await runDr([
      'restore',
      '--repo',
      repo,
      '--target',
      pgUrl(name),
      '--tables',
      'candles',
      '--since',
      since,
      '--until',
      until,
      '--merge',
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.tables).toEqual([
      expect.objectContaining({
        table: 'public.candles',
        rowsRestored: lost,
        rowsReplaced: 0,
        rowsKept: kept,
        safetyTable: null,
      }),
    ]);
    expect(await count(name, inRange)).toBe(kept + lost);
    expect(await count(name, 'volume = 10')).toBe(1000);
    expect(await count(name, 'close = 4242.4242')).toBe(1);
    const human = await runDr([
      'restore',
      '--repo',
      repo,
      '--target',
      pgUrl(name),
      '--tables',
      'candles',
      '--since',
      since,
      '--until',
      until,
      '--merge',
    ]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/public\.candles \(by time\): 0 rows inserted, 0 replaced, \d+ kept/);
  });

  it('--merge works on whole tables too (no range)', async () => {
    const name = await copyOfSource();
    await ingestNewer(name);
    const lost = await withClient(
      name,
      async (c) => (await c.query(`DELETE FROM candles WHERE volume <> 10 AND symbol_id = 1`)).rowCount ?? 0,
    );
    const run = await runDr([
      'restore',
      '--repo',
      repo,
      '--target',
      pgUrl(name),
      '--tables',
      'candles',
      '--merge',
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.tables).toEqual([expect.objectContaining({ rowsRestored: lost, rowsReplaced: 0 })]);
    expect(await count(name)).toBe((await count(source)) + 1000);
  });

  it('--replace-newer replaces the range as asked, the newer rows kept in the safety table', async () => {
    const name = await copyOfSource();
    await ingestNewer(name);
    const run = await runDr([
      'restore',
      '--repo',
      repo,
      '--target',
      pgUrl(name),
      '--tables',
      'candles',
      '--since',
      since,
      '--until',
      until,
      '--replace-newer',
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const [table] = run.json.tables as [
      {
        rowsReplaced: number;
        rowsRestored: number;
        rowsKept: number;
        safetyTable: string;
      },
    ];
    expect(table.rowsReplaced - table.rowsRestored).toBe(1000);
    expect(table.rowsKept).toBe(0);
    expect(await count(name, 'volume = 10')).toBe(0);
    const saved = await withClient(name, async (c) =>
      Number((await c.query(`SELECT count(*) AS n FROM ${table.safetyTable} WHERE volume = 10`)).rows[0].n),
    );
    expect(saved).toBe(1000);
  });

  it('refuses --merge/--replace-newer where they do not apply (exit 2)', async () => {
    const name = await copyOfSource();
    const base = ['restore', '--repo', repo, '--target', pgUrl(name)];
    expectOneLineError(await runDr([...base, '--merge']), /--merge applies to table restores only/, 2);
    expectOneLineError(
      await runDr([...base, '--tables', 'candles', '--replace-newer']),
      /--replace-newer applies to range restores/,
      2,
    );
    expectOneLineError(
      await runDr([...base, '--tables', 'candles', '--since', since, '--until', until, '--merge', '--replace-newer']),
      /give one/,
      2,
    );
  });
});
