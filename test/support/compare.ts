/**
 * Proves a restored database is identical to its source: same schema (normalized
 * `pg_dump --schema-only`), same rows in every table (count + content hash) and same
 * sequence positions. Used by restore tests; everything runs against the real server.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';

const execFileAsync = promisify(execFile);

export interface Comparison {
  readonly identical: boolean;
  readonly differences: string[];
}

/** How many differing schema lines to report before giving up. */
const MAX_SCHEMA_LINES = 10;

export async function compareDatabases(sourceUrl: string, targetUrl: string): Promise<Comparison> {
  const [sourceSchema, targetSchema, sourceData, targetData] = await Promise.all([
    dumpSchema(sourceUrl),
    dumpSchema(targetUrl),
    inspectData(sourceUrl),
    inspectData(targetUrl),
  ]);
  const differences = [
    ...compareSchemas(sourceSchema, targetSchema),
    ...compareMaps('table', sourceData.tables, targetData.tables),
    ...compareMaps('sequence', sourceData.sequences, targetData.sequences),
  ];
  return { identical: differences.length === 0, differences };
}

async function dumpSchema(url: string): Promise<string[]> {
  const { stdout } = await execFileAsync('pg_dump', ['--schema-only', '--dbname', url], {
    maxBuffer: 256 * 1024 * 1024,
  });
  return normalizeSchemaDump(stdout);
}

/**
 * Drops what legitimately differs between two dumps of equal databases: comments (they carry
 * versions and dump times), SET lines, the search_path reset, psql's per-dump random
 * \restrict / \unrestrict keys, and blank lines.
 */
export function normalizeSchemaDump(dump: string): string[] {
  return dump
    .split('\n')
    .filter(
      (line) =>
        line.trim() !== '' &&
        !line.startsWith('--') &&
        !line.startsWith('SET ') &&
        !line.startsWith('SELECT pg_catalog.set_config(') &&
        !line.startsWith('\\restrict ') &&
        !line.startsWith('\\unrestrict '),
    );
}

function compareSchemas(source: string[], target: string[]): string[] {
  const differences: string[] = [];
  const length = Math.max(source.length, target.length);
  for (let i = 0; i < length && differences.length < MAX_SCHEMA_LINES; i++) {
    if (source[i] !== target[i]) {
      differences.push(
        `schema line ${i + 1}: source ${JSON.stringify(source[i] ?? '<end>')} ≠ target ${JSON.stringify(target[i] ?? '<end>')}`,
      );
      // One missing line shifts everything after it; the first few differences say enough.
    }
  }
  if (differences.length > 0 && source.length !== target.length) {
    differences.push(`schema: ${source.length} normalized lines in source, ${target.length} in target`);
  }
  return differences;
}

interface DataSummary {
  /** Quoted qualified table name → "rows=N md5=…". */
  readonly tables: Map<string, string>;
  /** Quoted qualified sequence name → "last_value=N". */
  readonly sequences: Map<string, string>;
}

async function inspectData(url: string): Promise<DataSummary> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Fixed output settings so the text form of every value is the same on both sides.
    await client.query(
      `SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1`,
    );
    // Every user table, partition and materialized view. A partitioned parent only gets a count:
    // its rows are hashed in its partitions.
    const { rows: relations } = await client.query<{ name: string; relkind: string }>(`
      SELECT format('%I.%I', n.nspname, c.relname) AS name, c.relkind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'm')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        -- TimescaleDB: compressed chunks are read through their chunks (TimescaleDB refuses them
        -- directly); job statistics and the installation's identity (metadata: uuid, install time)
        -- are bookkeeping that a new database starts afresh.
        AND NOT (n.nspname = '_timescaledb_internal' AND c.relname ~ '^(compress_hyper_|_compressed_hypertable_|bgw_)')
        AND NOT (n.nspname = '_timescaledb_catalog' AND c.relname = 'metadata')
      ORDER BY 1`);
    const tables = new Map<string, string>();
    for (const { name, relkind } of relations) {
      // Hash each row's text form, then hash the sorted row hashes: order-independent, and the
      // intermediate string stays at 32 bytes a row even for millions of rows.
      const sql =
        relkind === 'p'
          ? `SELECT count(*) AS rows, '-' AS hash FROM ${name}`
          : `SELECT count(*) AS rows, coalesce(md5(string_agg(h, '' ORDER BY h COLLATE "C")), '-') AS hash
           FROM (SELECT md5(t::text) AS h FROM ${name} t) rows`;
      const { rows } = await client.query<{ rows: string; hash: string }>(sql);
      tables.set(name, `rows=${rows[0]!.rows} md5=${rows[0]!.hash}`);
    }
    const { rows: sequences } = await client.query<{ name: string; last_value: string | null }>(`
      SELECT format('%I.%I', schemaname, sequencename) AS name, last_value FROM pg_sequences
       WHERE NOT (schemaname = '_timescaledb_internal' AND sequencename ~ '^bgw_') ORDER BY 1`);
    return {
      tables,
      sequences: new Map(sequences.map((s) => [s.name, `last_value=${s.last_value ?? 'null'}`])),
    };
  } finally {
    await client.end();
  }
}

function compareMaps(kind: string, source: Map<string, string>, target: Map<string, string>): string[] {
  const differences: string[] = [];
  for (const [name, summary] of source) {
    const other = target.get(name);
    if (other === undefined) differences.push(`${kind} ${name}: missing in target`);
    else if (other !== summary) differences.push(`${kind} ${name}: source ${summary}, target ${other}`);
  }
  for (const name of target.keys()) {
    if (!source.has(name)) differences.push(`${kind} ${name}: only in target`);
  }
  return differences;
}
