/**
 * Point-in-time recovery of the platform's TimescaleDB database: a throwaway cluster that preloads
 * TimescaleDB and archives with pgBackRest; `dr restore --at T` into a database on the run's
 * TimescaleDB server returns the database as it was at T (rows, compressed chunks, the continuous
 * aggregate), and a range restore of candles at T puts back just that day.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ArchivingCluster, startArchivingCluster } from '../../../fixtures/pitr.ts';
import { createSampleDatabase } from '../../../fixtures/sample-database.ts';
import { runDr } from '../../support/cli.ts';
import {
  copyDatabase,
  createTimescaleDatabase,
  dropTimescaleDatabase,
  timescaleUrl,
  withTimescaleClient,
} from '../../support/timescale.ts';

let cluster: ArchivingCluster;
let workDir: string;
let T: string;
const targets: string[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DAY = "time >= '2025-10-10T00:00:00Z' AND time < '2025-10-11T00:00:00Z'";

/** What a user sees of the platform database: candles (all, and one day), compressed chunks, the aggregate. */
async function state(query: (sql: string) => Promise<unknown>) {
  return {
    candles: await query(`SELECT count(*)::int AS n, sum(volume)::text AS v FROM candles`),
    day: await query(`SELECT string_agg(c::text, '|' ORDER BY symbol_id, time) AS r FROM candles c WHERE ${DAY}`),
    compressed: await query(
      `SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'candles' AND is_compressed`,
    ),
    aggregate: await query(`SELECT count(*)::int AS n FROM candles_daily`),
  };
}
const onCluster = (sql: string) =>
  cluster
    .query('crypto_stock', `SET TimeZone = 'UTC'; ${sql}`.replace(/^SET TimeZone = 'UTC'; /, ''))
    .then((r) => r[0]);
const onTarget = (db: string) => (sql: string) =>
  withTimescaleClient(db, async (c) => {
    await c.query(`SET TimeZone = 'UTC'`);
    return (await c.query(sql)).rows[0];
  });

let atT: Awaited<ReturnType<typeof state>>;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'dr-pitr-ts-test-'));
  await chmod(workDir, 0o755);
  cluster = await startArchivingCluster('crypto_stock', { timescale: true });
  await cluster.pgbackrest('stanza-create');
  await cluster.query('postgres', 'CREATE DATABASE crypto_stock');
  await createSampleDatabase(cluster.url('crypto_stock'), { scale: 'test', timescale: true });
  await cluster.pgbackrest('--type=full', 'backup');
  // pgBackRest records whole seconds: a target counts as after the backup one second past its stop.
  await sleep(1100);
  await cluster.query('crypto_stock', `UPDATE candles SET volume = volume + 1 WHERE ${DAY}`);
  await sleep(50);
  T = (
    await cluster.query<{ t: string }>(
      'postgres',
      `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
    )
  )[0]!.t;
  await sleep(50);
  atT = await state(onCluster);
  // After T: a day's rows deleted inside a compressed chunk, and more.
  await cluster.query('crypto_stock', `DELETE FROM candles WHERE ${DAY}`);
  await cluster.query('crypto_stock', `DELETE FROM candles WHERE time >= '2026-01-20'`);
  await cluster.switchWalAndWait();
  await sleep(1100);
  expect((await state(onCluster)).candles).not.toEqual(atT.candles);
});

afterAll(async () => {
  await cluster?.stop();
  for (const db of targets) await dropTimescaleDatabase(db);
  await rm(workDir, { recursive: true, force: true });
});

const pitr = (args: string[]) =>
  runDr([
    'restore',
    '--pitr',
    cluster.repoUrl,
    '--stanza',
    'crypto_stock',
    '--database',
    'crypto_stock',
    '--work-dir',
    workDir,
    '--at',
    T,
    ...args,
  ]);

describe('point-in-time recovery of a TimescaleDB database', () => {
  it('dr restore --at T into a new database: candles, compressed chunks and the continuous aggregate as they were at T', async () => {
    const target = `dr_pitr_ts_${Date.now().toString(36)}`;
    targets.push(target);
    const r = await pitr(['--target', timescaleUrl(target), '--no-owner', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(await state(onTarget(target))).toEqual(atT);
  });

  it('a range restore of candles at T puts back the day deleted after T, compressed again, the rest untouched', async () => {
    // The live database as it is now (the day and the newest rows deleted), as the target.
    const live = await createTimescaleDatabase('dr_pitr_ts_live');
    targets.push(live);
    await dropTimescaleDatabase(live);
    const dump = await runDr([
      'restore',
      '--pitr',
      cluster.repoUrl,
      '--stanza',
      'crypto_stock',
      '--database',
      'crypto_stock',
      '--work-dir',
      workDir,
      '--latest',
      '--target',
      timescaleUrl(live),
      '--no-owner',
      '--json',
    ]);
    expect(dump.code, dump.stderr).toBe(0);
    const copy = await createTimescaleDatabase('dr_pitr_ts_range');
    targets.push(copy);
    await dropTimescaleDatabase(copy);
    await copyDatabase(live, copy);
    const before = await state(onTarget(copy));
    expect(before.day).toEqual({ r: null });
    const r = await pitr([
      '--target',
      timescaleUrl(copy),
      '--tables',
      'candles',
      '--since',
      '2025-10-10T00:00:00Z',
      '--until',
      '2025-10-11T00:00:00Z',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const after = await state(onTarget(copy));
    expect(after.day).toEqual(atT.day);
    expect(after.compressed).toEqual(before.compressed);
    expect(after.candles).not.toEqual(atT.candles); // the rows deleted after 2026-01-20 stay deleted
  });
});
