/**
 * `npm run bench:timescale` (also the last part of `npm run bench`): the platform's real shape on
 * TimescaleDB, about 5 M candle rows in weekly chunks, those older than a month compressed, plus
 * the sample's other hypertable, continuous aggregate and plain tables. Side by side, in one run:
 *   floor — bare `pg_dump -Fd -j N -Z1` (the gzip level of the files dr stores), and the best restore
 *           TimescaleDB's docs allow by hand: pre_restore, the catalog rows alone, the rest with
 *           `pg_restore -j N`, post_restore (and the materialized views after it, without which
 *           the hand-made restore populates them from the uncompressed chunks only);
 *   ours  — `dr backup` / `dr restore` through a file:// repository, and a one-day range restore
 *           of candles (inside a compressed chunk) into a copy of the source, against the full restore;
 *           beside it, what TimescaleDB alone takes to decompress and compress that day's chunk
 *           again, which any change to rows inside a compressed chunk costs.
 * The TimescaleDB server is a throwaway cluster like the tests' (fixtures/timescale-server.ts).
 * Env: BENCH_RUNS (default 3, the order rotated each run), BENCH_TMP (default os.tmpdir()),
 *      BENCH_TS_CANDLES (default 5000000).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createSampleDatabase } from '../fixtures/sample-database.ts';
import { copyDatabaseOn, startTimescaleServer } from '../fixtures/timescale-server.ts';
import { buildDr, formatBytes, formatSeconds, median, pathSize, runProcess } from './lib.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CANDLES = Number(process.env.BENCH_TS_CANDLES ?? 5_000_000);
const JOBS = availableParallelism();
let DR: string[] = [];
const SOURCE = 'dr_bench_ts_source';
/** A day inside a compressed chunk (chunks ending before 2026-01-01 are compressed). */
const RANGE = { since: '2025-11-12T00:00:00Z', until: '2025-11-13T00:00:00Z' };

type Step =
  | 'floor backup'
  | 'dr backup'
  | 'dr backup --no-fingerprints'
  | 'floor restore'
  | 'dr restore'
  | 'dr range restore';
const samples = new Map<Step, number[]>();
const record = (step: Step, ms: number) => {
  samples.set(step, [...(samples.get(step) ?? []), ms]);
  console.log(`  ${step.padEnd(28)} ${(ms / 1000).toFixed(1)} s`);
};

async function sql(url: string, text: string): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

const work = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), 'dr-bench-ts-'));
DR = await buildDr(work);
// Memory settings for a 5 M-row restore on this machine, the same for every method.
const server = await startTimescaleServer(
  '-c shared_buffers=1GB -c maintenance_work_mem=512MB -c max_wal_size=4GB -c checkpoint_timeout=30min',
);
const url = server.url;
try {
  console.log(`Building ${SOURCE}: ${CANDLES} candles on TimescaleDB (a few minutes)…`);
  await sql(url(), `CREATE DATABASE ${SOURCE}`);
  const info = await createSampleDatabase(url(SOURCE), { scale: CANDLES, timescale: true });
  const [chunks] = await sql(
    url(SOURCE),
    `SELECT count(*) AS n, count(*) FILTER (WHERE is_compressed) AS c FROM timescaledb_information.chunks WHERE hypertable_name = 'candles'`,
  );
  console.log(
    `Built in ${(info.elapsedMs / 1000).toFixed(0)} s: ${info.candles} candles in ${chunks!.n} chunks (${chunks!.c} compressed), ${formatBytes(info.sizeBytes)}.`,
  );
  const settle = () => sql(url(), 'CHECKPOINT');
  const version = (await sql(url(SOURCE), `SELECT extversion AS v FROM pg_extension WHERE extname = 'timescaledb'`))[0]!
    .v as string;

  const floorBackup = async (dir: string) => {
    await settle();
    const r = await runProcess('pg_dump', ['-Fd', '-j', String(JOBS), '-Z1', '-f', dir, '--dbname', url(SOURCE)]);
    record('floor backup', r.ms);
  };
  const drBackup = async (repo: string, fingerprints = true) => {
    await settle();
    const r = await runProcess(process.execPath, [
      ...DR,
      'backup',
      '--db',
      url(SOURCE),
      '--repo',
      repo,
      '--json',
      ...(fingerprints ? [] : ['--no-fingerprints']),
    ]);
    record(fingerprints ? 'dr backup' : 'dr backup --no-fingerprints', r.ms);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!).id as string;
  };
  /** The hand-made restore: the same four steps dr takes, typed by an expert. */
  const floorRestore = async (dir: string, run: number) => {
    const db = `dr_bench_ts_floor_${run}`;
    await sql(url(), `CREATE DATABASE ${db}`);
    await settle();
    const started = performance.now();
    await sql(url(db), `CREATE EXTENSION timescaledb VERSION '${version}'; SELECT timescaledb_pre_restore()`);
    const list = (await runProcess('pg_restore', ['-l', dir])).stdout.split('\n');
    const isCatalog = (l: string) => /(TABLE DATA|SEQUENCE SET) _timescaledb_(catalog|config) /.test(l);
    const isMatview = (l: string) => / MATERIALIZED VIEW DATA /.test(l);
    writeFileSync(join(work, 'catalog.list'), list.filter(isCatalog).join('\n'));
    writeFileSync(join(work, 'rest.list'), list.filter((l) => !isCatalog(l) && !isMatview(l)).join('\n'));
    writeFileSync(join(work, 'matviews.list'), list.filter(isMatview).join('\n'));
    await runProcess('pg_restore', ['--section=pre-data', '-d', url(db), dir]);
    await runProcess('pg_restore', ['--section=data', '-L', join(work, 'catalog.list'), '-d', url(db), dir]);
    await runProcess('pg_restore', [
      '-j',
      String(JOBS),
      '--section=data',
      '--section=post-data',
      '-L',
      join(work, 'rest.list'),
      '-d',
      url(db),
      dir,
    ]);
    await sql(url(db), 'SELECT timescaledb_post_restore()');
    await runProcess('pg_restore', ['--section=post-data', '-L', join(work, 'matviews.list'), '-d', url(db), dir]);
    record('floor restore', performance.now() - started);
    await sql(url(), `DROP DATABASE ${db} WITH (FORCE)`);
  };
  const drRestore = async (repo: string, id: string, run: number) => {
    const db = `dr_bench_ts_ours_${run}`;
    await settle();
    const r = await runProcess(process.execPath, [
      ...DR,
      'restore',
      '--repo',
      repo,
      '--backup',
      id,
      '--target',
      url(db),
      '--json',
    ]);
    record('dr restore', r.ms);
    await sql(url(), `DROP DATABASE ${db} WITH (FORCE)`);
  };
  const drRange = async (repo: string, id: string, run: number) => {
    const db = `dr_bench_ts_range_${run}`;
    await copyDatabaseOn(url(), SOURCE, db);
    await settle();
    const r = await runProcess(process.execPath, [
      ...DR,
      'restore',
      '--repo',
      repo,
      '--backup',
      id,
      '--target',
      url(db),
      '--tables',
      'candles',
      '--since',
      RANGE.since,
      '--until',
      RANGE.until,
      '--json',
    ]);
    record('dr range restore', r.ms);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    // TimescaleDB's own share of any change to that day: its rows share compressed batches (one per
    // symbol and chunk) with the rest of the week, so the chunk is decompressed and compressed again.
    await settle();
    const [chunk] = await sql(
      url(db),
      `SELECT format('%I.%I', chunk_schema, chunk_name) AS c FROM timescaledb_information.chunks
        WHERE hypertable_name = 'candles' AND range_start <= '${RANGE.since}' AND range_end > '${RANGE.since}'`,
    );
    const recompressStarted = performance.now();
    await sql(url(db), `SELECT decompress_chunk('${chunk!.c}'); SELECT compress_chunk('${chunk!.c}')`);
    const recompressMs = performance.now() - recompressStarted;
    await sql(url(), `DROP DATABASE ${db} WITH (FORCE)`);
    return {
      bytes: Number(result.bytes),
      backupBytes: Number(result.backupBytes),
      phases: result.phases as Record<string, number>,
      durationMs: Number(result.durationMs),
      recompressMs,
    };
  };

  let fetched: Awaited<ReturnType<typeof drRange>> = {
    bytes: 0,
    backupBytes: 0,
    phases: {},
    durationMs: 0,
    recompressMs: 0,
  };
  let sizes = { floor: 0, ours: 0 };
  for (let run = 1; run <= RUNS; run++) {
    console.log(`run ${run}/${RUNS}`);
    const dir = join(work, `floor-${run}`);
    const repoDir = join(work, `repo-${run}`);
    const repo = `file://${repoDir}`;
    // Rotate which goes first, so neither always meets a cold or a warm cache.
    let id: string;
    if (run % 2 === 1) {
      await floorBackup(dir);
      id = await drBackup(repo);
    } else {
      id = await drBackup(repo);
      await floorBackup(dir);
    }
    sizes = { floor: pathSize(dir), ours: pathSize(repoDir) };
    // What the content fingerprints (issue 15) cost here: the same backup without them.
    await drBackup(`${repo}-nofp`, false);
    rmSync(`${repoDir}-nofp`, { recursive: true, force: true });
    if (run % 2 === 1) {
      await floorRestore(dir, run);
      await drRestore(repo, id, run);
    } else {
      await drRestore(repo, id, run);
      await floorRestore(dir, run);
    }
    fetched = await drRange(repo, id, run);
    rmSync(dir, { recursive: true, force: true });
    rmSync(repoDir, { recursive: true, force: true });
  }

  const med = (step: Step) => median(samples.get(step)!);
  console.log(`\n=== TimescaleDB: ${RUNS} run(s), ${JOBS} jobs, ${CANDLES} candles — median (min–max) ===`);
  for (const [step, values] of samples) console.log(`${step.padEnd(30)}${formatSeconds(values)}`);
  console.log(`${'size floor / ours'.padEnd(30)}${formatBytes(sizes.floor)} / ${formatBytes(sizes.ours)}`);
  const ratio = (label: string, value: number, target: string, ok: boolean) =>
    console.log(`${label.padEnd(44)}${value.toFixed(2)}×  (target ${target}) ${ok ? 'OK' : 'MISSED'}`);
  console.log('');
  ratio(
    'backup dr/floor (pg_dump -Fd -j -Z1)',
    med('dr backup') / med('floor backup'),
    '≤ 1.2',
    med('dr backup') / med('floor backup') <= 1.2,
  );
  ratio(
    'backup dr --no-fingerprints/floor',
    med('dr backup --no-fingerprints') / med('floor backup'),
    '≤ 1.2',
    med('dr backup --no-fingerprints') / med('floor backup') <= 1.2,
  );
  ratio(
    'restore dr/floor (hand-made TimescaleDB)',
    med('dr restore') / med('floor restore'),
    '≤ 1.2',
    med('dr restore') / med('floor restore') <= 1.2,
  );
  ratio(
    'one-day range restore / full dr restore',
    med('dr range restore') / med('dr restore'),
    '< 0.1',
    med('dr range restore') / med('dr restore') < 0.1,
  );
  console.log(
    `${'range restore fetched'.padEnd(44)}${formatBytes(fetched.bytes)} of ${formatBytes(fetched.backupBytes)}`,
  );
  // Where the last range restore's time went (its --json phases); the rest of dr's own duration is
  // connecting, choosing the backup and the checks around them, and outside it the process start-up.
  const phases = Object.entries(fetched.phases)
    .map(([k, v]) => `${k.replace(/Ms$/, '')} ${(v / 1000).toFixed(2)} s`)
    .join(', ');
  console.log(
    `${'range restore phases (last run)'.padEnd(44)}${phases}; dr ${(fetched.durationMs / 1000).toFixed(2)} s of ${(samples.get('dr range restore')!.at(-1)! / 1000).toFixed(2)} s`,
  );
  // The least a change to that day can cost, done by TimescaleDB itself, against the same full restore.
  console.log(
    `${"TimescaleDB's share: the day's chunk".padEnd(44)}decompress + compress ${(fetched.recompressMs / 1000).toFixed(2)} s = ${(fetched.recompressMs / med('dr restore')).toFixed(2)}× the full restore (last run)`,
  );
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
