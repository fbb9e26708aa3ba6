/**
 * `npm run demo`: the README's first command. On any PostgreSQL reachable through the PG*
 * variables (default 127.0.0.1:5432) it creates a sample crypto-stock database, backs it up into
 * ./backups with `dr backup`, runs a restore drill with `dr drill` (restore into a scratch database
 * on the same server, verify against the backup's manifest, drop the scratch database, write the
 * report), and prints where the HTML report is. The sample is the platform's TimescaleDB shape
 * (hypertables, compressed chunks, a continuous aggregate) when the server preloads TimescaleDB,
 * and the declaratively partitioned one otherwise.
 */
import type pg from 'pg';
import { main } from '../bin/dr.ts';
import { connect } from '../core/pg/connection.ts';
import { createSampleDatabase } from '../fixtures/sample-database.ts';

const host = process.env.PGHOST ?? '127.0.0.1';
const port = process.env.PGPORT ?? '5432';
const server = `postgres://${host.startsWith('/') ? '' : host}:${port}`;
const SOURCE = 'crypto_stock_demo';
const REPO = 'file://./backups';
const url = (db: string) => `${server}/${db}${host.startsWith('/') ? `?host=${encodeURIComponent(host)}` : ''}`;

async function query<T extends pg.QueryResultRow>(db: string, sql: string): Promise<T[]> {
  const client = await connect(url(db));
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** Runs the real CLI in-process, echoing the command line a user would type. */
async function dr(args: string[]): Promise<Record<string, unknown>> {
  process.stdout.write(`\n$ npx dr ${args.join(' ')}\n`);
  const chunks: string[] = [];
  const stdout = {
    write: (s: string) => {
      chunks.push(s);
      process.stdout.write(s);
      return true;
    },
  } as NodeJS.WritableStream;
  const code = await main([...args, '--json'], { stdout });
  if (code !== 0) throw new Error(`dr ${args[0]} failed (exit ${code})`);
  return JSON.parse(chunks.join('').trim().split('\n').pop()!);
}

/** TimescaleDB can be created here: installed, and in shared_preload_libraries. */
async function serverHasTimescale(): Promise<boolean> {
  const [row] = await query<{ available: boolean; preload: string }>(
    'postgres',
    `
    SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') AS available, current_setting('shared_preload_libraries') AS preload`,
  );
  return row!.available && /(^|,)\s*"?timescaledb/.test(row!.preload);
}

const timescale = await serverHasTimescale();
console.log(
  `1. Creating the sample database ${SOURCE} on ${host}:${port} (${timescale ? 'TimescaleDB: hypertables, compressed chunks, a continuous aggregate' : "plain PostgreSQL: partitioned candles; preload TimescaleDB for the platform's real shape"})`,
);
await query('postgres', `DROP DATABASE IF EXISTS ${SOURCE} WITH (FORCE)`);
await query('postgres', `CREATE DATABASE ${SOURCE}`);
const sample = await createSampleDatabase(url(SOURCE), { scale: 'demo', timescale });
console.log(
  `   ${sample.candles} candles for ${sample.symbols} symbols, ${(sample.sizeBytes / 1048576).toFixed(0)} MiB`,
);

console.log('\n2. Backing it up into ./backups');
const backup = await dr(['backup', '--db', url(SOURCE), '--repo', REPO]);

console.log('\n3. Restore drill: restore into a scratch database on the same server, verify, drop it, report');
const drillArgs = [
  'drill',
  '--repo',
  REPO,
  '--database',
  SOURCE,
  '--backup',
  String(backup.id),
  '--scratch',
  url('postgres'),
];
process.stdout.write(`\n$ npx dr ${drillArgs.join(' ')}\n`);
const out: string[] = [];
const drillStdout = {
  write: (s: string) => {
    out.push(s);
    process.stdout.write(s);
    return true;
  },
} as NodeJS.WritableStream;
const code = await main(drillArgs, { stdout: drillStdout });
const html = /^ {2}report: (.+\.html)$/m.exec(out.join(''))?.[1];
if (!html) {
  console.error(`\ndr drill failed (exit ${code}) before writing a report`);
  process.exit(1);
}
console.log(`\n4. The drill report (${code === 0 ? 'PASS' : 'FAIL'}): open it in a browser\n   ${html}`);
console.log(`   (also .md and .json beside it; the next drill's report adds this one to its trend chart)`);
if (code !== 0) process.exit(code);
console.log(
  `\nDone. Backup ${backup.id} is in ./backups; try:\n  npx dr list --repo ${REPO}\n  npx dr drill --repo ${REPO} --database ${SOURCE} --scratch ${url('postgres')} --rto 1h\n  npx dr restore --repo ${REPO} --database ${SOURCE} --target ${url('my_copy')}`,
);
