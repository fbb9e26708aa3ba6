/**
 * `npm run bench`: backup and restore of a ≈1 GB market-data database, three ways side by side:
 *   guide — the recovery guide's `pg_dump | gzip` and `gunzip -c | psql`;
 *   floor — bare `pg_dump -Fd -j N -Z1` / `pg_restore -j N`, the best pg alone can do here at the
 *           compression of the files dr stores (gzip level 1, which dr applies to pg_dump's output);
 *   ours  — `dr backup` / `dr restore` through a file:// and an s3:// (s3rver) repository, then
 *           `dr restore --tables candles` and a one-day range restore of candles, each into a copy
 *           of the source, side by side with the full restore.
 * Env: BENCH_RUNS (default 4, one per rotation of the order), BENCH_TMP (default os.tmpdir()), BENCH_SKIP_GUIDE=1,
 *      BENCH_DR_TIMEOUT (seconds a dr command may take before it counts as hung, default 600),
 *      BENCH_ONLY_OURS=1 (skip guide and floor: only dr's backup, full, table and range restores).
 * Also printed: where dr backup's time goes (start-up, before pg_dump, pg_dump, after it, manifest),
 * its CPU time (dr's process with row hashing's share, pg_dump, the server and the rest) against the floor's,
 * dr --help and dr list start-up, the read-back check's cost (s3:// backup with and without it),
 * and progress output's (file:// backup with and without --quiet).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createDatabase, databaseExists, dropDatabase, pgUrl, withClient } from '../fixtures/pg.ts';
import { s3ClientFor, s3EnvFor, startS3rver } from '../fixtures/s3rver.ts';
import { createSampleDatabase, sampleSize } from '../fixtures/sample-database.ts';
import {
  buildDr,
  formatBytes,
  formatSeconds,
  median,
  ProcessFailed,
  pathSize,
  processCpuMs,
  runProcess,
  runShell,
} from './lib.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 4);
const JOBS = availableParallelism();
const DR_TIMEOUT_MS = Number(process.env.BENCH_DR_TIMEOUT ?? 600) * 1000;
const SOURCE = 'dr_bench_source';
const SOURCE_URL = pgUrl(SOURCE);
/** dr as shipped: the esbuild bundle (scripts/build-cli.mjs), built fresh into the run's work folder by main(). */
let DR: string[] = [];
/** Written as the database comment only once the build committed, so a half-built source is rebuilt. */
const MARKER = `crypto-stock-dr bench source v1: ${sampleSize('bench').candles} candles, complete`;

type Method = 'guide' | 'floor' | 'ours file://' | 'ours s3://';

interface Sample {
  backupMs: number;
  restoreMs: number;
  size: number;
  backupRss: number;
  restoreRss: number;
  /**
   * CPU time of the backup, ms: the whole machine's, the command's process tree's, and (dr only,
   * from its --json result) dr's own process and its row hashing: tree minus own is pg_dump.
   */
  backupCpu?: { machine: number; tree: number; dr?: number; rowHashing?: number; s3rver?: number };
  /** dr backup's own phases (its --json result) and the process start-up around them. */
  phases?: Record<string, number>;
  startupMs?: number;
  /** dr restore --tables candles, and a one-day range of it (ours only). */
  tableMs?: number;
  rangeMs?: number;
  /** Bytes the table restore fetched / the whole backup's bytes. */
  tableBytes?: number;
  backupBytes?: number;
  rangeBytes?: number;
}

/** The day the range restore puts back (the source's rows end 2026-02-01). */
const RANGE = { since: '2026-01-15T00:00:00Z', until: '2026-01-16T00:00:00Z' };

const results = new Map<Method, Sample[]>();
/** Lines of the side measurements (start-up, read-back, progress), printed with the report. */
const extras: string[] = [];

/** Median wall time of `runs` runs of dr with `args`. */
async function timeDr(args: string[], env: NodeJS.ProcessEnv = {}, runs = 5): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++)
    ms.push((await runProcess(process.execPath, [...DR, ...args], { env, timeoutMs: DR_TIMEOUT_MS })).ms);
  return median(ms);
}

/** dr --help / dr list start-up; the read-back check's cost; progress output's cost. */
async function sideMeasurements(work: string, s3Env: NodeJS.ProcessEnv): Promise<void> {
  const emptyRepo = mkdtempSync(join(work, 'empty-'));
  const help = await timeDr(['--help']);
  const list = await timeDr(['list', '--repo', `file://${emptyRepo}`]);
  extras.push(
    `${'dr --help / dr list (file://) start-up'.padEnd(40)}${(help / 1000).toFixed(2)} s / ${(list / 1000).toFixed(2)} s  (target < 0.3 s / < 0.5 s) ${help < 300 && list < 500 ? 'OK' : 'MISSED'}`,
  );
  const backupOnce = async (repo: string, env: NodeJS.ProcessEnv, extra: string[] = []) => {
    await settle();
    return (
      await runProcess(process.execPath, [...DR, 'backup', '--db', SOURCE_URL, '--repo', repo, '--json', ...extra], {
        env,
        timeoutMs: DR_TIMEOUT_MS,
      })
    ).ms;
  };
  const withCheck = await backupOnce('s3://dr-bench/readback-on', s3Env);
  const withoutCheck = await backupOnce('s3://dr-bench/readback-off', { ...s3Env, DR_S3_SKIP_READBACK: '1' });
  extras.push(
    `${'read-back check (s3://, one run each)'.padEnd(40)}${(withCheck / 1000).toFixed(1)} s with, ${(withoutCheck / 1000).toFixed(1)} s without: ${(((withCheck - withoutCheck) / withoutCheck) * 100).toFixed(1)}%  (target < 5%)`,
  );
  const progress = await backupOnce(`file://${join(work, 'progress-on')}`, {});
  const quiet = await backupOnce(`file://${join(work, 'progress-off')}`, {}, ['--quiet']);
  extras.push(
    `${'progress output (file://, one run each)'.padEnd(40)}${(progress / 1000).toFixed(1)} s with, ${(quiet / 1000).toFixed(1)} s with --quiet: ${(((progress - quiet) / quiet) * 100).toFixed(1)}% (noise level: one line per phase and every 30 s)`,
  );
  rmSync(emptyRepo, { recursive: true, force: true });
}
function record(method: Method, sample: Sample): void {
  results.set(method, [...(results.get(method) ?? []), sample]);
  console.log(
    `  ${method.padEnd(13)} backup ${(sample.backupMs / 1000).toFixed(1)} s, restore ${(sample.restoreMs / 1000).toFixed(1)} s, ${formatBytes(sample.size)}`,
  );
}

async function ensureSource(): Promise<void> {
  if (await databaseExists(SOURCE)) {
    const comment = await withClient(
      'postgres',
      async (c) =>
        (
          await c.query(`SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`, [
            SOURCE,
          ])
        ).rows[0]?.comment,
    );
    if (comment === MARKER) {
      console.log(`Reusing ${SOURCE} (${MARKER}).`);
      return;
    }
    console.log(`${SOURCE} exists but is incomplete or outdated: rebuilding.`);
    await dropDatabase(SOURCE);
  }
  console.log(`Building ${SOURCE} at scale 'bench' (a few minutes)…`);
  const info = await createSampleDatabase(await createDatabase(SOURCE), { scale: 'bench' });
  await withClient('postgres', (c) => c.query(`COMMENT ON DATABASE "${SOURCE}" IS '${MARKER}'`));
  console.log(
    `Built in ${(info.elapsedMs / 1000).toFixed(0)} s: ${info.candles} candles, ${formatBytes(info.sizeBytes)}.`,
  );
}

/**
 * Every timed step starts from the same state: the previous step's writes (a 1 GB restore, a
 * dropped database) are checkpointed first, so their cost is not charged to whoever runs next.
 */
async function settle(): Promise<void> {
  await withClient('postgres', (c) => c.query('CHECKPOINT'));
}

/** Restores into a database created for it and dropped right after. */
async function intoFreshDatabase(name: string, restore: (url: string) => Promise<{ ms: number; peakRss: number }>) {
  await dropDatabase(name);
  try {
    const url = await createDatabase(name);
    await settle();
    return await restore(url);
  } finally {
    await dropDatabase(name);
  }
}

async function benchGuide(dir: string, run: number): Promise<void> {
  const file = join(dir, 'guide.sql.gz');
  await settle();
  const backup = await runShell('pg_dump --dbname "$SRC" | gzip > "$FILE"', { SRC: SOURCE_URL, FILE: file });
  // ON_ERROR_STOP only makes a broken restore fail loudly; it does not change the work done.
  const restore = await intoFreshDatabase(`dr_bench_guide_${run}`, (url) =>
    runShell('gunzip -c "$FILE" | psql -q -v ON_ERROR_STOP=1 -d "$DST"', { FILE: file, DST: url }),
  );
  record('guide', { backupMs: backup.ms, restoreMs: restore.ms, size: pathSize(file), backupRss: 0, restoreRss: 0 });
}

async function benchFloor(dir: string, run: number): Promise<void> {
  const out = join(dir, 'floor');
  await settle();
  const backup = await runProcess('pg_dump', [
    '-Fd',
    '-j',
    String(JOBS),
    '--compress=1',
    '-f',
    out,
    '--dbname',
    SOURCE_URL,
  ]);
  const restore = await intoFreshDatabase(`dr_bench_floor_${run}`, (url) =>
    runProcess('pg_restore', ['-j', String(JOBS), '-d', url, out]),
  );
  record('floor', {
    backupMs: backup.ms,
    restoreMs: restore.ms,
    size: pathSize(out),
    backupRss: 0,
    restoreRss: 0,
    backupCpu: { machine: backup.machineCpuMs, tree: backup.treeCpuMs },
  });
}

async function benchOurs(
  method: Method,
  repo: string,
  env: NodeJS.ProcessEnv,
  size: () => Promise<number>,
  run: number,
  /** CPU time of the store's own process so far (s3rver), to count apart; @default - none */
  storeCpuMs?: () => number,
) {
  await settle();
  const storeCpuBefore = storeCpuMs?.();
  const backup = await runProcess(process.execPath, [...DR, 'backup', '--db', SOURCE_URL, '--repo', repo, '--json'], {
    env,
    sampleRss: true,
    timeoutMs: DR_TIMEOUT_MS,
  });
  const storeCpu = storeCpuMs && storeCpuBefore !== undefined ? storeCpuMs() - storeCpuBefore : undefined;
  const backupResult = lastJsonLine(backup.stdout);
  const id = backupResult.id;
  const phases = backupResult.phases as Record<string, number> | undefined;
  // Outside dr's own phases: process start-up (and exit).
  const startupMs = phases
    ? backup.ms -
      Object.entries(phases)
        .filter(([k]) => k !== 'catalogMs')
        .reduce((n, [, v]) => n + v, 0)
    : undefined;
  if (typeof id !== 'string') throw new Error(`dr backup --json printed no id: ${backup.stdout.slice(-500)}`);
  const target = `dr_bench_ours_${method === 'ours s3://' ? 's3' : 'file'}_${run}`;
  const restore = await intoFreshDatabase(target, (url) =>
    runProcess(process.execPath, [...DR, 'restore', '--repo', repo, '--backup', id, '--target', url, '--json'], {
      env,
      sampleRss: true,
      timeoutMs: DR_TIMEOUT_MS,
    }),
  );
  const tables = await intoCopyOfSource(`${target}_tables`, (url) =>
    runProcess(
      process.execPath,
      [...DR, 'restore', '--repo', repo, '--backup', id, '--target', url, '--tables', 'candles', '--json'],
      { env, timeoutMs: DR_TIMEOUT_MS },
    ),
  );
  const range = await intoCopyOfSource(`${target}_range`, (url) =>
    runProcess(
      process.execPath,
      [
        ...DR,
        'restore',
        '--repo',
        repo,
        '--backup',
        id,
        '--target',
        url,
        '--tables',
        'candles',
        '--since',
        RANGE.since,
        '--until',
        RANGE.until,
        '--json',
      ],
      { env, timeoutMs: DR_TIMEOUT_MS },
    ),
  );
  const tableResult = lastJsonLine(tables.stdout);
  const rangeResult = lastJsonLine(range.stdout);
  console.log(
    `  ${method.padEnd(13)} table restore (candles) ${(tables.ms / 1000).toFixed(1)} s, one-day range ${(range.ms / 1000).toFixed(1)} s`,
  );
  record(method, {
    backupMs: backup.ms,
    restoreMs: restore.ms,
    size: await size(),
    backupRss: backup.peakRss,
    restoreRss: restore.peakRss,
    tableMs: tables.ms,
    rangeMs: range.ms,
    phases,
    startupMs,
    backupCpu: {
      machine: backup.machineCpuMs,
      tree: backup.treeCpuMs,
      dr: Number((backupResult.cpu as { processMs?: number } | undefined)?.processMs),
      rowHashing: Number((backupResult.cpu as { rowHashingMs?: number } | undefined)?.rowHashingMs),
      s3rver: storeCpu,
    },
    tableBytes: Number(tableResult.bytes),
    backupBytes: Number(tableResult.backupBytes),
    rangeBytes: Number(rangeResult.bytes),
  });
}

/** A table restore goes into an existing database: a copy of the source (made untimed), dropped right after. */
async function intoCopyOfSource(name: string, restore: (url: string) => Promise<{ ms: number; stdout: string }>) {
  await dropDatabase(name);
  try {
    await withClient('postgres', (c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${SOURCE}"`));
    await settle();
    return await restore(pgUrl(name));
  } finally {
    await dropDatabase(name);
  }
}

function lastJsonLine(stdout: string): Record<string, unknown> {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new Error(`expected a JSON line last on stdout, got: ${line.slice(0, 300)}`);
  }
}

/** A real s3rver in its own process, as in the tests; returns the dr processes' env. */
async function startBenchS3rver(directory: string) {
  const s3rver = await startS3rver(directory);
  const env = s3EnvFor(s3rver.endpoint);
  const client = s3ClientFor(s3rver.endpoint);
  await client.send(new CreateBucketCommand({ Bucket: 'dr-bench' }));
  const prefixSize = async (prefix: string) => {
    let total = 0;
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: 'dr-bench', Prefix: prefix, ContinuationToken: token }),
      );
      total += (page.Contents ?? []).reduce((sum, o) => sum + (o.Size ?? 0), 0);
      token = page.NextContinuationToken;
    } while (token);
    return total;
  };
  const stop = async () => {
    client.destroy();
    await s3rver.stop();
  };
  return { env, prefixSize, stop, cpuMs: () => processCpuMs(s3rver.pid) };
}

function report(): void {
  const get = (m: Method) => results.get(m) ?? [];
  const med = (m: Method, key: keyof Sample) => median(get(m).map((s) => Number(s[key] ?? NaN)));
  console.log(`\n=== ${RUNS} run(s), ${JOBS} jobs, source ${SOURCE} — median (min–max) ===`);
  console.log(
    `${'method'.padEnd(14)}${'backup'.padEnd(22)}${'restore'.padEnd(22)}${'size'.padEnd(12)}dr peak RSS backup / restore`,
  );
  for (const [method, samples] of results) {
    const rss = method.startsWith('ours')
      ? `${formatBytes(Math.max(...samples.map((s) => s.backupRss)))} / ${formatBytes(Math.max(...samples.map((s) => s.restoreRss)))}`
      : '-';
    console.log(
      `${method.padEnd(14)}${formatSeconds(samples.map((s) => s.backupMs)).padEnd(22)}` +
        `${formatSeconds(samples.map((s) => s.restoreMs)).padEnd(22)}${formatBytes(med(method, 'size')).padEnd(12)}${rss}`,
    );
  }
  const ratio = (label: string, value: number, target: string, ok: boolean) => {
    if (Number.isFinite(value))
      console.log(`${label.padEnd(40)}${value.toFixed(2)}×  (target ${target}) ${ok ? 'OK' : 'MISSED'}`);
  };
  console.log('');
  for (const ours of ['ours file://', 'ours s3://'] as const) {
    if (get(ours).length === 0) continue;
    const backupGuide = med('guide', 'backupMs') / med(ours, 'backupMs');
    const backupFloor = med(ours, 'backupMs') / med('floor', 'backupMs');
    const restoreFloor = med(ours, 'restoreMs') / med('floor', 'restoreMs');
    const restoreGuide = med('guide', 'restoreMs') / med(ours, 'restoreMs');
    ratio(`backup guide/ours (${ours})`, backupGuide, '≥ 3', backupGuide >= 3);
    ratio(`backup ours/floor (${ours})`, backupFloor, '≤ 1.2', backupFloor <= 1.2);
    ratio(`restore ours/floor (${ours})`, restoreFloor, '≤ 1.15', restoreFloor <= 1.15);
    ratio(`restore guide/ours (${ours})`, restoreGuide, 'info', true);
    const peak = Math.max(...get(ours).flatMap((s) => [s.backupRss, s.restoreRss]));
    console.log(
      `${`dr peak RSS (${ours})`.padEnd(40)}${formatBytes(peak)}  (target < 200 MB) ${peak < 200 * 1024 ** 2 ? 'OK' : 'MISSED'}`,
    );
  }
  for (const ours of ['ours file://', 'ours s3://'] as const) {
    const samples = get(ours).filter((s) => s.tableMs !== undefined);
    if (samples.length === 0) continue;
    const full = med(ours, 'restoreMs');
    const table = median(samples.map((s) => s.tableMs!));
    const range = median(samples.map((s) => s.rangeMs!));
    const share = samples[0]!.tableBytes! / samples[0]!.backupBytes!;
    console.log(
      `${`table restore candles (${ours})`.padEnd(40)}${formatSeconds(samples.map((s) => s.tableMs!))}  = ${(table / full).toFixed(2)}× the full restore; candles are ${(share * 100).toFixed(0)}% of the backup's bytes`,
    );
    console.log(
      `${`one-day range restore (${ours})`.padEnd(40)}${formatSeconds(samples.map((s) => s.rangeMs!))}  = ${(range / full).toFixed(2)}× the full restore; fetched ${formatBytes(samples[0]!.rangeBytes!)} of ${formatBytes(samples[0]!.backupBytes!)}`,
    );
  }
  for (const ours of ['ours file://', 'ours s3://'] as const) {
    const samples = get(ours).filter((s) => s.phases);
    if (samples.length === 0) continue;
    const m = (f: (s: Sample) => number) => median(samples.map(f)) / 1000;
    const p = (k: string) => m((s) => s.phases![k]!);
    console.log(
      `${`dr backup breakdown (${ours})`.padEnd(40)}start-up ${m((s) => s.startupMs!).toFixed(2)} s + before pg_dump ${p('prepareMs').toFixed(2)} s` +
        ` + pg_dump ${p('dumpMs').toFixed(2)} s (catalog queries ${p('catalogMs').toFixed(2)} s of it, uploads overlap) + uploads after pg_dump ${p('afterDumpMs').toFixed(2)} s` +
        ` + waiting for content fingerprints ${p('fingerprintWaitMs').toFixed(2)} s + manifest ${p('finishMs').toFixed(2)} s`,
    );
  }
  // On a machine whose cores are all busy, a backup's wall time follows the CPU time it needs.
  const cpuOf = (method: Method) => {
    const samples = get(method).filter((s) => s.backupCpu);
    const m = (f: (c: NonNullable<Sample['backupCpu']>) => number) =>
      median(samples.map((s) => f(s.backupCpu!))) / 1000;
    return { samples, m };
  };
  const floorCpu = cpuOf('floor');
  if (floorCpu.samples.length)
    console.log(
      `${'backup CPU time (floor)'.padEnd(40)}${floorCpu.m((c) => c.machine).toFixed(1)} s on the machine = pg_dump ${floorCpu.m((c) => c.tree).toFixed(1)} s (its gzip) + the server and the rest ${floorCpu.m((c) => c.machine - c.tree).toFixed(1)} s`,
    );
  for (const ours of ['ours file://', 'ours s3://'] as const) {
    const { samples, m } = cpuOf(ours);
    if (samples.length === 0) continue;
    console.log(
      `${`backup CPU time (${ours})`.padEnd(40)}${m((c) => c.machine).toFixed(1)} s on the machine = dr ${m((c) => c.dr!).toFixed(1)} s` +
        ` (row hashing ${m((c) => c.rowHashing!).toFixed(1)} s; gzip, SHA-256, file I/O, start-up the rest) + pg_dump ${m((c) => c.tree - c.dr!).toFixed(1)} s` +
        (ours === 'ours s3://' ? ` + s3rver ${m((c) => c.s3rver ?? 0).toFixed(1)} s` : '') +
        ` + the server and the rest ${m((c) => c.machine - c.tree - (c.s3rver ?? 0)).toFixed(1)} s`,
    );
  }
  for (const line of extras) console.log(line);
  if (get('guide').length && get('floor').length) {
    console.log(
      `${'backup guide/floor'.padEnd(40)}${(med('guide', 'backupMs') / med('floor', 'backupMs')).toFixed(2)}×`,
    );
    console.log(
      `${'restore guide/floor'.padEnd(40)}${(med('guide', 'restoreMs') / med('floor', 'restoreMs')).toFixed(2)}×`,
    );
  }
}

async function main(): Promise<void> {
  await ensureSource();
  const work = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), 'dr-bench-'));
  DR = await buildDr(work);
  const s3 = await startBenchS3rver(join(work, 's3rver'));
  let oursSkipped: string | undefined;
  try {
    for (let run = 1; run <= RUNS; run++) {
      console.log(`run ${run}/${RUNS}`);
      const dir = mkdtempSync(join(work, `run-${run}-`));
      try {
        const repoDir = join(dir, 'repo');
        const steps: [Method, () => Promise<void>][] = [
          ['guide', () => benchGuide(dir, run)],
          ['floor', () => benchFloor(dir, run)],
          [
            'ours file://',
            () => benchOurs('ours file://', `file://${repoDir}`, {}, async () => pathSize(repoDir), run),
          ],
          [
            'ours s3://',
            () =>
              benchOurs(
                'ours s3://',
                `s3://dr-bench/run-${run}`,
                s3.env,
                () => s3.prefixSize(`run-${run}/`),
                run,
                s3.cpuMs,
              ),
          ],
        ];
        // Rotate the order each run, so no method always follows the same one.
        const rotated = [...steps.slice((run - 1) % steps.length), ...steps.slice(0, (run - 1) % steps.length)];
        for (const [method, step] of rotated) {
          if (method === 'guide' && process.env.BENCH_SKIP_GUIDE === '1') continue;
          if ((method === 'guide' || method === 'floor') && process.env.BENCH_ONLY_OURS === '1') continue;
          if (method.startsWith('ours') && oursSkipped) continue;
          try {
            await step();
          } catch (err) {
            if (!method.startsWith('ours')) throw err;
            oursSkipped = err instanceof ProcessFailed ? err.message : String(err);
            console.log(`Skipping "ours": dr failed:\n  ${oursSkipped.replace(/\n/g, '\n  ')}`);
          }
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    if (!oursSkipped) await sideMeasurements(work, s3.env);
  } finally {
    await s3.stop();
    rmSync(work, { recursive: true, force: true });
  }
  report();
  if (oursSkipped) console.log(`\n"ours" was skipped: dr backup/restore did not succeed (see above).`);
}

await main();
