/**
 * A range restore of a table partitioned on a `timestamp without time zone` column, from a
 * session whose default time zone is not UTC (a server's TimeZone setting, or PGOPTIONS as here):
 * every partition the range touches is staged, so the range comes back whole.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../../core/backup/backup.ts';
import { openRepository, type Repository } from '../../../core/repository/index.ts';
import { runTableRestore } from '../../../core/restore/tables.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName, withClient } from '../../../fixtures/pg.ts';

const source = uniqueName('dr_tzsrc');
const databases: string[] = [source];
let repoDir: string;
let repo: Repository;

beforeAll(async () => {
  await createDatabase(source);
  await withClient(source, (c) =>
    c.query(`
    CREATE TABLE readings (time timestamp NOT NULL, v int NOT NULL) PARTITION BY RANGE (time);
    CREATE TABLE readings_2026_01 PARTITION OF readings FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
    CREATE TABLE readings_2026_02 PARTITION OF readings FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
    INSERT INTO readings SELECT t, 1 FROM generate_series(timestamp '2026-01-31 22:00', timestamp '2026-02-01 02:00', interval '10 minutes') t`),
  );
  repoDir = await mkdtemp(join(tmpdir(), 'dr-tzrepo-'));
  repo = openRepository(`file://${repoDir}`);
  await runBackup({ db: pgUrl(source), repository: repo, jobs: 1 });
});

afterAll(async () => {
  for (const name of databases) await dropDatabase(name);
  if (repoDir) await rm(repoDir, { recursive: true, force: true });
});

describe('range restore in a non-UTC session', () => {
  it('a range across a partition boundary of a timestamp column comes back whole', async () => {
    const name = uniqueName('dr_tztgt');
    databases.push(name);
    await withClient('postgres', (c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${source}"`));
    await withClient(name, (c) => c.query('UPDATE readings SET v = 2'));
    const since = '2026-01-31T23:30:00Z';
    const until = '2026-02-01T00:30:00Z';
    const previous = process.env.PGOPTIONS;
    // UTC+3: read in this zone, the range lies wholly in February's partition.
    process.env.PGOPTIONS = '-c TimeZone=Etc/GMT-3';
    try {
      await runTableRestore({
        repository: repo,
        backup: 'latest',
        target: pgUrl(name),
        tables: ['readings'],
        since,
        until,
        timeColumn: 'time',
        jobs: 1,
      });
    } finally {
      if (previous === undefined) delete process.env.PGOPTIONS;
      else process.env.PGOPTIONS = previous;
    }
    const rows = await withClient(
      name,
      async (c) =>
        (
          await c.query<{ t: string; v: number }>(
            `SELECT to_char(time, 'YYYY-MM-DD HH24:MI') AS t, v FROM readings WHERE time >= '2026-01-31 23:30' AND time < '2026-02-01 00:30' ORDER BY time`,
          )
        ).rows,
    );
    expect(rows).toEqual(
      [
        '2026-01-31 23:30',
        '2026-01-31 23:40',
        '2026-01-31 23:50',
        '2026-02-01 00:00',
        '2026-02-01 00:10',
        '2026-02-01 00:20',
      ].map((t) => ({ t, v: 1 })),
    );
  });
});
