/**
 * Point-in-time recovery, dr against doing it by hand, in one run (ratios side by side):
 *   restore-server — `dr pitr restore-server --at T` (continuity check, plan, restore) against a
 *                    bare `pgbackrest restore --type=time` of the same backup (target: ≤ 1.2×);
 *   restore --at   — `dr restore --at T` into a database against a physical restore + a temporary
 *                    server promoted at T + pg_dump -Fd -j + pg_restore -j, by hand;
 *   pitr check     — `dr pitr check` on an archive of 1,000 real WAL segments (target: < 5 s).
 * The source is a throwaway cluster archiving to a file:// pgBackRest repository (configured by
 * `dr pitr config`), loaded from dr_bench_source when `npm run bench` built it, else generated
 * (BENCH_PITR_SCALE, default demo). Each timed pair runs BENCH_PITR_RUNS times (default 3),
 * interleaved; medians are printed.
 * Run: npm run bench:pitr   Env: BENCH_TMP (default os.tmpdir()), BENCH_PITR_SCALE, BENCH_PITR_RUNS.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { asPostgres, chownPostgres, freePort, serverBinDir } from '../fixtures/cluster.ts';
import { databaseExists, dropDatabase, pgUrl, withClient } from '../fixtures/pg.ts';
import { startArchivingCluster } from '../fixtures/pitr.ts';
import { createSampleDatabase, type SampleScale } from '../fixtures/sample-database.ts';
import { formatBytes, median, pathSize, runProcess } from './lib.ts';

const JOBS = availableParallelism();
const SOURCE = 'dr_bench_source';
const ROOT = new URL('..', import.meta.url).pathname;
const DR_TSX = join(ROOT, 'bin/dr.mjs');
/** The CLI as deployed (the job image runs an esbuild bundle), built by main(); the tsx launcher's start-up is shown apart. */
let DR = DR_TSX;

async function bundleDr(work: string): Promise<string> {
  const entry = join(work, 'dr-entry.ts');
  writeFileSync(
    entry,
    `import { main } from ${JSON.stringify(join(ROOT, 'bin/dr.ts'))};\nprocess.exitCode = await main(process.argv.slice(2));\n`,
  );
  const out = join(work, 'dr-bundle.mjs');
  await runProcess(join(ROOT, 'node_modules/.bin/esbuild'), [
    entry,
    '--bundle',
    '--platform=node',
    '--format=esm',
    '--target=node20',
    '--external:pg-native',
    `--banner:js=import { createRequire as __drCreateRequire } from 'node:module'; const require = __drCreateRequire(import.meta.url);`,
    `--outfile=${out}`,
    '--log-level=warning',
  ]);
  return out;
}
const RUNS = Number(process.env.BENCH_PITR_RUNS ?? 3);
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = Date.now();
  await fn();
  return Date.now() - started;
}

async function dr(args: string[]): Promise<void> {
  await runProcess(process.execPath, [DR, ...args, '--quiet'], { timeoutMs: 3_600_000 });
}

function row(label: string, ours: number, theirs: number, theirsLabel: string, target?: string): string {
  return `  ${label.padEnd(34)} dr ${seconds(ours).padStart(9)} | ${theirsLabel.padEnd(44)} ${seconds(theirs).padStart(9)} | ratio ${(ours / theirs).toFixed(2)}×${target ? `  (target ${target})` : ''}`;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), 'dr-bench-pitr-'));
  chmodSync(work, 0o755);
  const cluster = await startArchivingCluster('bench');
  const targets = ['dr_bench_pitr', 'dr_bench_pitr_manual'];
  const pgbackrest = (...args: string[]) =>
    asPostgres('pgbackrest', [`--config=${cluster.config.configFile}`, '--stanza=bench', ...args]);
  try {
    DR = await bundleDr(work);
    const startUp = async (launcher: string) => {
      const xs: number[] = [];
      for (let i = 0; i < 3; i++) xs.push(await time(() => runProcess(process.execPath, [launcher, '--help'])));
      return median(xs);
    };
    const startBundle = await startUp(DR);
    const startTsx = await startUp(DR_TSX);
    await cluster.pgbackrest('stanza-create');
    await cluster.query('postgres', 'CREATE DATABASE crypto_stock');
    if (await databaseExists(SOURCE)) {
      console.log(`Loading ${SOURCE} into a throwaway cluster archiving to pgBackRest (file://), -j ${JOBS}…`);
      const dump = join(work, 'load');
      await runProcess('pg_dump', ['-Fd', `-j${JOBS}`, '--compress=0', '-f', dump, `--dbname=${pgUrl(SOURCE)}`]);
      await runProcess('pg_restore', [
        `-j${JOBS}`,
        '--no-owner',
        '--no-privileges',
        '--exit-on-error',
        `--dbname=${cluster.url('crypto_stock')}`,
        dump,
      ]);
      rmSync(dump, { recursive: true, force: true });
    } else {
      const scale = (process.env.BENCH_PITR_SCALE ?? 'demo') as SampleScale;
      console.log(
        `${SOURCE} not built (npm run bench builds it): generating the sample database at scale ${scale} in a throwaway cluster…`,
      );
      await createSampleDatabase(cluster.url('crypto_stock'), {
        scale: /^\d+$/.test(String(scale)) ? (Number(scale) as SampleScale) : scale,
      });
    }
    await cluster.query('crypto_stock', 'VACUUM ANALYZE');
    const { size } = (
      await cluster.query<{ size: string }>('crypto_stock', `SELECT pg_database_size('crypto_stock')::text AS size`)
    )[0]!;
    await cluster.pgbackrest('--type=full', 'backup');
    const { label } = (
      JSON.parse(await cluster.pgbackrest('info', '--output=json')) as [{ backup: { label: string }[] }]
    )[0].backup.slice(-1)[0]!;
    await sleep(1100);
    await cluster.query('crypto_stock', `UPDATE alerts SET acknowledged = true WHERE id % 10 = 0`);
    await sleep(50);
    const { t } = (
      await cluster.query<{ t: string }>(
        'postgres',
        `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
      )
    )[0]!;
    await sleep(50);
    await cluster.query('crypto_stock', `UPDATE alerts SET acknowledged = false WHERE id % 10 = 0`);
    await cluster.switchWalAndWait();
    await sleep(1100);
    console.log(
      `  database ${formatBytes(Number(size))}, repository ${formatBytes(await pathSize(cluster.repoPath))}, backup ${label}, T = ${t}, ${RUNS} run(s) each, -j ${JOBS}`,
    );

    // ---- restore-server against bare pgbackrest restore (files only, same backup, same processes)
    const serverDir = (name: string) => join(work, name, 'data');
    const drServer: number[] = [];
    const bareServer: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      rmSync(join(work, 'srv'), { recursive: true, force: true });
      drServer.push(
        await time(() =>
          dr([
            'pitr',
            'restore-server',
            '--pitr',
            cluster.repoUrl,
            '--stanza',
            'bench',
            '--pg-path',
            serverDir('srv'),
            '--at',
            t,
            '-j',
            String(JOBS),
          ]),
        ),
      );
      rmSync(join(work, 'srv'), { recursive: true, force: true });
      rmSync(join(work, 'bare'), { recursive: true, force: true });
      await runProcess('mkdir', ['-p', join(work, 'bare')]);
      await chownPostgres(join(work, 'bare'));
      bareServer.push(
        await time(() =>
          pgbackrest(
            `--pg1-path=${serverDir('bare')}`,
            `--set=${label}`,
            '--type=time',
            `--target=${t.replace('T', ' ').replace('Z', '+00')}`,
            '--target-action=promote',
            `--process-max=${JOBS}`,
            'restore',
          ),
        ),
      );
    }

    // ---- dr restore --at into a database against physical restore + promote at T + dump/restore by hand
    const drDb: number[] = [];
    const manualDb: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      for (const name of targets) await dropDatabase(name);
      drDb.push(
        await time(() =>
          dr([
            'restore',
            '--at',
            t,
            '--pitr',
            cluster.repoUrl,
            '--stanza',
            'bench',
            '--database',
            'crypto_stock',
            '--target',
            pgUrl(targets[0]!),
            '--no-owner',
            '--work-dir',
            work,
            '-j',
            String(JOBS),
          ]),
        ),
      );
      manualDb.push(await time(() => manualRestore(work, serverDir('bare'), label, t, targets[1]!, pgbackrest)));
    }

    // ---- dr pitr check on 1,000 real segments (archived in batches, so pg_wal stays small)
    const repoSegments = async () =>
      Number(
        (
          await runProcess('sh', ['-c', `find ${join(cluster.repoPath, 'archive')} -type f -name '0*-*' | wc -l`])
        ).stdout.trim(),
      );
    for (let have = await repoSegments(); have < 1000; have = await repoSegments()) {
      const batch = Math.min(100, 1000 - have);
      await cluster.query('postgres', `CREATE TABLE IF NOT EXISTS bench_switch (i int)`);
      for (let i = 0; i < batch; i++)
        await cluster.query('postgres', 'INSERT INTO bench_switch VALUES (1); SELECT pg_switch_wal()');
      await cluster.switchWalAndWait();
    }
    const segments = await repoSegments();
    const checks: number[] = [];
    for (let i = 0; i < RUNS; i++)
      checks.push(await time(() => dr(['pitr', 'check', '--pitr', cluster.repoUrl, '--stanza', 'bench'])));

    console.log(
      '\nResults (medians; the machine is shared, treat them as rough). dr runs as the esbuild bundle the job image runs:',
    );
    console.log(
      `  ${'dr start-up (dr --help)'.padEnd(34)} bundle ${seconds(startBundle!)} | tsx launcher (npx dr, no build) ${seconds(startTsx!)}`,
    );
    console.log(
      row(
        'pitr restore-server --at T',
        median(drServer),
        median(bareServer),
        'bare pgbackrest restore --type=time',
        '≤ 1.20×',
      ),
    );
    console.log(
      row(
        'restore --at T into a database',
        median(drDb),
        median(manualDb),
        'pgbackrest restore + promote + dump/restore',
        undefined,
      ),
    );
    console.log(
      `  ${'pitr check'.padEnd(34)} dr ${seconds(median(checks)).padStart(9)} on ${segments} archived segments  (target < 5 s)`,
    );
  } finally {
    for (const name of targets) await dropDatabase(name).catch(() => {});
    await cluster.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** By hand: bare pgbackrest restore, a temporary server promoted at T, pg_dump -Fd -j, pg_restore -j. */
async function manualRestore(
  work: string,
  dataDir: string,
  label: string,
  t: string,
  target: string,
  pgbackrest: (...args: string[]) => Promise<string>,
): Promise<void> {
  const dir = join(work, 'bare');
  rmSync(dir, { recursive: true, force: true });
  await runProcess('mkdir', ['-p', dir]);
  await chownPostgres(dir);
  await pgbackrest(
    `--pg1-path=${dataDir}`,
    `--set=${label}`,
    '--type=time',
    `--target=${t.replace('T', ' ').replace('Z', '+00')}`,
    '--target-action=promote',
    `--process-max=${JOBS}`,
    'restore',
  );
  const port = await freePort();
  await asPostgres(join(serverBinDir(), 'pg_ctl'), [
    '-D',
    dataDir,
    '-w',
    '-t',
    '3600',
    '-l',
    join(dir, 'log'),
    '-o',
    `-p ${port} -k ${dir} -c archive_mode=off -c listen_addresses=127.0.0.1`,
    'start',
  ]);
  try {
    const url = `postgres://postgres@127.0.0.1:${port}/crypto_stock`;
    for (;;) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
      await client.end();
      if (!rows[0]!.r) break;
      await sleep(100);
    }
    const dump = join(work, 'manual-dump');
    rmSync(dump, { recursive: true, force: true });
    await runProcess('pg_dump', ['-Fd', `-j${JOBS}`, '--compress=1', '--no-sync', '-f', dump, `--dbname=${url}`]);
    await withClient('postgres', (c) => c.query(`CREATE DATABASE "${target}"`));
    await runProcess('pg_restore', [`-j${JOBS}`, '--no-owner', '--exit-on-error', `--dbname=${pgUrl(target)}`, dump]);
    rmSync(dump, { recursive: true, force: true });
  } finally {
    await asPostgres(join(serverBinDir(), 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', 'stop']).catch(() => {});
  }
}

await main();
