/**
 * Point-in-time recovery on the ≈1 GB bench set, beside the logical full restore:
 *   pitr restore  — `dr restore --at T --pitr …` into a new database on the main server
 *                   (physical restore + WAL replay + pg_dump -j + pg_restore -j);
 *   restore-server — `dr pitr restore-server --at T` and the restored server's start until it
 *                   has promoted and accepts connections;
 *   logical       — `dr backup` + `dr restore` of the same database through a file:// repository.
 * The source is a throwaway cluster archiving to a file:// pgBackRest repository (configured by
 * `dr pitr config`), loaded from the bench source database (npm run bench builds it).
 * Run: npx tsx bench/pitr.ts   Env: BENCH_TMP (default os.tmpdir()).
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { asPostgres, chownPostgres, freePort, serverBinDir } from '../test/support/cluster.ts';
import { databaseExists, dropDatabase, pgUrl } from '../test/support/pg.ts';
import { startArchivingCluster } from '../test/support/pitr.ts';
import { formatBytes, pathSize, runProcess } from './lib.ts';

const JOBS = availableParallelism();
const SOURCE = 'dr_bench_source';
const DR = join(new URL('..', import.meta.url).pathname, 'bin/dr.mjs');
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function timed(label: string, fn: () => Promise<unknown>): Promise<number> {
  const started = Date.now();
  await fn();
  const ms = Date.now() - started;
  console.log(`  ${label.padEnd(44)} ${seconds(ms)}`);
  return ms;
}

async function dr(args: string[]): Promise<void> {
  await runProcess(process.execPath, [DR, ...args, '--quiet'], { timeoutMs: 3_600_000 });
}

async function main(): Promise<void> {
  if (!(await databaseExists(SOURCE))) throw new Error(`${SOURCE} is missing: run npm run bench once to build it`);
  const work = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), 'dr-bench-pitr-'));
  chmodSync(work, 0o755);
  const cluster = await startArchivingCluster('bench');
  const targets = ['dr_bench_pitr', 'dr_bench_pitr_logical'];
  try {
    console.log(`Loading ${SOURCE} into a throwaway cluster archiving to pgBackRest (file://), -j ${JOBS}…`);
    await cluster.pgbackrest('stanza-create');
    await cluster.query('postgres', 'CREATE DATABASE crypto_stock');
    const dump = join(work, 'load');
    await runProcess('pg_dump', ['-Fd', `-j${JOBS}`, '--compress=0', '-f', dump, `--dbname=${pgUrl(SOURCE)}`]);
    await runProcess('pg_restore', [`-j${JOBS}`, '--no-owner', '--no-privileges', '--exit-on-error', `--dbname=${cluster.url('crypto_stock')}`, dump]);
    rmSync(dump, { recursive: true, force: true });
    await cluster.query('crypto_stock', 'VACUUM ANALYZE');
    const [{ size }] = await cluster.query<{ size: string }>('crypto_stock', `SELECT pg_database_size('crypto_stock')::text AS size`);
    console.log(`  database size ${formatBytes(Number(size))}`);

    await timed('pgbackrest full backup (process-max 2)', () => cluster.pgbackrest('--type=full', 'backup'));
    await new Promise((r) => setTimeout(r, 1100));
    await cluster.query('crypto_stock', `UPDATE alerts SET acknowledged = true WHERE id % 10 = 0`);
    await new Promise((r) => setTimeout(r, 50));
    const [{ t }] = await cluster.query<{ t: string }>('postgres', `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS t`);
    await new Promise((r) => setTimeout(r, 50));
    await cluster.query('crypto_stock', `UPDATE alerts SET acknowledged = false WHERE id % 10 = 0`);
    await cluster.switchWalAndWait();
    console.log(`  repository ${formatBytes(await pathSize(cluster.repoPath))}, target T = ${t}`);
    await new Promise((r) => setTimeout(r, 1100));

    console.log('Timings (one run each; the machine is shared, so treat them as rough):');
    for (const name of targets) await dropDatabase(name);
    await runProcess('psql', ['-X', '-q', `--dbname=${pgUrl('postgres')}`, '-c', 'CHECKPOINT']);
    const pitrMs = await timed('dr restore --at T (PITR into a database)', () =>
      dr(['restore', '--at', t, '--pitr', cluster.repoUrl, '--stanza', 'bench', '--database', 'crypto_stock', '--target', pgUrl(targets[0]), '--no-owner', '--work-dir', work]));

    const dataDir = join(work, 'server', 'data');
    let serverMs = 0;
    const restoreMs = await timed('dr pitr restore-server --at T (files only)', () =>
      dr(['pitr', 'restore-server', '--pitr', cluster.repoUrl, '--stanza', 'bench', '--pg-path', dataDir, '--at', t]));
    const port = await freePort();
    await chownPostgres(join(work, 'server'));
    const started = Date.now();
    await asPostgres(join(serverBinDir(), 'pg_ctl'), ['-D', dataDir, '-w', '-t', '3600', '-l', join(work, 'server', 'log'), '-o', `-p ${port} -k ${join(work, 'server')} -c archive_mode=off -c listen_addresses=127.0.0.1`, 'start']);
    for (;;) {
      const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/crypto_stock` });
      await client.connect();
      const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
      await client.end();
      if (!rows[0].r) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    serverMs = Date.now() - started;
    console.log(`  ${'  + start, replay, promote, accept connections'.padEnd(44)} ${seconds(serverMs)}`);
    console.log(`  ${'restore-server to accepting connections'.padEnd(44)} ${seconds(restoreMs + serverMs)}`);
    await asPostgres(join(serverBinDir(), 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', 'stop']).catch(() => {});
    rmSync(join(work, 'server'), { recursive: true, force: true });

    const repo = join(work, 'logical');
    await dr(['backup', '--db', cluster.url('crypto_stock'), '--repo', `file://${repo}`]);
    await runProcess('psql', ['-X', '-q', `--dbname=${pgUrl('postgres')}`, '-c', 'CHECKPOINT']);
    const logicalMs = await timed('dr restore (logical full, file://)', () =>
      dr(['restore', '--repo', `file://${repo}`, '--backup', 'latest', '--target', pgUrl(targets[1]), '--no-owner']));
    console.log(`\nPITR into a database ${seconds(pitrMs)} | restore-server to connections ${seconds(restoreMs + serverMs)} | logical full restore ${seconds(logicalMs)}`);
  } finally {
    for (const name of targets) await dropDatabase(name).catch(() => {});
    await cluster.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
