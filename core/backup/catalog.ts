/**
 * What a correct restore must contain, read from the database in the dump's own snapshot: exact
 * row counts, freshness, indexes, constraints, sequences, extensions.
 */
import type pg from 'pg';
import { qualified } from '../pg/connection.ts';
import { hypertableTimeColumns, internalRelationOids, isTimescaleSchemaSql } from '../pg/timescale.ts';
import type { Manifest, ManifestTable } from './manifest.ts';

/** Schemas that are never user data. */
const SYSTEM_SCHEMAS_SQL = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'`;

/** Preferred names for the freshness column, in order; otherwise the first timestamp-like column. */
const TIME_COLUMN_NAMES = [
  'time',
  'ts',
  'timestamp',
  'bucket',
  'occurred_at',
  'created_at',
  'recorded_at',
  'updated_at',
  'date',
  'day',
];

export interface ServerInfo {
  readonly version: string;
  readonly versionNum: number;
}

export async function serverInfo(client: pg.Client): Promise<ServerInfo> {
  const { rows } = await client.query<{ v: string; n: string }>(
    `SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n`,
  );
  return { version: rows[0]!.v.split(' ')[0]!, versionNum: Number(rows[0]!.n) };
}

export async function databaseOptions(client: pg.Client): Promise<Manifest['databaseOptions']> {
  const { rows } = await client.query<{ encoding: string; collate: string; ctype: string }>(
    `SELECT pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype FROM pg_database WHERE datname = current_database()`,
  );
  return rows[0]!;
}

export async function extensions(client: pg.Client): Promise<Manifest['extensions']> {
  const { rows } = await client.query<{ name: string; version: string; schema: string }>(
    `SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema
       FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace ORDER BY 1`,
  );
  return rows;
}

interface RelationRow {
  oid: number;
  schema: string;
  name: string;
  relkind: 'r' | 'p' | 'm';
  parent: string | null;
  parent_oid: number | null;
  time_column: string | null;
  /** A TimescaleDB hypertable: its rows are in its chunks. */
  hypertable: boolean;
}

/**
 * Every user table (plain, partitioned, partition, hypertable) and materialized view, skipping
 * extension-owned tables, whose contents belong to the extension and are restored by CREATE
 * EXTENSION, and TimescaleDB's own relations (catalog, chunks, internal hypertables), which are
 * described as parts of their hypertables (core/pg/timescale.ts).
 */
async function relations(client: pg.Client): Promise<RelationRow[]> {
  const internal = await internalRelationOids(client);
  const timeColumns = await hypertableTimeColumns(client);
  const { rows } = await client.query<
    Omit<RelationRow, 'hypertable'> & { columns: { name: string; type: string }[] | null }
  >(
    `
    SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relkind,
           (SELECT quote_ident(pn.nspname) || '.' || quote_ident(pc.relname)
              FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = pc.relnamespace
             WHERE i.inhrelid = c.oid AND c.relispartition LIMIT 1) AS parent,
           (SELECT i.inhparent::int FROM pg_inherits i WHERE i.inhrelid = c.oid AND c.relispartition LIMIT 1) AS parent_oid,
           (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, NULL)) ORDER BY a.attnum)
              FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               AND a.atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)) AS columns
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'm') AND ${SYSTEM_SCHEMAS_SQL} AND NOT ${isTimescaleSchemaSql('n.nspname')} AND c.oid::int <> ALL($1::int[])
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
     ORDER BY n.nspname, c.relname`,
    [internal],
  );
  return rows.map(({ columns, ...r }) => {
    // A hypertable's freshness is its time dimension, whatever the column is called.
    const dimension = timeColumns.get(`${r.schema}\0${r.name}`);
    return { ...r, hypertable: dimension !== undefined, time_column: dimension ?? pickTimeColumn(columns ?? []) };
  });
}

export function pickTimeColumn(columns: readonly { name: string; type: string }[]): string | null {
  for (const preferred of TIME_COLUMN_NAMES) {
    const hit = columns.find((c) => c.name === preferred);
    if (hit) return hit.name;
  }
  return columns[0]?.name ?? null;
}

async function indexesByTable(client: pg.Client): Promise<Map<number, ManifestTable['indexes']>> {
  const { rows } = await client.query<{ table_oid: number; name: string; definition: string }>(`
    SELECT i.indrelid::int AS table_oid, c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE ${SYSTEM_SCHEMAS_SQL} ORDER BY 2`);
  return groupBy(
    rows,
    (r) => r.table_oid,
    (r) => ({ name: r.name, definition: r.definition }),
  );
}

async function constraintsByTable(client: pg.Client): Promise<Map<number, ManifestTable['constraints']>> {
  const { rows } = await client.query<{ table_oid: number; name: string; type: string; definition: string }>(`
    SELECT co.conrelid::int AS table_oid, co.conname AS name, co.contype::text AS type, pg_get_constraintdef(co.oid) AS definition
      FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace
     WHERE co.conrelid <> 0 AND ${SYSTEM_SCHEMAS_SQL} ORDER BY 2`);
  return groupBy(
    rows,
    (r) => r.table_oid,
    (r) => ({ name: r.name, type: r.type, definition: r.definition }),
  );
}

export async function sequences(client: pg.Client): Promise<Manifest['sequences']> {
  const { rows } = await client.query<{ schema: string; name: string; last_value: string | null }>(`
    SELECT schemaname AS schema, sequencename AS name, last_value::text AS last_value
      FROM pg_sequences WHERE NOT ${isTimescaleSchemaSql('schemaname')} ORDER BY 1, 2`);
  return rows.map((r) => ({ schema: r.schema, name: r.name, lastValue: r.last_value }));
}

/** A leaf relation's exact row count and newest time (`max(time column)::text`), in the snapshot. */
export interface RelationCounts {
  readonly rows: number;
  readonly maxTime: string | null;
}

/** The tables as the catalog describes them, before their rows are counted. */
export interface TableShapes {
  readonly relations: readonly RelationRow[];
  readonly indexes: Map<number, ManifestTable['indexes']>;
  readonly constraints: Map<number, ManifestTable['constraints']>;
}

/** A relation whose rows are counted where they are stored: every one but a partitioned parent. */
export interface LeafRelation {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  readonly kind: ManifestTable['kind'];
  readonly timeColumn: string | null;
}

export async function tableShapes(client: pg.Client): Promise<TableShapes> {
  // One connection runs one query at a time: these stay sequential.
  const rels = await relations(client);
  const indexes = await indexesByTable(client);
  const constraints = await constraintsByTable(client);
  // Comparable ISO text for MAX() whatever the session's settings (readTimescaleCatalog needs it too).
  await client.query(`SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO'`);
  return { relations: rels, indexes, constraints };
}

export function leafRelations(shapes: TableShapes): LeafRelation[] {
  return shapes.relations
    .filter((r) => r.relkind !== 'p')
    .map((r) => ({ oid: r.oid, schema: r.schema, name: r.name, kind: kindOf(r), timeColumn: r.time_column }));
}

/**
 * Exact counts and freshness of `leaves`, by scanning each once (count and max in one pass). A
 * hypertable is counted through itself (not ONLY): its rows, compressed or not, are in its chunks.
 */
export async function scanCounts(
  client: pg.Client,
  leaves: readonly LeafRelation[],
): Promise<Map<number, RelationCounts>> {
  const counts = new Map<number, RelationCounts>();
  for (const rel of leaves) {
    const max = rel.timeColumn ? `max(${qualifiedColumn(rel.timeColumn)})::text` : 'NULL::text';
    const { rows } = await client.query<{ n: string; max: string | null }>(
      `SELECT count(*) AS n, ${max} AS max FROM ${rel.kind === 'hypertable' ? '' : 'ONLY '}${qualified(rel.schema, rel.name)}`,
    );
    counts.set(rel.oid, { rows: Number(rows[0]!.n), maxTime: rows[0]!.max });
  }
  return counts;
}

/**
 * The manifest's tables from their shapes and the counts of every leaf relation; partitioned
 * parents sum their partitions, so no row is read twice.
 */
export function withCounts(shapes: TableShapes, counts: ReadonlyMap<number, RelationCounts>): ManifestTable[] {
  const rels = shapes.relations;
  const stats = new Map(counts);
  // Partitioned parents, deepest first, so sub-partitioned trees add up.
  const childrenOf = (p: RelationRow) => rels.filter((r) => r.parent_oid === p.oid);
  const resolve = (p: RelationRow): RelationCounts => {
    const cached = stats.get(p.oid);
    if (cached) return cached;
    let rows = 0;
    let maxTime: string | null = null;
    for (const child of childrenOf(p)) {
      const s = child.relkind === 'p' ? resolve(child) : stats.get(child.oid)!;
      rows += s.rows;
      if (s.maxTime !== null && (maxTime === null || s.maxTime > maxTime)) maxTime = s.maxTime;
    }
    const result = { rows, maxTime };
    stats.set(p.oid, result);
    return result;
  };
  rels.filter((r) => r.relkind === 'p').forEach(resolve);
  return rels.map((rel) => {
    const s = stats.get(rel.oid);
    if (!s) throw new Error(`no row count for ${rel.schema}.${rel.name}`);
    const { timeColumn, ...outline } = outlineOf(rel);
    const table: ManifestTable = {
      ...outline,
      rows: s.rows,
      indexes: shapes.indexes.get(rel.oid) ?? [],
      constraints: shapes.constraints.get(rel.oid) ?? [],
    };
    if (timeColumn) {
      table.timeColumn = timeColumn;
      table.maxTime = s.maxTime;
    }
    return table;
  });
}

/** What a table is, before its rows are counted: enough to plan its fingerprints. */
export type TableOutline = Pick<ManifestTable, 'schema' | 'name' | 'kind' | 'parent' | 'timeColumn'>;

export function tableOutlines(shapes: TableShapes): TableOutline[] {
  return shapes.relations.map(outlineOf);
}

function outlineOf(rel: RelationRow): TableOutline {
  return {
    schema: rel.schema,
    name: rel.name,
    kind: kindOf(rel),
    ...(rel.parent ? { parent: rel.parent } : {}),
    ...(rel.time_column ? { timeColumn: rel.time_column } : {}),
  };
}

/** Tables with exact counts and freshness, every leaf scanned. */
export async function tables(client: pg.Client): Promise<ManifestTable[]> {
  const shapes = await tableShapes(client);
  return withCounts(shapes, await scanCounts(client, leafRelations(shapes)));
}

function kindOf(rel: RelationRow): ManifestTable['kind'] {
  return rel.relkind === 'p'
    ? 'partitioned'
    : rel.relkind === 'm'
      ? 'materialized_view'
      : rel.hypertable
        ? 'hypertable'
        : rel.parent
          ? 'partition'
          : 'table';
}

function qualifiedColumn(column: string): string {
  return `"${column.replace(/"/g, '""')}"`;
}

function groupBy<R, V>(rows: R[], keyOf: (r: R) => number, value: (r: R) => V): Map<number, V[]> {
  const map = new Map<number, V[]>();
  for (const r of rows) {
    const list = map.get(keyOf(r)) ?? [];
    list.push(value(r));
    map.set(keyOf(r), list);
  }
  return map;
}

/** A column as verify compares it: everything that changes what the column accepts or yields. */
export interface ColumnShape {
  readonly type: string;
  readonly notNull: boolean;
  readonly default: string | null;
  /** `s` for a stored generated column, else empty. */
  readonly generated: string;
  /** A collation other than the type's default, or null. */
  readonly collation: string | null;
}

/** The schema's shape beyond tables and indexes: what a restore can get subtly wrong. */
export interface SchemaObjects {
  /** Columns of the tables (not partitions or chunks: they follow their parent) and materialized views, by `schema.table.column`. */
  readonly columns: { readonly table: string; readonly name: string; readonly shape: ColumnShape }[];
  /** User triggers by `schema.table.trigger`, with pg_get_triggerdef. */
  readonly triggers: { readonly table: string; readonly name: string; readonly definition: string }[];
  /** Functions and procedures (not extensions'), by signature, with the SHA-256 of pg_get_functiondef. */
  readonly routines: { readonly name: string; readonly kind: string; readonly sha256: string }[];
  /** Enum types with their labels in order. */
  readonly enums: { readonly name: string; readonly labels: string[] }[];
  /** Views and materialized views with the SHA-256 of their definition. */
  readonly views: { readonly name: string; readonly kind: string; readonly sha256: string }[];
}

/** User objects only: not in system or TimescaleDB schemas, not owned by an extension. */
const NOT_EXTENSION_SQL = (catalog: string, alias: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${catalog}'::regclass AND d.objid = ${alias}.oid AND d.deptype = 'e')`;

export async function schemaObjects(client: pg.Client): Promise<SchemaObjects> {
  const internal = await internalRelationOids(client);
  const userRelation = `${SYSTEM_SCHEMAS_SQL} AND NOT ${isTimescaleSchemaSql('n.nspname')} AND c.oid::int <> ALL($1::int[]) AND ${NOT_EXTENSION_SQL('pg_class', 'c')}`;
  const { rows: columns } = await client.query<{
    table: string;
    name: string;
    type: string;
    not_null: boolean;
    def: string | null;
    generated: string;
    collation: string | null;
  }>(
    `
    SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS table, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
           a.attnotnull AS not_null, pg_get_expr(ad.adbin, ad.adrelid) AS def, a.attgenerated::text AS generated,
           CASE WHEN a.attcollation <> t.typcollation THEN (SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname) FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation) END AS collation
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped AND ${userRelation}
     ORDER BY 1, a.attnum`,
    [internal],
  );
  const { rows: triggers } = await client.query<{ table: string; name: string; definition: string }>(
    `
    SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS table, tg.tgname AS name, pg_get_triggerdef(tg.oid) AS definition
      FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE NOT tg.tgisinternal AND NOT c.relispartition AND tg.tgparentid = 0 AND ${userRelation}
     ORDER BY 1, 2`,
    [internal],
  );
  const { rows: routines } = await client.query<{ name: string; kind: string; sha256: string }>(`
    SELECT p.oid::regprocedure::text AS name, p.prokind::text AS kind, encode(sha256(convert_to(pg_get_functiondef(p.oid), 'UTF8')), 'hex') AS sha256
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.prokind IN ('f', 'p', 'w') AND ${SYSTEM_SCHEMAS_SQL} AND NOT ${isTimescaleSchemaSql('n.nspname')} AND ${NOT_EXTENSION_SQL('pg_proc', 'p')}
     ORDER BY 1`);
  const { rows: enums } = await client.query<{ name: string; labels: string[] }>(`
    SELECT t.oid::regtype::text AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
      FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE ${SYSTEM_SCHEMAS_SQL} AND ${NOT_EXTENSION_SQL('pg_type', 't')}
     GROUP BY t.oid ORDER BY 1`);
  const { rows: views } = await client.query<{ name: string; kind: string; sha256: string }>(
    `
    SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name, c.relkind::text AS kind,
           encode(sha256(convert_to(pg_get_viewdef(c.oid), 'UTF8')), 'hex') AS sha256
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('v', 'm') AND ${userRelation}
     ORDER BY 1`,
    [internal],
  );
  return {
    columns: columns.map((c) => ({
      table: c.table,
      name: c.name,
      shape: { type: c.type, notNull: c.not_null, default: c.def, generated: c.generated, collation: c.collation },
    })),
    triggers,
    routines,
    enums,
    views,
  };
}
