/**
 * TimescaleDB, the one place that knows its catalog: what a backup records of hypertables,
 * chunks, continuous aggregates and policy jobs; which relations and sequences are the
 * extension's own bookkeeping; which pg_dump warnings it causes by design; the restore order it
 * needs; and whether a target server can take a backup of it.
 *
 * Users see hypertables, not chunks: the manifest counts rows through each hypertable (compressed
 * chunks included) and describes chunks only as a hypertable's parts, so a restore that lays the
 * chunks out the same way verifies, and one that loses a chunk or its compression does not.
 */
import type pg from 'pg';
import type { ManifestTimescale } from '../backup/manifest.ts';
import { DrError } from '../errors.ts';
import type { TocEntry } from '../restore/toc.ts';
import { onlyRow } from './rows.ts';

export const TIMESCALE_EXTENSION = 'timescaledb';

/**
 * Schemas that belong to the extension: its catalog, configuration, functions, information views
 * and (by default) the chunks. Their tables and sequences are TimescaleDB's bookkeeping (chunk
 * ids, job statistics), which legitimately differs after a restore.
 */
const TIMESCALE_SCHEMA_PATTERN = `'^(_timescaledb_|timescaledb_)'`;

/** SQL condition: the schema name in `column` (e.g. `n.nspname`) is one of TimescaleDB's own schemas. */
export function isTimescaleSchemaSql(column: string): string {
  return `${column} ~ ${TIMESCALE_SCHEMA_PATTERN}`;
}

/** Jobs below this id are the extension's own (telemetry, job-history retention); users' policies start here. */
const FIRST_USER_JOB_ID = 1000;

export interface TimescaleChunk {
  readonly schema: string;
  readonly name: string;
  /** The chunk's time range on the hypertable's time dimension, `[rangeStart, rangeEnd)` as PostgreSQL text in UTC; null for a non-time dimension. */
  readonly rangeStart: string | null;
  readonly rangeEnd: string | null;
  readonly compressed: boolean;
  /** The relation holding the chunk's compressed rows, when compressed. */
  readonly compressedChunk?: { readonly schema: string; readonly name: string };
  /** Backup files holding the chunk's rows (its own data file and its compressed chunk's), filled in after the dump. */
  readonly dataFiles: string[];
}

export interface TimescaleHypertable {
  readonly schema: string;
  readonly name: string;
  /** The time dimension's column. */
  readonly timeColumn: string | null;
  readonly compressionEnabled: boolean;
  readonly chunks: TimescaleChunk[];
}

export interface TimescaleContinuousAggregate {
  readonly schema: string;
  readonly name: string;
  /** count(*) through the view, in the dump's snapshot. */
  readonly rows: number;
  readonly materializedOnly: boolean;
}

export interface TimescaleJob {
  readonly id: number;
  /** e.g. `_timescaledb_functions.policy_compression`. */
  readonly proc: string;
  /** `schema.name` of the hypertable or continuous aggregate it works on, or null. */
  readonly hypertable: string | null;
  readonly scheduleInterval: string;
  readonly scheduled: boolean;
  /** The job's config as canonical JSON text, or null. */
  readonly config: string | null;
  /** When it was next due (PostgreSQL text, UTC), from its statistics; null when it had none. Not compared by verify. */
  readonly nextStart: string | null;
}

export interface TimescaleCatalog {
  readonly version: string;
  readonly hypertables: TimescaleHypertable[];
  readonly continuousAggregates: TimescaleContinuousAggregate[];
  readonly jobs: TimescaleJob[];
}

/** The installed TimescaleDB version of the connected database, or null when it has none. */
export async function installedVersion(client: pg.Client): Promise<string | null> {
  const { rows } = await client.query<{ v: string }>(`SELECT extversion AS v FROM pg_extension WHERE extname = $1`, [
    TIMESCALE_EXTENSION,
  ]);
  return rows[0]?.v ?? null;
}

/**
 * Oids of the relations that are parts of hypertables or continuous aggregates (chunks,
 * compressed chunks, internal hypertables), wherever they live: they are never user tables of
 * their own. Empty without TimescaleDB.
 */
export async function internalRelationOids(client: pg.Client): Promise<number[]> {
  if ((await installedVersion(client)) === null) return [];
  const { rows } = await client.query<{ oid: number }>(`
    SELECT to_regclass(format('%I.%I', schema_name, table_name))::oid::int AS oid FROM _timescaledb_catalog.chunk
    UNION
    SELECT to_regclass(format('%I.%I', h.schema_name, h.table_name))::oid::int FROM _timescaledb_catalog.hypertable h
     WHERE h.compression_state = 2 OR h.id IN (SELECT mat_hypertable_id FROM _timescaledb_catalog.continuous_agg)`);
  return rows.map((r) => r.oid).filter((oid) => oid !== null);
}

/** The hypertables' time columns, by `schema\0name`, for the freshness check. */
export async function hypertableTimeColumns(client: pg.Client): Promise<Map<string, string>> {
  if ((await installedVersion(client)) === null) return new Map();
  const { rows } = await client.query<{ schema: string; name: string; column: string }>(`
    SELECT hypertable_schema AS schema, hypertable_name AS name, column_name AS column
      FROM timescaledb_information.dimensions
     WHERE dimension_type = 'Time' AND dimension_number = 1`);
  return new Map(rows.map((r) => [`${r.schema}\0${r.name}`, r.column]));
}

/**
 * What the manifest records of TimescaleDB, read in the caller's transaction (the dump's
 * snapshot); null without the extension. The session must be in UTC (catalog.tables sets it).
 */
export async function readTimescaleCatalog(client: pg.Client): Promise<TimescaleCatalog | null> {
  const version = await installedVersion(client);
  if (version === null) return null;
  const { rows: hypertables } = await client.query<{
    schema: string;
    name: string;
    compression: boolean;
    time_column: string | null;
  }>(`
    SELECT h.hypertable_schema AS schema, h.hypertable_name AS name, h.compression_enabled AS compression,
           (SELECT d.column_name FROM timescaledb_information.dimensions d
             WHERE d.hypertable_schema = h.hypertable_schema AND d.hypertable_name = h.hypertable_name AND d.dimension_type = 'Time'
             ORDER BY d.dimension_number LIMIT 1) AS time_column
      FROM timescaledb_information.hypertables h ORDER BY 1, 2`);
  const { rows: chunks } = await client.query<{
    hschema: string;
    hname: string;
    schema: string;
    name: string;
    range_start: string | null;
    range_end: string | null;
    compressed: boolean;
    cschema: string | null;
    cname: string | null;
  }>(`
    SELECT ch.hypertable_schema AS hschema, ch.hypertable_name AS hname, ch.chunk_schema AS schema, ch.chunk_name AS name,
           ch.range_start::text AS range_start, ch.range_end::text AS range_end, ch.is_compressed AS compressed,
           cc.schema_name AS cschema, cc.table_name AS cname
      FROM timescaledb_information.chunks ch
      JOIN _timescaledb_catalog.chunk c ON c.schema_name = ch.chunk_schema AND c.table_name = ch.chunk_name
      LEFT JOIN _timescaledb_catalog.chunk cc ON cc.id = c.compressed_chunk_id
     ORDER BY 1, 2, ch.range_start, 4`);
  const { rows: caggs } = await client.query<{ schema: string; name: string; materialized_only: boolean }>(`
    SELECT view_schema AS schema, view_name AS name, materialized_only FROM timescaledb_information.continuous_aggregates ORDER BY 1, 2`);
  const continuousAggregates: TimescaleContinuousAggregate[] = [];
  for (const c of caggs) {
    const { n } = onlyRow(await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoted(c.schema, c.name)}`));
    continuousAggregates.push({
      schema: c.schema,
      name: c.name,
      rows: Number(n),
      materializedOnly: c.materialized_only,
    });
  }
  const { rows: jobs } = await client.query<{
    id: number;
    proc: string;
    hschema: string | null;
    hname: string | null;
    schedule: string;
    scheduled: boolean;
    config: string | null;
    next_start: string | null;
  }>(`
    SELECT j.job_id AS id, j.proc_schema || '.' || j.proc_name AS proc, j.hypertable_schema AS hschema, j.hypertable_name AS hname,
           j.schedule_interval::text AS schedule, j.scheduled, j.config::text AS config, s.next_start::text AS next_start
      FROM timescaledb_information.jobs j LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.job_id
     WHERE j.job_id >= ${FIRST_USER_JOB_ID} ORDER BY j.job_id`);
  return {
    version,
    hypertables: hypertables.map((h) => ({
      schema: h.schema,
      name: h.name,
      timeColumn: h.time_column,
      compressionEnabled: h.compression,
      chunks: chunks
        .filter((c) => c.hschema === h.schema && c.hname === h.name)
        .map((c) => ({
          schema: c.schema,
          name: c.name,
          rangeStart: c.range_start,
          rangeEnd: c.range_end,
          compressed: c.compressed,
          ...(c.cschema !== null && c.cname !== null ? { compressedChunk: { schema: c.cschema, name: c.cname } } : {}),
          dataFiles: [],
        })),
    })),
    continuousAggregates,
    jobs: jobs.map((j) => ({
      id: j.id,
      proc: j.proc,
      hypertable: j.hschema !== null && j.hname !== null ? `${j.hschema}.${j.hname}` : null,
      scheduleInterval: j.schedule,
      scheduled: j.scheduled,
      config: j.config,
      nextStart: j.next_start,
    })),
  };
}

/**
 * Fills each chunk's data files from the dump's table of contents: the TABLE DATA entries of the
 * chunk and of its compressed chunk, as the names of the files the dump wrote.
 */
export function withChunkDataFiles(
  catalog: TimescaleCatalog,
  toc: readonly TocEntry[],
  dataFileOf: (dumpId: number) => string | undefined,
): TimescaleCatalog {
  const filesOf = (schema: string, name: string) =>
    toc
      .filter(
        (e) => e.desc === 'TABLE DATA' && (e.rest === `${schema} ${name}` || e.rest.startsWith(`${schema} ${name} `)),
      )
      .map((e) => dataFileOf(e.dumpId))
      .filter((f): f is string => f !== undefined);
  return {
    ...catalog,
    hypertables: catalog.hypertables.map((h) => ({
      ...h,
      chunks: h.chunks.map((c) => ({
        ...c,
        dataFiles: [
          ...filesOf(c.schema, c.name),
          ...(c.compressedChunk ? filesOf(c.compressedChunk.schema, c.compressedChunk.name) : []),
        ],
      })),
    })),
  };
}

/**
 * TimescaleDB's catalog tables, as pg_dump names them in its circular foreign-key warning
 * (hypertable ↔ chunk ↔ dimension_slice, continuous_agg …): a restore handles them through
 * timescaledb_pre_restore(), so that warning is expected on every dump of such a database.
 */
const TIMESCALE_CATALOG_TABLE =
  /^(hypertable|chunk|chunk_\w+|dimension|dimension_slice|continuous_agg|continuous_aggs?_\w+|compression_\w+|tablespace|bgw_\w+|hypertable_\w+)$/;

/** pg_dump's notice when it meets a hypertable's own (empty) table: its rows are dumped through the chunks. */
const HYPERTABLE_DATA_NOTICE = /hypertable data are in the chunks, no data will be copied/;

/**
 * The warnings of a successful pg_dump run that a user should see, one line each (the warning
 * with its detail): every `warning:`, `WARNING:` or `NOTICE:` except TimescaleDB's known ones,
 * tolerated by name. `--verbose` progress lines are not warnings.
 */
export function unexpectedDumpWarnings(stderr: string): string[] {
  const groups: { head: string; details: string[] }[] = [];
  for (const raw of stderr.split('\n')) {
    const line = raw.trim().replace(/^pg_dump:\s*/, '');
    if (/^(warning|WARNING|NOTICE):/.test(line)) groups.push({ head: line, details: [] });
    else if (/^(detail|DETAIL|hint|HINT):/.test(line)) groups.at(-1)?.details.push(line.replace(/^\w+:\s*/, ''));
  }
  const known = (g: { head: string; details: string[] }) => {
    if (HYPERTABLE_DATA_NOTICE.test(g.head)) return true;
    if (!/circular foreign-key constraints/.test(g.head)) return false;
    // The detail lists the tables (one, or several separated by commas); the hints follow it.
    const tables = g.details.filter((d) => !/^(You might not|Consider using)/.test(d)).flatMap((d) => d.split(/,\s*/));
    return tables.length > 0 && tables.every((t) => TIMESCALE_CATALOG_TABLE.test(t.trim()));
  };
  return groups
    .filter((g) => !known(g))
    .map((g) => {
      const detail = g.details.filter((d) => !/^(You might not|Consider using)/.test(d));
      return `pg_dump ${g.head}${detail.length ? ` (${detail.join('; ')})` : ''}`;
    });
}

/**
 * The full-restore order TimescaleDB supports with parallelism (its docs, and timescale/timescaledb
 * issue 698), after `timescaledb_pre_restore()` and the pre-data:
 *   1. `catalog`: the extension's catalog and configuration rows, alone and in order (their
 *      foreign keys are live);
 *   2. `parallel`: everything else of the data and post-data sections, in parallel;
 *   3. `timescaledb_post_restore()`;
 *   4. `refresh`: materialized views last. While restoring, TimescaleDB's planner is off and a
 *      query on a hypertable reads plain inheritance, which misses compressed rows; and pg_dump
 *      records a view's dependency on the (empty) hypertable, not on its chunks.
 */
export function timescaleRestoreSteps(toc: readonly TocEntry[]): {
  catalog: TocEntry[];
  parallel: TocEntry[];
  refresh: TocEntry[];
} {
  const isCatalog = (e: TocEntry) =>
    (e.desc === 'TABLE DATA' || e.desc === 'SEQUENCE SET') && /^_timescaledb_(catalog|config) /.test(e.rest);
  const isRefresh = (e: TocEntry) => e.desc === 'MATERIALIZED VIEW DATA';
  return {
    catalog: toc.filter(isCatalog),
    parallel: toc.filter((e) => !isCatalog(e) && !isRefresh(e)),
    refresh: toc.filter(isRefresh),
  };
}

/** How a restore schedules the restored policy jobs. */
export interface JobSchedule {
  /**
   * Keep every job from running (next start `infinity`, still scheduled): for a database that is
   * restored to be verified (drills), where a compression or retention policy running between the
   * restore and the verification would change what is compared.
   * @default false - each job is next due when the source had it due, or now when that has passed
   */
  readonly hold?: boolean;
  /** Each job's next start at backup time, by job id (the manifest's `nextStart`). @default - none: due now */
  readonly recorded?: ReadonlyMap<number, string | null>;
}

/**
 * Sets each user job's next start before timescaledb_post_restore() starts the scheduler: job
 * statistics are not in a dump, so without this every policy would run the moment the restore
 * ends (and a retention policy could drop chunks of a verification copy).
 */
export async function scheduleRestoredJobs(client: pg.Client, schedule: JobSchedule): Promise<void> {
  const recorded = [...(schedule.recorded ?? new Map())];
  await client.query(
    `
    SELECT alter_job(j.id, next_start => CASE WHEN $1 THEN 'infinity'::timestamptz ELSE greatest(r.next_start::timestamptz, now()) END)
      FROM _timescaledb_config.bgw_job j
      LEFT JOIN unnest($2::int[], $3::text[]) AS r(id, next_start) ON r.id = j.id
     WHERE j.id >= ${FIRST_USER_JOB_ID}`,
    [schedule.hold ?? false, recorded.map(([id]) => id), recorded.map(([, at]) => at)],
  );
}

/**
 * A target server must be able to create the backup's TimescaleDB version, with the library
 * preloaded; checked on its maintenance database before anything is touched.
 */
export async function assertServerCanRestore(admin: pg.Client, backupId: string, version: string): Promise<void> {
  const { rows } = await admin.query<{ version: string }>(
    `SELECT version FROM pg_available_extension_versions WHERE name = $1 ORDER BY version`,
    [TIMESCALE_EXTENSION],
  );
  if (rows.length === 0) {
    throw new DrError(
      `backup ${backupId} holds TimescaleDB ${version} data, but the target server has no TimescaleDB extension installed`,
      `install TimescaleDB ${version} on the target server and add timescaledb to shared_preload_libraries, then restart it`,
    );
  }
  if (!rows.some((r) => r.version === version)) {
    const offered = rows.map((r) => r.version);
    throw new DrError(
      `backup ${backupId} needs TimescaleDB ${version}, the target server can create only ${offered.join(', ')}`,
      `install TimescaleDB ${version} on the target server (then, if you want the newer version, restore and run ALTER EXTENSION timescaledb UPDATE)`,
    );
  }
  const preload = onlyRow(
    await admin.query<{ s: string }>(`SELECT current_setting('shared_preload_libraries') AS s`),
  ).s;
  if (
    !preload.split(',').some(
      (lib) =>
        lib
          .trim()
          .replace(/^"|"$/g, '')
          .replace(/-[\d.]+$/, '') === TIMESCALE_EXTENSION,
    )
  ) {
    throw new DrError(
      `the target server has TimescaleDB installed but not preloaded (shared_preload_libraries = '${preload}')`,
      `add timescaledb to shared_preload_libraries in postgresql.conf and restart the server (on RDS: the parameter group)`,
    );
  }
}

function quoted(schema: string, name: string): string {
  return `"${schema.replace(/"/g, '""')}"."${name.replace(/"/g, '""')}"`;
}

interface Relation {
  readonly schema: string;
  readonly name: string;
}

/** A `[since, until)` time range as ISO text. */
interface Range {
  readonly since: string;
  readonly until: string;
}

/** PostgreSQL's timestamptz text in UTC (`2026-01-05 00:00:00+00`) as epoch ms. */
function pgTextMs(text: string): number {
  return Date.parse(text.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00'));
}

/**
 * The relations whose data files hold a hypertable's rows in `range` (all of them without one):
 * each overlapping chunk and its compressed chunk, from the manifest. A range restore fetches
 * only these, so its cost follows the range's share of the table.
 */
export function hypertableMembers(timescale: ManifestTimescale, table: Relation, range?: Range): Relation[] {
  const hypertable = timescale.hypertables.find((h) => h.schema === table.schema && h.name === table.name);
  if (!hypertable) return [];
  const overlaps = (c: ManifestTimescale['hypertables'][number]['chunks'][number]) =>
    !range ||
    c.rangeStart === null ||
    c.rangeEnd === null ||
    (pgTextMs(c.rangeStart) < Date.parse(range.until) && pgTextMs(c.rangeEnd) > Date.parse(range.since));
  return [
    table,
    ...hypertable.chunks
      .filter(overlaps)
      .flatMap((c) => [{ schema: c.schema, name: c.name }, ...(c.compressedChunk ? [c.compressedChunk] : [])]),
  ];
}

/** True when the connected database has TimescaleDB and `table` is one of its hypertables. */
export async function isHypertable(client: pg.Client, table: Relation): Promise<boolean> {
  if ((await installedVersion(client)) === null) return false;
  const { rows } = await client.query(
    `SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_schema = $1 AND hypertable_name = $2`,
    [table.schema, table.name],
  );
  return rows.length > 0;
}

/** The hypertable's compressed chunks (fully or partly), those overlapping `range` when given, as `schema.name` regclass text. */
export async function compressedChunks(client: pg.Client, table: Relation, range?: Range): Promise<string[]> {
  const { rows } = await client.query<{ chunk: string }>(
    `
    SELECT format('%I.%I', chunk_schema, chunk_name) AS chunk FROM timescaledb_information.chunks
     WHERE hypertable_schema = $1 AND hypertable_name = $2 AND is_compressed
       AND ($3::timestamptz IS NULL OR (range_start < $4::timestamptz AND range_end > $3::timestamptz))
     ORDER BY range_start`,
    [table.schema, table.name, range?.since ?? null, range?.until ?? null],
  );
  return rows.map((r) => r.chunk);
}

/** Time ranges of the hypertable's compressed chunks, as PostgreSQL text (the source's compression layout). */
export async function compressedRanges(client: pg.Client, table: Relation): Promise<{ start: string; end: string }[]> {
  const { rows } = await client.query<{ start: string; end: string }>(
    `
    SELECT range_start::text AS start, range_end::text AS end FROM timescaledb_information.chunks
     WHERE hypertable_schema = $1 AND hypertable_name = $2 AND is_compressed AND range_start IS NOT NULL ORDER BY range_start`,
    [table.schema, table.name],
  );
  return rows;
}

/**
 * Compresses the named chunks again (a chunk that took rows back is only partly compressed),
 * and the hypertable's chunks lying within `within` (a source's compressed ranges); returns the
 * chunks compressed. Runs inside the caller's transaction.
 */
export async function recompress(
  client: pg.Client,
  table: Relation,
  chunks: readonly string[],
  within: readonly { start: string; end: string }[] = [],
): Promise<string[]> {
  const { rows: covered } = await client.query<{ chunk: string }>(
    `
    SELECT format('%I.%I', c.chunk_schema, c.chunk_name) AS chunk FROM timescaledb_information.chunks c
      JOIN unnest($3::timestamptz[], $4::timestamptz[]) AS w(s, e) ON c.range_start >= w.s AND c.range_end <= w.e
     WHERE c.hypertable_schema = $1 AND c.hypertable_name = $2`,
    [table.schema, table.name, within.map((w) => w.start), within.map((w) => w.end)],
  );
  const all = [...new Set([...chunks, ...covered.map((r) => r.chunk)])];
  for (const chunk of all) await client.query(`SELECT compress_chunk($1::regclass)`, [chunk]);
  return all;
}

/**
 * Refreshes, after the replacement committed, every continuous aggregate over the hypertable in
 * `range` widened to whole buckets (the whole aggregate without a range): the restored rows were
 * loaded with triggers off, so no invalidation was logged, hence `force`. Outside any transaction
 * (TimescaleDB refuses a refresh inside one). Returns the aggregates refreshed.
 */
export async function refreshAggregatesOver(client: pg.Client, table: Relation, range?: Range): Promise<string[]> {
  const { rows } = await client.query<{ view: string; width: string | null }>(
    `
    SELECT format('%I.%I', ca.view_schema, ca.view_name) AS view, bf.bucket_width::text AS width
      FROM timescaledb_information.continuous_aggregates ca
      JOIN _timescaledb_catalog.continuous_agg c ON c.user_view_schema = ca.view_schema AND c.user_view_name = ca.view_name
      LEFT JOIN _timescaledb_catalog.continuous_aggs_bucket_function bf ON bf.mat_hypertable_id = c.mat_hypertable_id
     WHERE ca.hypertable_schema = $1 AND ca.hypertable_name = $2`,
    [table.schema, table.name],
  );
  for (const r of rows) {
    if (!range) {
      await client.query(`CALL refresh_continuous_aggregate($1::regclass, NULL, NULL, force => true)`, [r.view]);
      continue;
    }
    // Buckets the range only partly covers are recomputed whole.
    const w = r.width
      ? onlyRow(
          await client.query<{ s: string; e: string }>(
            `SELECT time_bucket($1::interval, $2::timestamptz)::text AS s, (time_bucket($1::interval, $3::timestamptz - interval '1 microsecond') + $1::interval)::text AS e`,
            [r.width, range.since, range.until],
          ),
        )
      : { s: range.since, e: range.until };
    await client.query(
      `CALL refresh_continuous_aggregate($1::regclass, $2::timestamptz, $3::timestamptz, force => true)`,
      [r.view, w.s, w.e],
    );
  }
  return rows.map((r) => r.view);
}

/** A table restore between a hypertable and a plain table: refused, whichever side is which. */
export function kindMismatchError(display: string, sourceIsHypertable: boolean, sourceName: string): DrError {
  const [inSource, inTarget] = sourceIsHypertable
    ? ['a hypertable', 'a plain table']
    : ['a plain table', 'a hypertable'];
  return new DrError(
    `${display} is ${inSource} in ${sourceName} but ${inTarget} in the target`,
    `make the target's ${display} ${inSource} like the backup's (or restore the full backup into a new database); the target is unchanged`,
  );
}

/** A hypertable cannot be created from a dump's definition alone (that is plain tables plus catalog rows). */
export function missingHypertableError(display: string): DrError {
  return new DrError(
    `hypertable ${display} is not in the target`,
    "create it as a hypertable first (the backup's definition plus create_hypertable), or restore the full backup into a new database; the target is unchanged",
  );
}

/**
 * Lifts, for the caller's transaction, TimescaleDB's cap on rows decompressed by one DML
 * transaction (`max_tuples_decompressed_per_dml_transaction`, 100 000 by default): replacing a day
 * inside a compressed chunk decompresses every batch that holds part of it, and the cap would
 * fail the restore on a real table. The replacement is one deliberate transaction; its size is the range's.
 */
export async function allowBulkDecompression(client: pg.Client): Promise<void> {
  await client.query(`SET LOCAL timescaledb.max_tuples_decompressed_per_dml_transaction = 0`);
}

/** The hypertable's chunks overlapping `range`, as regclass text. */
export async function chunksOverlapping(client: pg.Client, table: Relation, range: Range): Promise<string[]> {
  const { rows } = await client.query<{ chunk: string }>(
    `
    SELECT format('%I.%I', chunk_schema, chunk_name) AS chunk FROM timescaledb_information.chunks
     WHERE hypertable_schema = $1 AND hypertable_name = $2 AND range_start < $4::timestamptz AND range_end > $3::timestamptz`,
    [table.schema, table.name, range.since, range.until],
  );
  return rows.map((r) => r.chunk);
}

/**
 * Each user job's next start as the connected database has it (its job statistics), for a restore
 * to keep that schedule (JobSchedule.recorded); empty without TimescaleDB.
 */
export async function jobNextStarts(client: pg.Client): Promise<Map<number, string | null>> {
  if ((await installedVersion(client)) === null) return new Map();
  const { rows } = await client.query<{ id: number; next_start: string | null }>(`
    SELECT j.id, s.next_start::text AS next_start FROM _timescaledb_config.bgw_job j
      LEFT JOIN timescaledb_information.job_stats s ON s.job_id = j.id WHERE j.id >= ${FIRST_USER_JOB_ID}`);
  return new Map(rows.map((r) => [r.id, r.next_start]));
}
