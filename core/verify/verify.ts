/**
 * Verification of a restored database against the manifest recorded at backup time (not against
 * production): the one implementation behind `dr verify`, the verify Lambda and drills.
 *
 * The restored side is read with the same catalog queries the backup used (core/backup/catalog.ts), in
 * one read-only snapshot, so both sides describe tables, indexes and constraints identically.
 */
import type pg from 'pg';
import * as catalog from '../backup/catalog.ts';
import { compareContent } from '../backup/fingerprint.ts';
import type { Manifest, ManifestTable } from '../backup/manifest.ts';
import { DrError } from '../errors.ts';
import { connect, parsePgUrl, queryError } from '../pg/connection.ts';
import { displayName, ident } from '../pg/ident.ts';
import { readTimescaleCatalog, type TimescaleCatalog } from '../pg/timescale.ts';
import { compareDatabaseProperties, type DatabaseProperties, readDatabaseProperties } from './database-properties.ts';
import { checkHealthUrl, parseHealthUrl } from './probes.ts';

export interface VerifyOptions {
  readonly manifest: Manifest;
  /** The restored database's URL. */
  readonly target: string;
  /** Application health URLs; each must answer 2xx within `healthTimeoutMs`. @default - none */
  readonly healthUrls?: readonly string[];
  /** @default 5000 */
  readonly healthTimeoutMs?: number;
  /**
   * Opens the connection to `target`, for callers with their own credentials and TLS settings
   * (the verify Lambda). Called once per connection (content checks use several); each is closed
   * by verifyAgainstManifest.
   * @default - core/pg connect(target): libpq conventions (PG* variables, ~/.pgpass, sslmode)
   */
  readonly connect?: () => Promise<pg.Client>;
  /**
   * Recompute the backup's content fingerprints on the target (when the backup has them).
   * @default true
   */
  readonly content?: boolean;
  /** Connections for the content checks. @default 2 */
  readonly jobs?: number;
  /** The restore ran with --no-owner: the database's owner and privileges are not compared. @default false */
  readonly noOwner?: boolean;
  /** The target's comment is not the backup's to compare: `dr drill` marks its scratch database with its own. @default false */
  readonly skipDatabaseComment?: boolean;
}

export interface VerifyCheck {
  /**
   * What was checked: table-count, table-present, unexpected-table, row-count, freshness, index,
   * constraint, sequence, extension, health-url, content (the rows' fingerprints per day),
   * database-property (owner, privileges, comment, connection limit, settings); on
   * TimescaleDB also chunk-count, compressed-chunks (per hypertable), continuous-aggregate (its
   * rows) and job.
   */
  readonly name: string;
  /**
   * The object checked, quoted as in SQL where needed: a table `public.candles`, an index
   * `public.candles_pkey`, a constraint `public.alerts.alerts_symbol_id_fkey` (table.constraint:
   * constraint names are unique per table only), a sequence, an extension, a URL.
   */
  readonly object: string;
  /** null: the object should not exist (unexpected). */
  readonly expected: string | number | null;
  /** null: the object is missing. */
  readonly actual: string | number | null;
  readonly passed: boolean;
}

export interface VerifyResult {
  readonly passed: boolean;
  readonly backupId: string;
  readonly database: string;
  /** The restored database, user@host:port/database (no password). */
  readonly target: string;
  readonly checks: VerifyCheck[];
  /** Count of checks run and failed (also when passing checks were omitted). */
  readonly totals: { readonly checks: number; readonly failed: number };
  /** Passing checks left out of `checks` to keep the result small (the verify Lambda's payload limit). @default - none */
  readonly omittedPassedChecks?: number;
  /**
   * How table contents were checked: `fingerprints` (every row's hash, per day), or `counts only`
   * (a backup without fingerprints, or `content: false`); tables the backup could not fingerprint
   * are listed in `countsOnly`.
   */
  readonly content: { readonly method: 'fingerprints' | 'counts only'; readonly countsOnly: string[] };
  readonly durationMs: number;
}

/** Constraint types compared: primary key, foreign key, unique, check, exclusion. */
const COMPARED_CONSTRAINT_TYPES = new Set(['p', 'f', 'u', 'c', 'x']);

const DEFAULT_HEALTH_TIMEOUT_MS = 5000;

/**
 * Compares the restored database with `manifest`. Never throws for a difference: each one is a
 * failed check. Throws DrError for bad input (a health URL that is not http(s)) and when the
 * target cannot be read at all.
 */
export async function verifyAgainstManifest(options: VerifyOptions): Promise<VerifyResult> {
  const started = Date.now();
  const { manifest } = options;
  const target = parsePgUrl(options.target, '--target');
  const healthUrls = (options.healthUrls ?? []).map(parseHealthUrl);
  const timeoutMs = options.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1)
    throw new DrError(`health timeout must be a whole number of milliseconds ≥ 1, got ${timeoutMs}`, 'e.g. 5000');

  // Health URLs are independent of the database: probe them while the catalog is read.
  const health = Promise.all(healthUrls.map((url) => checkHealthUrl(url, timeoutMs)));
  const open = () => (options.connect ? options.connect() : connect(target.url, 'target'));
  const client = await open();
  let restored: RestoredCatalog;
  try {
    restored = await readCatalog(client);
  } catch (err) {
    throw queryError(err, `reading the catalog of ${target.display}`) ?? err;
  } finally {
    await client.end().catch(() => {});
  }

  const fingerprints = options.content === false ? undefined : manifest.fingerprints;
  // A missing table fails table-present once; its content is not read again.
  const present = new Set(restored.tables.map((t) => displayName(t)));
  const content = fingerprints
    ? (
        await compareContent(
          { ...fingerprints, relations: fingerprints.relations.filter((r) => present.has(r.table)) },
          open,
          options.jobs ?? 2,
        )
      ).map(
        (c): VerifyCheck => ({
          name: 'content',
          object: c.table,
          expected: `${c.rows} rows`,
          actual: c.differences.length ? c.differences.join('; ') : `${c.rows} rows`,
          passed: c.differences.length === 0,
        }),
      )
    : [];
  const checks = [...compareCatalogs(manifest, restored, options), ...content, ...(await health)];
  const failed = checks.filter((c) => !c.passed).length;
  return {
    passed: failed === 0,
    backupId: manifest.id,
    database: manifest.database,
    target: target.display,
    checks,
    totals: { checks: checks.length, failed },
    content: {
      method: fingerprints ? 'fingerprints' : 'counts only',
      countsOnly: fingerprints
        ? fingerprints.skipped.map((s) => s.table)
        : manifest.tables
            .filter((t) => t.kind !== 'partitioned' && t.kind !== 'materialized_view')
            .map((t) => displayName(t)),
    },
    durationMs: Date.now() - started,
  };
}

interface RestoredCatalog {
  readonly tables: ManifestTable[];
  readonly schema: catalog.SchemaObjects;
  readonly sequences: (Manifest['sequences'][number] & { increment: string })[];
  readonly extensions: Manifest['extensions'];
  readonly timescale: TimescaleCatalog | null;
  readonly databaseProperties: DatabaseProperties;
  /** The target server's roles, for properties that name one. */
  readonly roles: ReadonlySet<string>;
}

/** The restored side, in one read-only snapshot, with the backup's own catalog queries. */
async function readCatalog(client: pg.Client): Promise<RestoredCatalog> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  // A restore that failed part-way may leave a materialized view unpopulated: count(*) would
  // abort the snapshot, so name it instead.
  const unpopulated = await client.query<{ name: string }>(
    `SELECT quote_ident(schemaname) || '.' || quote_ident(matviewname) AS name FROM pg_matviews WHERE NOT ispopulated ORDER BY 1`,
  );
  if (unpopulated.rows.length > 0) {
    await client.query('ROLLBACK');
    const names = unpopulated.rows.map((r) => r.name).join(', ');
    throw new DrError(
      `materialized view ${names} is not populated in the restored database`,
      'the restore did not complete: check the pg_restore output and restore again',
    );
  }
  const tables = await catalog.tables(client);
  const schema = await catalog.schemaObjects(client);
  const sequences = await catalog.sequences(client);
  // Descending sequences count down: "at or above" becomes "at or below".
  const increments = await client.query<{ schema: string; name: string; increment: string }>(
    `SELECT schemaname AS schema, sequencename AS name, increment_by::text AS increment FROM pg_sequences`,
  );
  const incrementOf = new Map(increments.rows.map((r) => [`${r.schema}\0${r.name}`, r.increment]));
  const extensions = await catalog.extensions(client);
  const timescale = await readTimescaleCatalog(client);
  const databaseProperties = await readDatabaseProperties(client);
  const roles = new Set(
    (await client.query<{ name: string }>('SELECT rolname AS name FROM pg_roles')).rows.map((r) => r.name),
  );
  await client.query('COMMIT');
  return {
    tables,
    schema,
    sequences: sequences.map((s) => ({ ...s, increment: incrementOf.get(`${s.schema}\0${s.name}`) ?? '1' })),
    extensions,
    timescale,
    databaseProperties,
    roles,
  };
}

/** Pure comparison of the manifest with the restored catalog, one check per object. */
export function compareCatalogs(
  manifest: Manifest,
  restored: RestoredCatalog,
  options: { readonly noOwner?: boolean; readonly skipDatabaseComment?: boolean } = {},
): VerifyCheck[] {
  const checks: VerifyCheck[] = [];
  const key = (t: { schema: string; name: string }) => `${t.schema}\0${t.name}`;
  const actualTables = new Map(restored.tables.map((t) => [key(t), t]));
  const expectedKeys = new Set(manifest.tables.map(key));

  checks.push(check('table-count', manifest.database, manifest.tables.length, restored.tables.length));
  for (const expected of manifest.tables) {
    const table = displayName(expected);
    const actual = actualTables.get(key(expected));
    checks.push(check('table-present', table, expected.kind, actual?.kind ?? null));
    // A missing table's rows, indexes and constraints are missing with it: one failure says it.
    if (!actual) continue;
    checks.push(check('row-count', table, expected.rows, actual.rows));
    if (expected.timeColumn !== undefined) {
      const sameColumn = actual.timeColumn === expected.timeColumn;
      const actualMax = sameColumn ? (actual.maxTime ?? null) : `no column ${JSON.stringify(expected.timeColumn)}`;
      checks.push({
        name: 'freshness',
        object: `${table}.${ident(expected.timeColumn)}`,
        expected: expected.maxTime ?? null,
        actual: actualMax,
        passed: sameColumn && actualMax === (expected.maxTime ?? null),
      });
    }
    checks.push(
      ...compareNamed(
        'index',
        expected.indexes,
        actual.indexes,
        (i) => displayName({ schema: expected.schema, name: i.name }),
        (i) => i.definition,
      ),
    );
    const constraints = (list: ManifestTable['constraints']) =>
      list.filter((c) => COMPARED_CONSTRAINT_TYPES.has(c.type));
    checks.push(
      ...compareNamed(
        'constraint',
        constraints(expected.constraints),
        constraints(actual.constraints),
        (c) => `${table}.${ident(c.name)}`,
        (c) => c.definition,
      ),
    );
  }
  for (const actual of restored.tables) {
    if (!expectedKeys.has(key(actual))) checks.push(check('unexpected-table', displayName(actual), null, actual.kind));
  }

  const actualSequences = new Map(restored.sequences.map((s) => [key(s), s]));
  for (const expected of manifest.sequences) {
    const actual = actualSequences.get(key(expected));
    const object = displayName(expected);
    if (!actual) {
      checks.push({ name: 'sequence', object, expected: expected.lastValue, actual: null, passed: false });
      continue;
    }
    let passed = true;
    if (expected.lastValue !== null) {
      // A sequence behind its recorded value would hand out ids that already exist.
      const descending = BigInt(actual.increment) < 0n;
      passed =
        actual.lastValue !== null &&
        (descending
          ? BigInt(actual.lastValue) <= BigInt(expected.lastValue)
          : BigInt(actual.lastValue) >= BigInt(expected.lastValue));
    }
    checks.push({ name: 'sequence', object, expected: expected.lastValue, actual: actual.lastValue, passed });
  }

  const actualExtensions = new Map(restored.extensions.map((e) => [e.name, e]));
  const expectedExtensions = new Set(manifest.extensions.map((e) => e.name));
  for (const expected of manifest.extensions) {
    checks.push(
      check('extension', ident(expected.name), expected.version, actualExtensions.get(expected.name)?.version ?? null),
    );
  }
  for (const actual of restored.extensions) {
    if (!expectedExtensions.has(actual.name)) checks.push(check('extension', ident(actual.name), null, actual.version));
  }
  if (manifest.schema) {
    // A missing table's columns and triggers are missing with it: table-present says it once.
    const missing = new Set(manifest.tables.filter((t) => !actualTables.has(key(t))).map((t) => displayName(t)));
    const kept = <T extends { table: string }>(items: readonly T[]) => items.filter((i) => !missing.has(i.table));
    checks.push(
      ...compareSchemaObjects(
        { ...manifest.schema, columns: kept(manifest.schema.columns), triggers: kept(manifest.schema.triggers) },
        restored.schema,
      ),
    );
  }
  if (manifest.timescale) checks.push(...compareTimescale(manifest.timescale, restored.timescale));
  // Older manifests have none: nothing to compare.
  if (manifest.databaseProperties) {
    for (const p of compareDatabaseProperties(manifest.databaseProperties, restored.databaseProperties, {
      noOwner: options.noOwner,
      skipComment: options.skipDatabaseComment,
      roleExists: (r) => restored.roles.has(r),
    })) {
      checks.push(check('database-property', `${ident(manifest.database)} ${p.property}`, p.expected, p.actual));
    }
  }
  return checks;
}

/** Columns (type, NOT NULL, default, generated, collation), triggers, routines, enum labels, views: one check each, by name. */
function compareSchemaObjects(
  expected: NonNullable<Manifest['schema']>,
  restored: catalog.SchemaObjects,
): VerifyCheck[] {
  const named = <T>(items: readonly T[], name: (t: T) => string) => items.map((t) => ({ ...t, name: name(t) }));
  const column = (c: catalog.SchemaObjects['columns'][number]) => `${c.table}.${ident(c.name)}`;
  return [
    ...compareNamed(
      'column',
      named(expected.columns, column),
      named(restored.columns, column),
      (c) => c.name,
      (c) => JSON.stringify(c.shape),
    ),
    ...compareNamed(
      'trigger',
      named(expected.triggers, (t) => `${t.table}.${ident(t.name)}`),
      named(restored.triggers, (t) => `${t.table}.${ident(t.name)}`),
      (t) => t.name,
      (t) => t.definition,
    ),
    ...compareNamed(
      'routine',
      expected.routines,
      restored.routines,
      (r) => r.name,
      (r) => `${r.kind === 'p' ? 'procedure' : 'function'} ${r.sha256.slice(0, 12)}`,
    ),
    ...compareNamed(
      'enum',
      expected.enums,
      restored.enums,
      (e) => e.name,
      (e) => e.labels.join(', '),
    ),
    ...compareNamed(
      'view',
      expected.views,
      restored.views,
      (v) => v.name,
      (v) => `${v.kind === 'm' ? 'materialized view' : 'view'} ${v.sha256.slice(0, 12)}`,
    ),
  ];
}

/** "type bigint, backup has numeric(20,8)", one clause per property that differs. */
function columnDifference(expectedJson: string, actualJson: string): string {
  const e = JSON.parse(expectedJson) as catalog.ColumnShape;
  const a = JSON.parse(actualJson) as catalog.ColumnShape;
  const parts: string[] = [];
  if (e.type !== a.type) parts.push(`type ${a.type}, backup has ${e.type}`);
  if (e.notNull !== a.notNull) parts.push(a.notNull ? 'NOT NULL, backup has none' : 'no NOT NULL, backup has NOT NULL');
  if (e.default !== a.default) parts.push(`default ${a.default ?? 'none'}, backup has ${e.default ?? 'none'}`);
  if (e.generated !== a.generated)
    parts.push(a.generated ? 'generated, backup has a plain column' : 'not generated, backup has a generated column');
  if (e.collation !== a.collation)
    parts.push(`collation ${a.collation ?? 'default'}, backup has ${e.collation ?? 'default'}`);
  return parts.join('; ');
}

/**
 * TimescaleDB at the level a user cares about: each hypertable's chunks and compressed chunks
 * (its rows and freshness are table checks), each continuous aggregate's rows, each policy job.
 * Chunk names, job statistics and the extension's sequences are bookkeeping that a faithful
 * restore may change, and are not compared.
 */
function compareTimescale(
  expected: NonNullable<Manifest['timescale']>,
  restored: TimescaleCatalog | null,
): VerifyCheck[] {
  const checks: VerifyCheck[] = [];
  const key = (t: { schema: string; name: string }) => `${t.schema}\0${t.name}`;
  const hypertables = new Map((restored?.hypertables ?? []).map((h) => [key(h), h]));
  for (const h of expected.hypertables) {
    const actual = hypertables.get(key(h));
    const object = displayName(h);
    // A hypertable restored as a plain table fails table-present (its kind); its chunks are then absent.
    checks.push(check('chunk-count', object, h.chunks.length, actual ? actual.chunks.length : null));
    checks.push(
      check(
        'compressed-chunks',
        object,
        h.chunks.filter((c) => c.compressed).length,
        actual ? actual.chunks.filter((c) => c.compressed).length : null,
      ),
    );
  }
  const caggs = new Map((restored?.continuousAggregates ?? []).map((c) => [key(c), c]));
  const expectedCaggs = new Set(expected.continuousAggregates.map(key));
  for (const c of expected.continuousAggregates) {
    checks.push(check('continuous-aggregate', displayName(c), c.rows, caggs.get(key(c))?.rows ?? null));
  }
  for (const c of restored?.continuousAggregates ?? []) {
    if (!expectedCaggs.has(key(c))) checks.push(check('continuous-aggregate', displayName(c), null, c.rows));
  }
  const describeJob = (j: NonNullable<Manifest['timescale']>['jobs'][number]) =>
    `every ${j.scheduleInterval}, ${j.scheduled ? 'scheduled' : 'not scheduled'}, config ${j.config ?? 'none'}`;
  const jobObject = (j: NonNullable<Manifest['timescale']>['jobs'][number]) =>
    `job ${j.id} (${j.proc.replace(/^.*\./, '')}${j.hypertable ? ` on ${j.hypertable}` : ''})`;
  checks.push(
    ...compareNamed(
      'job',
      expected.jobs.map((j) => ({ ...j, name: String(j.id) })),
      (restored?.jobs ?? []).map((j) => ({ ...j, name: String(j.id) })),
      jobObject,
      describeJob,
    ),
  );
  return checks;
}

function check(
  name: string,
  object: string,
  expected: string | number | null,
  actual: string | number | null,
): VerifyCheck {
  return { name, object, expected, actual, passed: expected === actual };
}

/** Objects matched by name: missing ones (actual null), changed definitions, unexpected ones (expected null). */
function compareNamed<T extends { name: string }>(
  name: string,
  expected: readonly T[],
  actual: readonly T[],
  objectOf: (item: T) => string,
  definitionOf: (item: T) => string,
): VerifyCheck[] {
  const actualByName = new Map(actual.map((a) => [a.name, a]));
  const expectedNames = new Set(expected.map((e) => e.name));
  const checks = expected.map((e) => {
    const a = actualByName.get(e.name);
    return check(name, objectOf(e), definitionOf(e), a ? definitionOf(a) : null);
  });
  for (const a of actual) if (!expectedNames.has(a.name)) checks.push(check(name, objectOf(a), null, definitionOf(a)));
  return checks;
}

/** One line per failing check, naming the object, for the CLI and reports. */
export function describeFailure(c: VerifyCheck): string {
  const show = (v: string | number | null) => (v === null ? 'none' : typeof v === 'number' ? String(v) : v);
  switch (c.name) {
    case 'table-present':
      return `table ${c.object} is missing`;
    case 'unexpected-table':
      return `unexpected ${c.actual === 'materialized_view' ? 'materialized view' : 'table'} ${c.object} (not in the backup)`;
    case 'row-count':
      return `table ${c.object}: ${show(c.actual)} rows, expected ${show(c.expected)}`;
    case 'freshness':
      return `freshness of ${c.object}: MAX is ${show(c.actual)}, expected ${show(c.expected)}`;
    case 'index':
    case 'constraint':
      if (c.actual === null) return `${c.name} ${c.object} is missing (${show(c.expected)})`;
      if (c.expected === null) return `unexpected ${c.name} ${c.object} (${show(c.actual)})`;
      return `${c.name} ${c.object} differs: ${show(c.actual)}, expected ${show(c.expected)}`;
    case 'sequence':
      return c.actual === null
        ? `sequence ${c.object} is missing or unused (expected ${show(c.expected)})`
        : `sequence ${c.object} is behind: ${show(c.actual)}, recorded ${show(c.expected)}`;
    case 'extension':
      if (c.actual === null) return `extension ${c.object} ${show(c.expected)} is missing`;
      if (c.expected === null) return `unexpected extension ${c.object} ${show(c.actual)}`;
      return `extension ${c.object} is version ${show(c.actual)}, expected ${show(c.expected)}`;
    case 'health-url':
      return `health URL ${c.object} answered ${show(c.actual)}, expected 2xx`;
    case 'column':
      if (c.actual === null) return `column ${c.object} is missing`;
      if (c.expected === null) return `unexpected column ${c.object} (not in the backup)`;
      return `column ${c.object} ${columnDifference(String(c.expected), String(c.actual))}`;
    case 'trigger':
    case 'routine':
    case 'enum':
    case 'view':
      if (c.actual === null) return `${c.name} ${c.object} is missing (${show(c.expected)})`;
      if (c.expected === null) return `unexpected ${c.name} ${c.object} (${show(c.actual)})`;
      return `${c.name} ${c.object} differs: ${show(c.actual)}, backup has ${show(c.expected)}`;
    case 'content':
      return `content of ${c.object} differs from the backup: ${show(c.actual)}`;
    case 'chunk-count':
      return c.actual === null
        ? `hypertable ${c.object} is not a hypertable in the restored database (expected ${show(c.expected)} chunks)`
        : `hypertable ${c.object} has ${show(c.actual)} chunks, expected ${show(c.expected)}`;
    case 'compressed-chunks':
      return c.actual === null
        ? `hypertable ${c.object} is not a hypertable in the restored database`
        : `hypertable ${c.object} has ${show(c.actual)} compressed chunks, expected ${show(c.expected)}`;
    case 'continuous-aggregate':
      if (c.actual === null) return `continuous aggregate ${c.object} is missing (expected ${show(c.expected)} rows)`;
      if (c.expected === null) return `unexpected continuous aggregate ${c.object} (not in the backup)`;
      return `continuous aggregate ${c.object}: ${show(c.actual)} rows, expected ${show(c.expected)}`;
    case 'job':
      if (c.actual === null) return `TimescaleDB ${c.object} is missing (${show(c.expected)})`;
      if (c.expected === null) return `unexpected TimescaleDB ${c.object} (${show(c.actual)})`;
      return `TimescaleDB ${c.object} differs: ${show(c.actual)}, expected ${show(c.expected)}`;
    case 'table-count':
      return `database ${c.object} has ${show(c.actual)} tables, expected ${show(c.expected)}`;
    default:
      return `${c.name} ${c.object}: ${show(c.actual)}, expected ${show(c.expected)}`;
  }
}
