/**
 * `npm run bench:fingerprints` (also part of `npm run bench`): what content fingerprints cost on
 * the ≈1 GB bench set (`dr_bench_source`, built by bench/run.ts or here), side by side in one run:
 *   - `dr backup` with and without fingerprints (target: at most +15%);
 *   - `dr verify` with fingerprints (every row hashed again through COPY) against the
 *     `dr restore` it checks (target: at most 0.5×), and verify by counts only.
 * Env: BENCH_RUNS (default 3, the order rotated each run), BENCH_TMP (default os.tmpdir()).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, databaseExists, dropDatabase, pgUrl, withClient } from '../fixtures/pg.ts';
import { createSampleDatabase, sampleSize } from '../fixtures/sample-database.ts';
import { buildDr, formatSeconds, median, runProcess } from './lib.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SOURCE = 'dr_bench_source';
const MARKER = `crypto-stock-dr bench source v1: ${sampleSize('bench').candles} candles, complete`;
let DR: string[] = [];

type Step = 'backup' | 'backup --no-fingerprints' | 'restore' | 'verify (content)' | 'verify (counts only)';
const samples = new Map<Step, number[]>();
const record = (step: Step, ms: number) => {
  samples.set(step, [...(samples.get(step) ?? []), ms]);
  console.log(`  ${step.padEnd(26)} ${(ms / 1000).toFixed(1)} s`);
};
const settle = () => withClient('postgres', (c) => c.query('CHECKPOINT'));
const dr = async (step: Step | undefined, args: string[]) => {
  await settle();
  const r = await runProcess(process.execPath, [...DR, ...args, '--json']);
  if (step) record(step, r.ms);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
};

if (
  !(await databaseExists(SOURCE)) ||
  (await withClient(
    'postgres',
    async (c) =>
      (
        await c.query(`SELECT shobj_description(oid, 'pg_database') AS d FROM pg_database WHERE datname = $1`, [SOURCE])
      ).rows[0]?.d,
  )) !== MARKER
) {
  console.log(`Building ${SOURCE} at scale 'bench' (a few minutes)…`);
  await dropDatabase(SOURCE);
  await createSampleDatabase(await createDatabase(SOURCE), { scale: 'bench' });
  await withClient('postgres', (c) => c.query(`COMMENT ON DATABASE "${SOURCE}" IS '${MARKER}'`));
}

const work = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), 'dr-bench-fp-'));
DR = await buildDr(work);
try {
  for (let run = 1; run <= RUNS; run++) {
    console.log(`run ${run}/${RUNS}`);
    const repo = `file://${join(work, `repo-${run}`)}`;
    const backups = [
      () => dr('backup', ['backup', '--db', pgUrl(SOURCE), '--repo', repo]),
      () =>
        dr('backup --no-fingerprints', [
          'backup',
          '--db',
          pgUrl(SOURCE),
          '--repo',
          `${repo}-plain`,
          '--no-fingerprints',
        ]),
    ];
    // Rotate which goes first, so neither always meets a cold or a warm cache.
    const [first, second] = run % 2 ? backups : [...backups].reverse();
    const a = await first!();
    const b = await second!();
    const id = String((run % 2 ? a : b).id);
    const target = `dr_bench_fp_${run}`;
    await dropDatabase(target);
    await dr('restore', ['restore', '--repo', repo, '--backup', id, '--target', pgUrl(target)]);
    const verify = [
      () => dr('verify (content)', ['verify', '--repo', repo, '--backup', id, '--target', pgUrl(target)]),
      () =>
        dr('verify (counts only)', [
          'verify',
          '--repo',
          `${repo}-plain`,
          '--backup',
          String((run % 2 ? b : a).id),
          '--target',
          pgUrl(target),
        ]),
    ];
    for (const v of run % 2 ? verify : [...verify].reverse()) await v();
    await dropDatabase(target);
    rmSync(join(work, `repo-${run}`), { recursive: true, force: true });
    rmSync(join(work, `repo-${run}-plain`), { recursive: true, force: true });
  }
  const med = (s: Step) => median(samples.get(s)!);
  console.log(`\n=== fingerprints: ${RUNS} run(s), ${SOURCE} — median (min–max) ===`);
  for (const [step, values] of samples) console.log(`${step.padEnd(28)}${formatSeconds(values)}`);
  console.log('');
  const grow = med('backup') / med('backup --no-fingerprints');
  console.log(
    `${'backup with / without fingerprints'.padEnd(44)}${grow.toFixed(2)}×  (target ≤ 1.15) ${grow <= 1.15 ? 'OK' : 'MISSED'}`,
  );
  const ratio = med('verify (content)') / med('restore');
  console.log(
    `${'verify with fingerprints / restore'.padEnd(44)}${ratio.toFixed(2)}×  (target ≤ 0.5) ${ratio <= 0.5 ? 'OK' : 'MISSED'}`,
  );
  console.log(
    `${'verify counts only / restore'.padEnd(44)}${(med('verify (counts only)') / med('restore')).toFixed(2)}×`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
