/**
 * A backup counts the rows of fingerprinted tables, and takes their newest time, from the dump's
 * own COPY text instead of scanning them again. Whatever the path, the manifest must say what
 * count(*) and max()::text say in the dump's snapshot: checked here against a scan of every table
 * of a real database built to reach each way a count is taken (from the dump; scanned, because
 * the text cannot tell the newest time, the freshness column is not in the COPY text, or nothing
 * is fingerprinted).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../../core/backup/backup.ts';
import * as catalog from '../../../core/backup/catalog.ts';
import { readManifest } from '../../../core/repository/backups.ts';
import { openRepository } from '../../../core/repository/index.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName, withClient } from '../../../fixtures/pg.ts';

const source = uniqueName('dr_counts');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dr-counts-'));
  await createDatabase(source);
  await withClient(source, (c) =>
    c.query(`
      SET TimeZone = 'Asia/Kolkata';
      CREATE TABLE ticks (id bigint PRIMARY KEY, time timestamptz NOT NULL, price numeric);
      INSERT INTO ticks SELECT g, '2026-01-10 00:00:00+00'::timestamptz + g * interval '1.25 second', g FROM generate_series(1, 20000) g;
      -- The newest time has a fraction, and a row without one comes after it.
      INSERT INTO ticks VALUES (20001, '2026-01-11 00:00:00.5+00', 1), (20002, '2026-01-11 00:00:00+00', 2);
      CREATE TABLE forever (id int, time timestamptz);
      INSERT INTO forever VALUES (1, '2026-01-10'), (2, 'infinity'), (3, NULL);
      CREATE TABLE local_times (id int, recorded_at timestamp);
      INSERT INTO local_times SELECT g, '2026-02-01'::timestamp + g * interval '1 minute' FROM generate_series(1, 500) g;
      CREATE TABLE days (id int, day date);
      INSERT INTO days SELECT g, '2025-12-31'::date + g FROM generate_series(1, 40) g;
      CREATE TABLE derived (id int, at timestamp GENERATED ALWAYS AS ('2026-03-01'::timestamp + id * interval '1 hour') STORED);
      INSERT INTO derived SELECT g FROM generate_series(1, 30) g;
      CREATE TABLE nothing_yet (id int, time timestamptz);
      CREATE TABLE symbols (id int, name text);
      INSERT INTO symbols SELECT g, 'S' || g FROM generate_series(1, 300) g;
      CREATE TABLE candles (symbol int, time timestamptz, close numeric) PARTITION BY RANGE (time);
      CREATE TABLE candles_2026_01 PARTITION OF candles FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
      CREATE TABLE candles_2026_02 PARTITION OF candles FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
      INSERT INTO candles SELECT g % 7, '2026-01-20'::timestamptz + g * interval '10 minutes', g FROM generate_series(1, 5000) g;
      CREATE MATERIALIZED VIEW daily AS SELECT date_trunc('day', time) AS time, count(*) FROM ticks GROUP BY 1;
    `),
  );
});

afterAll(async () => {
  await dropDatabase(source);
  await rm(dir, { recursive: true, force: true });
});

/** Each table's rows and newest time by a scan of every table. */
async function scanned(): Promise<Record<string, { rows: number; maxTime: string | null | undefined }>> {
  return withClient(source, async (c) => {
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    const tables = await catalog.tables(c);
    await c.query('COMMIT');
    return Object.fromEntries(tables.map((t) => [`${t.schema}.${t.name}`, { rows: t.rows, maxTime: t.maxTime }]));
  });
}

/** Scans of each table so far (sequential and index), once every session that ran them has ended. */
async function scans(): Promise<Record<string, number>> {
  const read = () =>
    withClient(source, async (c) => {
      const { rows } = await c.query<{ name: string; n: string }>(
        `SELECT relname AS name, (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::text AS n FROM pg_stat_user_tables`,
      );
      return Object.fromEntries(rows.map((r) => [r.name, Number(r.n)]));
    });
  // A session's statistics reach the shared ones as it exits: wait until they stop moving.
  let last = await read();
  for (;;) {
    await new Promise((r) => setTimeout(r, 300));
    const now = await read();
    if (JSON.stringify(now) === JSON.stringify(last)) return now;
    last = now;
  }
}

describe('row counts and newest times in the manifest', () => {
  it('come from the dump for a table whose COPY text tells them: it is read once, by pg_dump', async () => {
    const repo = await openRepository(`file://${join(dir, 'repo-scans')}`);
    const before = await scans();
    await runBackup({ db: pgUrl(source), repository: repo, jobs: 2 });
    const after = await scans();
    const delta = (t: string) => after[t]! - before[t]!;
    expect([delta('ticks'), delta('local_times'), delta('days'), delta('candles_2026_01')]).toEqual([1, 1, 1, 1]);
    // infinity, and a generated freshness column that COPY leaves out: counted by a scan too.
    expect([delta('forever'), delta('derived')]).toEqual([2, 2]);
  });

  it.each([
    { fingerprints: true, jobs: 2 },
    { fingerprints: true, jobs: 1 },
    { fingerprints: false, jobs: 2 },
  ])(
    'are those of count(*) and max()::text, fingerprints $fingerprints, --jobs $jobs',
    async ({ fingerprints, jobs }) => {
      const repo = await openRepository(`file://${join(dir, `repo-${fingerprints}-${jobs}`)}`);
      const { id } = await runBackup({ db: pgUrl(source), repository: repo, jobs, fingerprints });
      const manifest = await readManifest(repo, source, id);
      const recorded = Object.fromEntries(
        manifest.tables.map((t) => [`${t.schema}.${t.name}`, { rows: t.rows, maxTime: t.maxTime }]),
      );
      const expected = await scanned();
      expect(recorded).toEqual(expected);
      // The cases this database was built for.
      expect(expected['public.ticks']).toEqual({ rows: 20002, maxTime: '2026-01-11 00:00:00.5+00' });
      expect(expected['public.forever']!.maxTime).toBe('infinity');
      expect(expected['public.derived']!.maxTime).toBe('2026-03-02 06:00:00');
      expect(expected['public.nothing_yet']).toEqual({ rows: 0, maxTime: null });
      expect(expected['public.candles']!.rows).toBe(5000);
      expect(fingerprints ? manifest.fingerprints?.relations.length : undefined).toBe(fingerprints ? 9 : undefined);
    },
  );
});
