/**
 * `npm run demo`: the README's first command. On any PostgreSQL reachable through the PG*
 * variables (default 127.0.0.1:5432) it creates a sample crypto-stock database, backs it up into
 * ./backups with `dr backup`, restores it with `dr restore` into a second database, and checks the
 * restored row counts against the backup's manifest.
 */
import type pg from 'pg';
import { main } from '../bin/dr.ts';
import { readManifest } from '../core/backups.ts';
import { connect } from '../core/pg.ts';
import { openRepository } from '../core/repository/index.ts';
import { createSampleDatabase } from '../core/sample-database.ts';

const host = process.env.PGHOST ?? '127.0.0.1';
const port = process.env.PGPORT ?? '5432';
const server = `postgres://${host.startsWith('/') ? '' : host}:${port}`;
const SOURCE = 'crypto_stock_demo';
const RESTORED = 'crypto_stock_demo_restored';
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
  const stdout = { write: (s: string) => { chunks.push(s); process.stdout.write(s); return true; } } as NodeJS.WritableStream;
  const code = await main([...args, '--json'], { stdout });
  if (code !== 0) throw new Error(`dr ${args[0]} failed (exit ${code})`);
  return JSON.parse(chunks.join('').trim().split('\n').pop()!);
}

console.log(`1. Creating the sample database ${SOURCE} on ${host}:${port}`);
await query('postgres', `DROP DATABASE IF EXISTS ${SOURCE} WITH (FORCE)`);
await query('postgres', `CREATE DATABASE ${SOURCE}`);
const sample = await createSampleDatabase(url(SOURCE), { scale: 'demo' });
console.log(`   ${sample.candles} candles for ${sample.symbols} symbols, ${(sample.sizeBytes / 1048576).toFixed(0)} MiB`);

console.log('\n2. Backing it up into ./backups');
const backup = await dr(['backup', '--db', url(SOURCE), '--repo', REPO]);

console.log(`\n3. Restoring the latest backup into ${RESTORED}`);
await dr(['restore', '--repo', REPO, '--database', SOURCE, '--backup', 'latest', '--target', url(RESTORED), '--overwrite']);

console.log('\n4. Checking the restored row counts against the manifest');
const manifest = await readManifest(openRepository(REPO), SOURCE, String(backup.id));
let mismatches = 0;
for (const t of manifest.tables.filter((t) => t.kind !== 'partition')) {
  const [{ n }] = await query<{ n: string }>(RESTORED, `SELECT count(*) AS n FROM "${t.schema.replace(/"/g, '""')}"."${t.name.replace(/"/g, '""')}"`);
  const ok = Number(n) === t.rows;
  if (!ok) mismatches++;
  console.log(`   ${ok ? '✓' : '✗'} ${t.schema}.${t.name}: ${n} rows (manifest: ${t.rows})`);
}
if (mismatches > 0) {
  console.error(`\n${mismatches} tables differ from the manifest`);
  process.exit(1);
}
console.log(`\nDone. Backup ${backup.id} is in ./backups; try:\n  npx dr list --repo ${REPO}\n  npx dr restore --repo ${REPO} --database ${SOURCE} --target ${url('my_copy')}`);
