/**
 * Replacing some tables' rows (whole, or one time range) in a live target database with the rows
 * of a source database, in ONE transaction: for each table, keep the rows about to be replaced in
 * a safety table next to it, delete them, stream the source's rows in with COPY, commit. Any
 * failure rolls everything back. It knows nothing of backups or manifests: the table restore calls
 * it with a scratch database restored from a backup, point-in-time recovery with a recovered
 * cluster.
 */
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { type Buckets, copySessionSql, differingBuckets, fingerprintCopy } from '../backup/fingerprint.ts';
import { DrError } from '../errors.ts';
import {
  connect,
  firstErrorLine,
  type PgTools,
  parsePgUrl,
  qualified,
  quoteIdent,
  quoteLiteral,
  runTool,
} from '../pg/connection.ts';
import { displayName } from '../pg/ident.ts';
import { DEFAULT_LOCK_TIMEOUT_MS, isLockTimeout, lockTimeoutError, lockTimeoutSql } from '../pg/locks.ts';
import { onlyRow } from '../pg/rows.ts';
import {
  allowBulkDecompression,
  chunksOverlapping,
  compressedChunks,
  compressedRanges,
  isHypertable,
  kindMismatchError,
  missingHypertableError,
  recompress,
  refreshAggregatesOver,
} from '../pg/timescale.ts';
import { throwIfInterrupted } from '../signals.ts';
import { readTime, TIME_PROBLEM_TEXT } from '../time.ts';
import type { ReplacedTable } from './result.ts';
import { suffixed } from './target.ts';

export interface TableName {
  readonly schema: string;
  readonly name: string;
}

export interface ReplaceTable extends TableName {
  /** Column the range applies to; needed when a range is given. */
  readonly timeColumn?: string;
  /**
   * The source's newest time for this table (ISO): replacing a range that holds target rows with
   * a later time would delete rows the source never had, so the replacement is refused (a
   * DrError counting them) unless `merge` or `replaceNewer` is set. @default - no check
   */
  readonly newerThan?: string;
}

export interface TimeRange {
  /** Inclusive lower bound, ISO 8601 with a zone (e.g. 2026-01-10T00:00:00Z). */
  readonly since: string;
  /** Exclusive upper bound. */
  readonly until: string;
}

/** SQL creating a table missing from the target: `create` runs before its rows are loaded, `finish` (indexes, constraints, triggers) after. */
export interface TableDefinition {
  readonly create: string;
  readonly finish: string;
}

/** What a replacement does, whatever the rows come from. */
export interface ReplaceOptions {
  readonly targetUrl: string;
  /** Tables to replace; a partitioned parent (or TimescaleDB hypertable) covers all its partitions (chunks). */
  readonly tables: readonly ReplaceTable[];
  /** Replace only rows with `since <= timeColumn < until`; @default - every row */
  readonly range?: TimeRange;
  /** Definition of a table missing from the target. @default - the row source's own */
  readonly definition?: (table: TableName) => Promise<TableDefinition>;
  /** Leave ownership and privileges out of created tables' definitions. @default false */
  readonly noOwner?: boolean;
  /** Where the rows come from, recorded in the safety tables' comments, e.g. `backup 20260115T020000Z-a1b2c3`. */
  readonly origin?: string;
  /**
   * Insert only the source's rows whose primary key the target lacks; every target row stays
   * (nothing is deleted, no safety table). @default false: the rows in scope are replaced
   */
  readonly merge?: boolean;
  /** Replace a range even when the target holds rows newer than the table's `newerThan`. @default false */
  readonly replaceNewer?: boolean;
  /** How long to wait for another session's lock on a table. @default 5 minutes */
  readonly lockTimeoutMs?: number;
  /** Time used in safety table names. @default - now */
  readonly now?: Date;
  readonly tools?: PgTools;
  readonly log?: (message: string) => void;
}

export interface ReplaceTablesOptions extends ReplaceOptions {
  /** Database holding the rows to put back (same table names). */
  readonly sourceUrl: string;
  /**
   * Definition of a table missing from the target. @default - `pg_dump --schema-only` of the table
   * and its partitions from the source (right when the source is a full copy, e.g. a recovered cluster)
   */
  readonly definition?: (table: TableName) => Promise<TableDefinition>;
}

/** A table as the row source has it. */
export interface SourceTable {
  /** Stored columns in order; undefined when known only while loading (a dump's COPY blocks), and checked then. */
  readonly columns?: string[];
  /** Column types, for the time column of a range; undefined when the source cannot say (it then serves no ranges). */
  readonly types?: Map<string, string>;
  /** A TimescaleDB hypertable in the source, with the time ranges of its compressed chunks. @default - a plain table */
  readonly hypertable?: { readonly compressedRanges: { start: string; end: string }[] };
}

/**
 * Where the rows come from: a database (a scratch copy of a backup, a recovered cluster) or a
 * verified dump streamed straight in. replaceTables() runs the same transaction around either.
 */
export interface RowSource {
  /** Where the rows come from, for messages (`the source`, `the backup`). */
  readonly name: string;
  /** The table in the source; undefined when it is not there. */
  describe(table: TableName): Promise<SourceTable | undefined>;
  /**
   * COPYs the table's rows (those in `range`) into the target table's `columns`, on `target` inside
   * its transaction; returns the rows loaded. `into` (SQL name) loads them into another table of the
   * same columns instead (a merge's temporary table). @default - the target table itself
   */
  load(
    target: pg.Client,
    table: ReplaceTable,
    columns: string[],
    range: TimeRange | undefined,
    into?: string,
  ): Promise<number>;
  /** last_value of the named sequences in the source, keyed `schema.name` (unquoted); unknown ones left out. */
  sequenceValues(names: readonly TableName[]): Promise<Map<string, string | null>>;
  /** Definition of a table missing from the target, unless the caller gives one. */
  definition?(table: TableName): Promise<TableDefinition>;
  /**
   * Content fingerprints (core/backup/fingerprint.ts) of the table's rows in `range`, as the target's are
   * computed, so a range replacement can prove it before it commits. @default - not proven (streamed whole tables)
   */
  fingerprint?(table: ReplaceTable, columns: string[], range: TimeRange): Promise<Buckets>;
  close(): Promise<void>;
}

export interface ReplaceTablesResult {
  readonly tables: ReplacedTable[];
  readonly durationMs: number;
  readonly warnings: string[];
}

/** The column types a time range can apply to. */
const TIME_TYPES = ['timestamp with time zone', 'timestamp without time zone', 'date'];

/**
 * Safety table name: `<table>__dr_saved_<UTC stamp>`, e.g. `candles__dr_saved_20261125t203000z`,
 * within 63 bytes; lower case, so SQL needs no quotes for it.
 */
export function safetyTableName(table: string, at: Date, attempt = 0): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '')
    .toLowerCase();
  return suffixed(table, `__dr_saved_${stamp}${attempt ? `_${attempt}` : ''}`);
}

/**
 * Canonical UTC ISO text of a time of the grammar in core/time.ts (a bare date is UTC midnight),
 * or a one-line usage error (exit 2) naming the flag. Fractions are kept to the microsecond, as
 * PostgreSQL keeps them: `…T00:00:00.000Z`, or six digits when the time has microseconds. Compare
 * results with compareTimes, not as strings.
 */
export function parseTime(value: string, flag: string): string {
  const time = readTime(value, { dateOnly: true });
  if (typeof time === 'string') {
    const why =
      time === 'format' ? 'is not an ISO 8601 time with a zone (or a date, taken as UTC)' : TIME_PROBLEM_TEXT[time];
    throw new DrError(`${flag} "${value}" ${why}`, `use e.g. ${flag} 2026-01-10T00:00:00Z`, 2);
  }
  const ms = time.micros / 1000n - (time.micros % 1000n < 0n ? 1n : 0n);
  const rest = Number(time.micros - ms * 1000n);
  const iso = new Date(Number(ms)).toISOString();
  return rest === 0 ? iso : iso.replace(/Z$/, `${String(rest).padStart(3, '0')}Z`);
}

/** Orders two parseTime results (3 or 6 fraction digits). */
export function compareTimes(a: string, b: string): number {
  const micros = (t: string) => {
    const m = /\.(\d{3})(\d{3})?Z$/.exec(t);
    return BigInt(Date.parse(t)) * 1000n + BigInt(m?.[2] ?? '0');
  };
  const d = micros(a) - micros(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

function rangeCondition(column: string, range: TimeRange, alias = ''): string {
  const col = `${alias}${quoteIdent(column)}`;
  return `${col} >= ${quoteLiteral(range.since)}::timestamptz AND ${col} < ${quoteLiteral(range.until)}::timestamptz`;
}

interface TableInfo {
  readonly oid: number;
  /** Stored (non-generated) columns in order. */
  readonly columns: string[];
  readonly types: Map<string, string>;
}

async function tableInfo(client: pg.Client, t: TableName): Promise<TableInfo | undefined> {
  const { oid } = onlyRow(
    await client.query<{ oid: number | null }>('SELECT to_regclass($1)::oid::int AS oid', [
      qualified(t.schema, t.name),
    ]),
  );
  if (oid === null) return undefined;
  const cols = await client.query<{ name: string; type: string }>(
    `SELECT attname AS name, format_type(atttypid, NULL) AS type FROM pg_attribute
      WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`,
    [oid],
  );
  return { oid, columns: cols.rows.map((c) => c.name), types: new Map(cols.rows.map((c) => [c.name, c.type])) };
}

/** The table and every partition/inheritance child (TimescaleDB chunks), as oids. */
async function familyOids(client: pg.Client, oid: number): Promise<number[]> {
  const { rows } = await client.query<{ oid: number }>(
    `
    WITH RECURSIVE f(oid) AS (SELECT $1::oid UNION SELECT i.inhrelid FROM pg_inherits i JOIN f ON i.inhparent = f.oid)
    SELECT oid::int FROM f`,
    [oid],
  );
  return rows.map((r) => r.oid);
}

/** Runs SQL produced by pg_dump/pg_restore: psql meta-commands (`\restrict`) are dropped. */
function sqlOf(script: string): string {
  return script
    .split('\n')
    .filter((l) => !l.startsWith('\\'))
    .join('\n');
}

/** The table's definition from the source database itself, via pg_dump --schema-only (partitions included). */
export async function definitionFromDatabase(
  url: string,
  table: TableName,
  tools: PgTools = {},
  noOwner = false,
): Promise<TableDefinition> {
  const client = await connect(url, 'source');
  let members: { schema: string; name: string }[];
  try {
    const info = await tableInfo(client, table);
    if (!info) throw new DrError(`table ${displayName(table)} is not in the source database`, 'check the table name');
    const oids = await familyOids(client, info.oid);
    members = (
      await client.query<{ schema: string; name: string }>(
        `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY($1::oid[])`,
        [oids],
      )
    ).rows;
  } finally {
    await client.end();
  }
  const pattern = (s: string) => `"${s.replace(/"/g, '""')}"`;
  const args = [
    '--schema-only',
    ...(noOwner ? ['--no-owner', '--no-privileges'] : []),
    ...members.flatMap((m) => ['-t', `${pattern(m.schema)}.${pattern(m.name)}`]),
    `--dbname=${url}`,
  ];
  const dump = async (section: string) => {
    const r = await runTool(tools, 'pg_dump', [`--section=${section}`, ...args]);
    if (r.code !== 0)
      throw new DrError(
        `pg_dump of ${displayName(table)}'s definition failed: ${firstErrorLine(r.stderr)}`,
        'check the source database',
      );
    return r.stdout;
  };
  return { create: await dump('pre-data'), finish: await dump('post-data') };
}

interface Planned {
  readonly table: ReplaceTable;
  readonly display: string;
  readonly columns: string[];
  /** Target oid, or undefined when the table must be created. */
  readonly targetOid?: number;
  readonly definition?: TableDefinition;
  /** A hypertable on both sides (refused when only one side has it): chunks are compressed again after the load. */
  readonly hypertable?: SourceTable['hypertable'];
}

/** A database as the row source: `COPY (SELECT …) TO STDOUT` piped into the target's COPY. */
export async function databaseSource(sourceUrl: string, tools: PgTools = {}, noOwner = false): Promise<RowSource> {
  const source = await connect(sourceUrl, 'source');
  try {
    await source.query(`SET TimeZone = 'UTC'`);
  } catch (err) {
    await source.end().catch(() => {});
    throw err;
  }
  return {
    name: 'the source',
    async describe(table) {
      const info = await tableInfo(source, table);
      if (!info) return undefined;
      const hypertable = (await isHypertable(source, table))
        ? { compressedRanges: await compressedRanges(source, table) }
        : undefined;
      return { columns: info.columns, types: info.types, hypertable };
    },
    async load(target, table, columns, range, into) {
      const name = qualified(table.schema, table.name);
      const where = range ? ` WHERE ${rangeCondition(table.timeColumn!, range)}` : '';
      const cols = columns.map(quoteIdent).join(', ');
      const reader = source.query(copyTo(`COPY (SELECT ${cols} FROM ${name}${where}) TO STDOUT`));
      const writer = target.query(copyFrom(`COPY ${into ?? name} (${cols}) FROM STDIN`));
      await pipeline(reader, writer);
      return writer.rowCount;
    },
    async sequenceValues(names) {
      if (names.length === 0) return new Map();
      const { rows } = await source.query<{ schema: string; name: string; last_value: string | null }>(
        `SELECT schemaname AS schema, sequencename AS name, last_value::text AS last_value FROM pg_sequences
          WHERE (schemaname, sequencename) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
        [names.map((n) => n.schema), names.map((n) => n.name)],
      );
      return new Map(rows.map((r) => [`${r.schema}.${r.name}`, r.last_value]));
    },
    definition: (table) => definitionFromDatabase(sourceUrl, table, tools, noOwner),
    async fingerprint(table, columns, range) {
      await source.query(copySessionSql(false));
      return rangeFingerprint(source, table, columns, range);
    },
    close: () => source.end().catch(() => {}),
  };
}

/**
 * Replaces `tables`' rows in the target with the source database's, in one transaction (see the
 * module comment). Validates everything it can before the transaction starts; the target is
 * unchanged when it throws.
 */
export async function replaceTablesFromSource(options: ReplaceTablesOptions): Promise<ReplaceTablesResult> {
  // Bad input is refused before connecting anywhere.
  parsePgUrl(options.targetUrl, 'target');
  checkRequest(options);
  return replaceTables(await databaseSource(options.sourceUrl, options.tools, options.noOwner), options);
}

/**
 * The transaction every replacement runs, whatever the row source: for each table, create it
 * when missing, else keep its rows in a safety table and remove them (TRUNCATE for whole tables
 * nothing references, else DELETE), load the source's rows; then check foreign keys and commit.
 * Closes `source`. The target is unchanged when it throws.
 */
export async function replaceTables(source: RowSource, options: ReplaceOptions): Promise<ReplaceTablesResult> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  const now = options.now ?? new Date();
  const warnings: string[] = [];
  let targetClient: pg.Client | undefined;
  try {
    const target = parsePgUrl(options.targetUrl, 'target');
    const range = checkRequest(options);
    targetClient = await connect(target.url, 'target');
    const tgt = targetClient;
    await tgt.query(`SET TimeZone = 'UTC'`);
    await tgt.query(lockTimeoutSql(options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS));

    // Everything that can be refused is refused here, before the transaction.
    const plans: Planned[] = [];
    for (const table of options.tables) {
      const display = displayName(table);
      const src = await source.describe(table);
      if (!src) throw new DrError(`table ${display} is not in ${source.name}`, 'check the table name');
      const dst = await tableInfo(tgt, table);
      if (range) {
        const column = table.timeColumn;
        if (!column) throw new DrError(`no time column for ${display}`, 'pass --time-column NAME');
        for (const [where, info] of [
          ['backup', src],
          ['target', dst],
        ] as const) {
          if (!info) continue;
          if (!info.types) throw new Error(`${source.name} cannot serve a range restore`);
          const type = info.types.get(column);
          if (!type || !TIME_TYPES.includes(type)) {
            const known = [...info.types].filter(([, t]) => TIME_TYPES.includes(t)).map(([n]) => n);
            throw new DrError(
              `${display} has no time column "${column}" in the ${where}`,
              known.length
                ? `pass --time-column with one of: ${known.join(', ')}`
                : `${display} has no timestamp or date column: restore the whole table (drop --since/--until)`,
            );
          }
        }
      }
      if (dst && src.columns) assertSameColumns(display, dst.columns, src.columns, source.name);
      if (dst && (src.hypertable !== undefined) !== (await isHypertable(tgt, table)))
        throw kindMismatchError(display, src.hypertable !== undefined, source.name);
      if (!dst && src.hypertable) throw missingHypertableError(display);
      if (!dst && !src.columns) throw new Error(`${source.name} cannot create the missing table ${display}`);
      const define = options.definition ?? source.definition?.bind(source);
      if (!dst && !define) throw new Error(`no definition for the missing table ${display}`);
      const definition = dst ? undefined : await define!(table);
      plans.push({
        table,
        display,
        columns: dst ? dst.columns : src.columns!,
        targetOid: dst?.oid,
        definition,
        hypertable: src.hypertable,
      });
    }

    const results: ReplacedTable[] = [];
    await tgt.query('BEGIN');
    try {
      if (plans.some((p) => p.hypertable)) await allowBulkDecompression(tgt);
      // Restored rows must not fire the target's triggers (an audit trigger would write to other
      // tables) nor be blocked mid-way by foreign keys the replacement satisfies again at the end;
      // foreign keys are checked explicitly below instead.
      const triggersOff = await disableTriggers(tgt, plans, warnings);
      for (const plan of plans) results.push(await replaceOne(source, tgt, plan, range, options, now, log));
      for (const plan of plans) await checkForeignKeys(tgt, plan, range);
      // A replaced range proves itself: the target's rows there hash as the source's do (a merge keeps target rows, so it cannot).
      if (range && !options.merge && source.fingerprint)
        for (const plan of plans) await proveRange(source, tgt, plan, range);
      for (const t of triggersOff) await tgt.query(`ALTER TABLE ${t} ENABLE TRIGGER USER`);
      warnings.push(...(await dependentMatviews(tgt, plans)));
      // A signal before the commit rolls everything back: the target stays as it was.
      throwIfInterrupted();
      await tgt.query('COMMIT');
    } catch (err) {
      await tgt.query('ROLLBACK').catch(() => {});
      const e = err as Error & { code?: unknown };
      if (err instanceof DrError || typeof e?.code !== 'string') throw err;
      const hint =
        e.code === '42501'
          ? 'the target user needs to own the tables and have CREATE on their schema (for the safety table); the target was rolled back and is unchanged'
          : 'the target was rolled back and is unchanged; fix the cause and run the restore again';
      throw new DrError(`restoring the tables failed: ${e.message}`, hint, 1, { cause: err });
    }
    for (const plan of plans) {
      // A range of a hypertable changed only its chunks there: analyzing the whole hypertable samples every chunk.
      const analyzed =
        plan.hypertable && range
          ? await chunksOverlapping(tgt, plan.table, range)
          : [qualified(plan.table.schema, plan.table.name)];
      for (const name of analyzed) await tgt.query(`ANALYZE ${name}`).catch(() => {});
    }
    // Continuous aggregates over a replaced hypertable: refreshed once the rows are committed.
    for (const plan of plans.filter((p) => p.hypertable)) {
      await refreshAggregatesOver(tgt, plan.table, range).then(
        (views) => {
          for (const v of views)
            log(`refreshed continuous aggregate ${v}${range ? ` over [${range.since}, ${range.until})` : ''}`);
        },
        (err) =>
          warnings.push(
            `continuous aggregates over ${plan.display} were not refreshed (${(err as Error).message}): CALL refresh_continuous_aggregate('<aggregate>', NULL, NULL, force => true)`,
          ),
      );
    }
    return { tables: results, durationMs: Date.now() - started, warnings };
  } finally {
    await source.close();
    await targetClient?.end().catch(() => {});
  }
}

/** Fingerprints of a table's rows in `range` on `client` (whose session has COPY_SESSION), by UTC day. */
function rangeFingerprint(
  client: pg.Client,
  table: ReplaceTable,
  columns: string[],
  range: TimeRange,
): Promise<Buckets> {
  const cols = columns.map(quoteIdent).join(', ');
  return fingerprintCopy(
    client,
    `(SELECT ${cols} FROM ${qualified(table.schema, table.name)} WHERE ${rangeCondition(table.timeColumn!, range)})`,
    columns.indexOf(table.timeColumn!),
  );
}

/** Inside the replacement's transaction: the range's rows in the target must hash as the source's, day by day. */
async function proveRange(source: RowSource, tgt: pg.Client, plan: Planned, range: TimeRange): Promise<void> {
  const expected = await source.fingerprint!(plan.table, plan.columns, range);
  await tgt.query(copySessionSql(true));
  const actual = await rangeFingerprint(tgt, plan.table, plan.columns, range);
  const differ = differingBuckets(expected, actual);
  const [first] = differ;
  if (first) {
    throw new DrError(
      `the restored range of ${plan.display} does not match ${source.name}: ${first.bucket} has ${first.actualRows} rows, ${source.name} ${first.expectedRows}${first.actualRows === first.expectedRows ? ' (contents differ)' : ''}${differ.length > 1 ? `, and ${differ.length - 1} more days` : ''}`,
      "report this with the table's definition; the target was rolled back and is unchanged",
    );
  }
}

/** The canonical range, after refusing an empty table list or an empty range. */
function checkRequest(options: ReplaceOptions): TimeRange | undefined {
  if (options.tables.length === 0)
    throw new DrError('no tables to restore', 'name at least one table, e.g. --tables candles');
  const range = options.range
    ? { since: parseTime(options.range.since, '--since'), until: parseTime(options.range.until, '--until') }
    : undefined;
  if (range && compareTimes(range.since, range.until) >= 0) {
    throw new DrError(
      `--since ${options.range!.since} is not before --until ${options.range!.until}`,
      'give a --since earlier than --until',
      2,
    );
  }
  return range;
}

/** The target's columns must be the source's (any order: COPY names them). */
export function assertSameColumns(
  display: string,
  target: readonly string[],
  source: readonly string[],
  sourceName: string,
): void {
  if (target.length === source.length && target.every((c) => source.includes(c))) return;
  throw new DrError(
    `${display} has different columns in the target (${target.join(', ')}) than in ${sourceName} (${source.join(', ')})`,
    "align the target table's columns with the backup first, or restore into another database; the target is unchanged",
  );
}

/** `session_replication_role = replica` when allowed (superuser, rds_superuser); else user triggers off per table, inside the transaction. */
async function disableTriggers(client: pg.Client, plans: Planned[], warnings: string[]): Promise<string[]> {
  await client.query('SAVEPOINT dr_replica');
  try {
    await client.query(`SET LOCAL session_replication_role = replica`);
    await client.query('RELEASE SAVEPOINT dr_replica');
    return [];
  } catch {
    await client.query('ROLLBACK TO SAVEPOINT dr_replica');
    warnings.push(
      'not allowed to set session_replication_role: user triggers were disabled per table instead, and foreign keys are enforced row by row',
    );
    const existing = plans.filter((p) => p.targetOid !== undefined);
    // Foreign-key actions still fire here: deleting the old rows would cascade into other tables.
    for (const plan of existing) {
      const { rows } = await client.query<{ name: string; child: string }>(
        `SELECT conname AS name, conrelid::regclass::text AS child FROM pg_constraint
          WHERE contype = 'f' AND confdeltype IN ('c', 'n', 'd') AND confrelid = ANY($1::oid[]) AND NOT conrelid = ANY($1::oid[]) LIMIT 1`,
        [await familyOids(client, plan.targetOid!)],
      );
      const [cascade] = rows;
      if (cascade) {
        throw new DrError(
          `restoring ${plan.display} would cascade into ${cascade.child} (foreign key ${cascade.name} ON DELETE acts), and this role may not set session_replication_role to prevent it`,
          'run the restore as a role allowed to set session_replication_role (superuser, rds_superuser); the target is unchanged',
        );
      }
    }
    const names = existing.map((p) => qualified(p.table.schema, p.table.name));
    for (const t of names) await client.query(`ALTER TABLE ${t} DISABLE TRIGGER USER`);
    return names;
  }
}

async function replaceOne(
  source: RowSource,
  tgt: pg.Client,
  plan: Planned,
  range: TimeRange | undefined,
  options: ReplaceOptions,
  now: Date,
  log: (m: string) => void,
): Promise<ReplacedTable> {
  const { table, display } = plan;
  const name = qualified(table.schema, table.name);
  const where = range ? ` WHERE ${rangeCondition(table.timeColumn!, range)}` : '';
  let rowsReplaced = 0;
  let rowsKept = 0;
  let safetyTable: string | null = null;
  let rebuildIndexes: (() => Promise<void>) | undefined;
  // The target's compressed chunks in the range stay compressed (rows deleted and loaded make them partial).
  const wasCompressed = plan.hypertable && range ? await compressedChunks(tgt, table, range) : [];
  if (plan.definition) {
    log(`creating ${display} from the backup's definition`);
    await tgt.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(table.schema)}`);
    await runDefinition(tgt, plan.definition.create, display);
  } else if (options.merge) {
    // Writers wait until commit, so the key check below sees every row the insert could clash with.
    await lockTable(tgt, name, display, options);
    const key = await primaryKey(tgt, plan.targetOid!);
    if (key.length === 0) {
      throw new DrError(
        `--merge needs a primary key on ${display} to tell the backup's missing rows from the target's`,
        'add one, or restore without --merge (the range is then replaced, its rows kept in a safety table)',
      );
    }
    rowsKept = Number(onlyRow(await tgt.query<{ n: string }>(`SELECT count(*) AS n FROM ${name}${where}`)).n);
    const staging = `pg_temp.${quoteIdent(`dr_merge_${plan.targetOid}`)}`;
    await tgt.query(`CREATE TEMP TABLE ${quoteIdent(`dr_merge_${plan.targetOid}`)} (LIKE ${name}) ON COMMIT DROP`);
    log(`copying ${display}${range ? ` [${range.since}, ${range.until})` : ''} from ${source.name} to merge it`);
    const loaded = await source.load(tgt, table, plan.columns, range, staging);
    const cols = plan.columns.map(quoteIdent).join(', ');
    const match = key.map((c) => `t.${quoteIdent(c)} = s.${quoteIdent(c)}`).join(' AND ');
    const inserted =
      await tgt.query(`INSERT INTO ${name} (${cols}) SELECT ${plan.columns.map((c) => `s.${quoteIdent(c)}`).join(', ')} FROM ${staging} s
      WHERE NOT EXISTS (SELECT 1 FROM ${name} t WHERE ${match})`);
    const rowsRestored = inserted.rowCount ?? 0;
    log(
      `merged ${display}: ${rowsRestored} of the ${loaded} rows of ${source.name} inserted, ${rowsKept} target rows kept`,
    );
    if (plan.hypertable) await recompress(tgt, table, wasCompressed, []);
    const sequencesAdvanced = await advanceSequences(source, tgt, plan);
    return {
      table: display,
      rowsReplaced: 0,
      rowsRestored,
      rowsKept,
      safetyTable: null,
      created: false,
      sequencesAdvanced,
    };
  } else {
    // Writers wait until commit (readers do not): a row committed after the safety copy would
    // otherwise be deleted (or, in a range, kept among the restored rows) without being saved.
    await lockTable(tgt, name, display, options);
    if (range && table.newerThan && !options.replaceNewer)
      await refuseNewerRows(tgt, table, display, range, options.origin);
    const { n } = onlyRow(await tgt.query<{ n: string }>(`SELECT count(*) AS n FROM ${name}${where}`));
    if (Number(n) > 0) {
      let attempt = 0;
      let safety = safetyTableName(table.name, now);
      while ((await tgt.query('SELECT to_regclass($1) AS r', [qualified(table.schema, safety)])).rows[0].r !== null)
        safety = safetyTableName(table.name, now, ++attempt);
      const saved = await tgt.query(`CREATE TABLE ${qualified(table.schema, safety)} AS SELECT * FROM ${name}${where}`);
      rowsReplaced = saved.rowCount ?? 0;
      const what = range
        ? `rows of ${display} with ${table.timeColumn} in [${range.since}, ${range.until})`
        : `all rows of ${display}`;
      await tgt.query(
        `COMMENT ON TABLE ${qualified(table.schema, safety)} IS ${quoteLiteral(`dr restore ${now.toISOString()}: ${what}, as they were before being replaced from ${options.origin ?? 'the source'}`)}`,
      );
      safetyTable = displayName({ schema: table.schema, name: safety });
      log(`kept ${rowsReplaced} rows of ${display} in ${safetyTable}`);
    }
    if (range) {
      await tgt.query(`DELETE FROM ${name}${where}`);
    } else {
      // TRUNCATE is far cheaper than DELETE but refused while other tables' foreign keys point here.
      const referenced = await tgt.query(
        `SELECT 1 FROM pg_constraint WHERE contype = 'f' AND confrelid = ANY($1::oid[]) AND NOT conrelid = ANY($1::oid[]) LIMIT 1`,
        [await familyOids(tgt, plan.targetOid!)],
      );
      if (referenced.rowCount) await tgt.query(`DELETE FROM ${name}`);
      else {
        // A hypertable's TRUNCATE drops its chunks; its indexes are the hypertable's and stay.
        await tgt.query(`TRUNCATE ${name}`);
        if (!plan.hypertable)
          rebuildIndexes = await dropIndexesUntilLoaded(tgt, await familyOids(tgt, plan.targetOid!));
      }
    }
  }

  log(`copying ${display}${range ? ` [${range.since}, ${range.until})` : ''} from ${source.name}`);
  const rowsRestored = await source.load(tgt, table, plan.columns, range);
  if (rebuildIndexes) {
    log(`rebuilding the indexes of ${display}`);
    await rebuildIndexes();
  }

  if (plan.definition) await runDefinition(tgt, plan.definition.finish, display);
  if (plan.hypertable) {
    // A range keeps the target's compression; a whole table takes the source's (its chunks were dropped).
    const compressed = await recompress(tgt, table, wasCompressed, range ? [] : plan.hypertable.compressedRanges);
    if (compressed.length) log(`compressed ${compressed.length} chunks of ${display} again`);
  }
  const sequencesAdvanced = await advanceSequences(source, tgt, plan);
  return {
    table: display,
    rowsReplaced,
    rowsRestored,
    rowsKept,
    safetyTable,
    created: plan.definition !== undefined,
    sequencesAdvanced,
  };
}

/** LOCK TABLE … IN EXCLUSIVE MODE, or a one-line error naming the session that holds it past the lock timeout. */
async function lockTable(tgt: pg.Client, name: string, display: string, options: ReplaceOptions): Promise<void> {
  try {
    await tgt.query(`LOCK TABLE ${name} IN EXCLUSIVE MODE`);
  } catch (err) {
    if (!isLockTimeout(err)) throw err;
    throw await lockTimeoutError(
      `restoring ${display}`,
      options.targetUrl,
      options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
      name,
    );
  }
}

/** The primary key's columns (a partitioned table's or hypertable's own), or [] when it has none. */
async function primaryKey(client: pg.Client, oid: number): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `
    SELECT a.attname AS name FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(n, o)
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
     WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.o`,
    [oid],
  );
  return rows.map((r) => r.name);
}

/** Target rows in the range newer than the source's newest: replacing would delete them (they would survive only in the safety table). */
export async function countNewerRows(client: pg.Client, table: ReplaceTable, range: TimeRange): Promise<number> {
  const col = quoteIdent(table.timeColumn!);
  const { n } = onlyRow(
    await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${qualified(table.schema, table.name)} WHERE ${rangeCondition(table.timeColumn!, range)} AND ${col} > ${quoteLiteral(table.newerThan!)}::timestamptz`,
    ),
  );
  return Number(n);
}

export function newerRowsError(
  display: string,
  table: ReplaceTable,
  range: TimeRange,
  count: number,
  origin = 'the source',
): DrError {
  return new DrError(
    `${count} rows of ${display} in [${range.since}, ${range.until}) are newer than ${origin} (its newest ${table.timeColumn} is ${table.newerThan}): replacing the range would delete them`,
    "add --merge to insert only the backup's missing rows and keep every row there, or --replace-newer to replace the range anyway (the newer rows go to the safety table); the target is unchanged",
  );
}

async function refuseNewerRows(
  tgt: pg.Client,
  table: ReplaceTable,
  display: string,
  range: TimeRange,
  origin: string | undefined,
): Promise<void> {
  const count = await countNewerRows(tgt, table, range);
  if (count > 0) throw newerRowsError(display, table, range, count, origin);
}

/**
 * A freshly truncated table loads much faster without its indexes, built once at the end (as a
 * full restore does), than with each row inserted into them. Drops them inside the transaction
 * and returns what recreates them under the same names (partition indexes attached as before).
 * Returns undefined, dropping nothing, when an index carries something a plain re-creation
 * would lose (replica identity, clustering, comments, statistics targets, a tablespace) or a
 * foreign key points at the family (it needs the unique index).
 */
async function dropIndexesUntilLoaded(tgt: pg.Client, family: number[]): Promise<(() => Promise<void>) | undefined> {
  const { rows } = await tgt.query<{
    oid: number;
    name: string;
    short: string;
    parent: string | null;
    constraint_name: string | null;
    constraint_def: string | null;
    table: string;
    index_def: string;
    keep: boolean;
  }>(
    `
    SELECT i.indexrelid::int AS oid, i.indexrelid::regclass::text AS name, quote_ident(ic.relname) AS short, i.indrelid::regclass::text AS table,
           (SELECT h.inhparent::regclass::text FROM pg_inherits h WHERE h.inhrelid = i.indexrelid) AS parent,
           quote_ident(c.conname) AS constraint_name, pg_get_constraintdef(c.oid) AS constraint_def, pg_get_indexdef(i.indexrelid) AS index_def,
           (i.indisreplident OR i.indisclustered OR NOT i.indisvalid OR ic.reltablespace <> 0
             OR obj_description(i.indexrelid, 'pg_class') IS NOT NULL OR (c.oid IS NOT NULL AND obj_description(c.oid, 'pg_constraint') IS NOT NULL)
             OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0)) AS keep
      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
      LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')
     WHERE i.indrelid = ANY($1::oid[])`,
    [family],
  );
  if (rows.length === 0 || rows.some((r) => r.keep)) return undefined;
  const fks = await tgt.query(
    `SELECT 1 FROM pg_constraint WHERE contype = 'f' AND confrelid = ANY($1::oid[]) LIMIT 1`,
    [family],
  );
  if (fks.rowCount) return undefined;
  // Top-level ones only: dropping a partitioned index (or its constraint) drops its partitions'.
  // Something else depending on them (a view grouping by the primary key) keeps them all.
  await tgt.query('SAVEPOINT dr_indexes');
  try {
    for (const r of rows.filter((x) => x.parent === null)) {
      await tgt.query(
        r.constraint_name ? `ALTER TABLE ${r.table} DROP CONSTRAINT ${r.constraint_name}` : `DROP INDEX ${r.name}`,
      );
    }
    await tgt.query('RELEASE SAVEPOINT dr_indexes');
  } catch {
    await tgt.query('ROLLBACK TO SAVEPOINT dr_indexes');
    await tgt.query('RELEASE SAVEPOINT dr_indexes');
    return undefined;
  }
  return async () => {
    await tgt.query(`SET LOCAL maintenance_work_mem = '512MB'`);
    // As pg_dump does: every index on its own table only, then each attached to its parent's.
    for (const r of rows) {
      await tgt.query(
        r.constraint_name
          ? `ALTER TABLE ONLY ${r.table} ADD CONSTRAINT ${r.constraint_name} ${r.constraint_def}`
          : onlyOnItsTable(r.index_def, r.short),
      );
    }
    for (const r of rows.filter((x) => x.parent !== null))
      await tgt.query(`ALTER INDEX ${r.parent} ATTACH PARTITION ${r.name}`);
    const invalid = await tgt.query<{ name: string }>(
      `SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = ANY($1::oid[]) AND NOT indisvalid`,
      [family],
    );
    const [broken] = invalid.rows;
    if (broken)
      throw new DrError(
        `rebuilding index ${broken.name} left it invalid`,
        "the target was rolled back and is unchanged; report this with the table's definition",
      );
  };
}

/** `CREATE [UNIQUE] INDEX name ON [ONLY] t …` as `… ON ONLY t …` (pg_get_indexdef writes ONLY for partitioned tables only). */
function onlyOnItsTable(definition: string, name: string): string {
  const head = `INDEX ${name} ON `;
  const at = definition.indexOf(head) + head.length;
  return definition.startsWith('ONLY ', at) ? definition : `${definition.slice(0, at)}ONLY ${definition.slice(at)}`;
}

async function runDefinition(client: pg.Client, script: string, display: string): Promise<void> {
  try {
    await client.query(sqlOf(script));
  } catch (err) {
    throw new DrError(
      `creating ${display} from the backup's definition failed: ${(err as Error).message}`,
      'create what it depends on first (types, schemas, referenced rows), or restore the full backup into a new database; the target is unchanged',
      1,
      { cause: err },
    );
  } finally {
    // The dump's script empties search_path for the session; later statements are qualified anyway.
    await client.query('SET search_path TO DEFAULT').catch(() => {});
  }
}

/** Sequences owned by the table (serial, identity) never go backwards, and never stay behind the source. */
async function advanceSequences(source: RowSource, tgt: pg.Client, plan: Planned): Promise<string[]> {
  const { rows: owned } = await tgt.query<{ schema: string; name: string; last_value: string | null }>(
    `
    SELECT n.nspname AS schema, s.relname AS name, q.last_value::text AS last_value
      FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN pg_namespace n ON n.oid = s.relnamespace
      JOIN pg_sequences q ON q.schemaname = n.nspname AND q.sequencename = s.relname
     WHERE d.refobjid = to_regclass($1) AND d.deptype IN ('a', 'i')`,
    [qualified(plan.table.schema, plan.table.name)],
  );
  const src = await source.sequenceValues(owned);
  const advanced: string[] = [];
  for (const seq of owned) {
    const wanted = src.get(`${seq.schema}.${seq.name}`);
    if (wanted == null || (seq.last_value !== null && BigInt(seq.last_value) >= BigInt(wanted))) continue;
    await tgt.query('SELECT setval($1::regclass, $2::bigint, true)', [qualified(seq.schema, seq.name), wanted]);
    advanced.push(displayName(seq));
  }
  return advanced;
}

/**
 * Foreign keys from and to the replaced rows still hold (they were not enforced while loading).
 * With a range, only the table's new rows are checked against their parents.
 */
async function checkForeignKeys(tgt: pg.Client, plan: Planned, range: TimeRange | undefined): Promise<void> {
  const { oid } = onlyRow(
    await tgt.query<{ oid: number }>('SELECT to_regclass($1)::oid::int AS oid', [
      qualified(plan.table.schema, plan.table.name),
    ]),
  );
  const { rows } = await tgt.query<{
    name: string;
    child: number;
    parent: number;
    child_cols: string[];
    parent_cols: string[];
  }>(
    `
    SELECT c.conname AS name, c.conrelid::int AS child, c.confrelid::int AS parent,
           (SELECT array_agg(a.attname::text ORDER BY k.i) FROM unnest(c.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n) AS child_cols,
           (SELECT array_agg(a.attname::text ORDER BY k.i) FROM unnest(c.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n) AS parent_cols
      FROM pg_constraint c
     WHERE c.contype = 'f' AND c.conparentid = 0 AND (c.conrelid = $1 OR c.confrelid = $1)`,
    [oid],
  );
  for (const fk of rows) {
    const onChild = fk.child === oid && range ? ` AND ${rangeCondition(plan.table.timeColumn!, range, 'ch.')}` : '';
    const notNull = fk.child_cols.map((c) => `ch.${quoteIdent(c)} IS NOT NULL`).join(' AND ');
    // A foreign key has as many referenced columns as referencing ones.
    const join = fk.child_cols
      .map((c, i) => `pa.${quoteIdent(fk.parent_cols[i]!)} = ch.${quoteIdent(c)}`)
      .join(' AND ');
    const childName = onlyRow(await tgt.query<{ n: string }>('SELECT $1::regclass::text AS n', [fk.child])).n;
    const parentName = onlyRow(await tgt.query<{ n: string }>('SELECT $1::regclass::text AS n', [fk.parent])).n;
    const { rows: bad } = await tgt.query<{ key: string }>(
      `SELECT concat_ws(', ', ${fk.child_cols.map((c) => `ch.${quoteIdent(c)}`).join(', ')}) AS key FROM ${childName} ch
        WHERE ${notNull}${onChild} AND NOT EXISTS (SELECT 1 FROM ${parentName} pa WHERE ${join}) LIMIT 1`,
    );
    const [unmatched] = bad;
    if (unmatched) {
      const other = fk.child === oid ? parentName : childName;
      throw new DrError(
        `restoring ${plan.display} would break foreign key ${fk.name}: ${childName} row (${fk.child_cols.join(', ')}) = (${unmatched.key}) has no match in ${parentName}`,
        `restore ${other} too (--tables ${plan.display},${other}); the target was rolled back and is unchanged`,
      );
    }
  }
}

/** Materialized views reading the replaced tables are now stale: say which to refresh. */
async function dependentMatviews(client: pg.Client, plans: Planned[]): Promise<string[]> {
  const names = plans.map((p) => qualified(p.table.schema, p.table.name));
  const { rows } = await client.query<{ mv: string; t: string }>(
    `
    SELECT DISTINCT format('%I.%I', vn.nspname, v.relname) AS mv, format('%I.%I', tn.nspname, t.relname) AS t
      FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class AND v.relkind = 'm'
      JOIN pg_namespace vn ON vn.oid = v.relnamespace JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace
     WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = ANY(SELECT to_regclass(x) FROM unnest($1::text[]) x) ORDER BY 1`,
    [names],
  );
  return rows.map((r) => `materialized view ${r.mv} reads ${r.t} and is now stale: REFRESH MATERIALIZED VIEW ${r.mv}`);
}
