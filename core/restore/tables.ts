/**
 * `dr restore --tables …` (optionally `--since/--until`): put some tables (or one time range of
 * them) back from a backup while every other table stays as it is.
 *
 *   1. validate the tables, time column and range against the manifest (nothing runs before);
 *   2. download and verify only `data/toc.dat`, then list it (`pg_restore -l`) to find the
 *      tables' data entries, partitions and TimescaleDB chunks included;
 *   3. download and verify only those tables' data files;
 *   4. whole tables already in the target: replaceTables() streams the rows from the verified
 *      files straight into the target's transaction (`pg_restore --data-only --file=-`, see
 *      dump-stream.ts), no staging copy, so the cost follows the tables' share of the backup;
 *   5. ranges, tables missing from the target (created from the backup's definition) and
 *      TimescaleDB: the rows are staged in a scratch database on the target server first (the
 *      backup's pre-data, then the data files), which replaceTablesFromSource() reads with a
 *      range condition; the scratch database is dropped whatever happened.
 *
 * TimescaleDB: a hypertable is staged from the backup's catalog rows and the data files of the
 * chunks (and compressed chunks) that the manifest says overlap the range; the target's
 * compressed chunks in the range are compressed again after the swap, and continuous aggregates
 * over it refreshed (replace-tables.ts). A hypertable restores only into a hypertable.
 */
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import type { Manifest, ManifestTable } from '../backup/manifest.ts';
import { BackupIntegrityError, DrError } from '../errors.ts';
import {
  assertClientNotOlder,
  connect,
  firstErrorLine,
  type PgTools,
  parsePgUrl,
  qualified,
  quoteIdent,
  runTool,
  toolVersion,
  withDatabase,
} from '../pg/connection.ts';
import { displayName } from '../pg/ident.ts';
import { DEFAULT_LOCK_TIMEOUT_MS, isLockTimeout, lockTimeoutError, lockTimeoutSql } from '../pg/locks.ts';
import {
  hypertableMembers,
  isHypertable,
  kindMismatchError,
  missingHypertableError,
  timescaleRestoreSteps,
} from '../pg/timescale.ts';
import { resolveBackup } from '../repository/backups.ts';
import { DATA_DIR } from '../repository/layout.ts';
import type { Repository } from '../repository/types.ts';
import { loadDumpData } from './dump-stream.ts';
import { firstVerified } from './fallback.ts';
import { type FetchedBackup, fetchVerified } from './fetch.ts';
import { dropLeftovers, leftoverSuffix, workDirFor } from './leftovers.ts';
import {
  assertSameColumns,
  compareTimes,
  countNewerRows,
  newerRowsError,
  parseTime,
  type RowSource,
  replaceTables,
  replaceTablesFromSource,
  type TableDefinition,
  type TableName,
} from './replace.ts';
import type { TableRestoreResult } from './result.ts';
import {
  assertExtensionsAvailable,
  connectAdmin,
  createDatabase,
  databaseExists,
  finishTimescale,
  prepareTimescale,
  RESTORE_SESSION_OPTIONS,
  suffixed,
} from './target.ts';
import { dataEntries, definitionEntries, listFile, readToc, type TableFamily, type TocEntry } from './toc.ts';

export interface TableRestoreOptions {
  readonly repository: Repository;
  /** `latest` or a backup id. */
  readonly backup: string;
  /** Source database name in the repository; @default - the only one */
  readonly database?: string;
  /** Target database URL; the database must exist (tables missing from it are created). */
  readonly target: string;
  /** As typed: `candles`, `public.candles`, `"Reporting"."Daily Summary"`. */
  readonly tables: readonly string[];
  /** Range restore: both or neither, ISO times with a zone. */
  readonly since?: string;
  readonly until?: string;
  /** @default - the time column the manifest recorded for each table */
  readonly timeColumn?: string;
  readonly noOwner?: boolean;
  /**
   * Insert only the backup's rows whose primary key the target lacks and keep every target row
   * (any range, or whole tables). @default false: the rows in scope are replaced
   */
  readonly merge?: boolean;
  /**
   * A range reaching past the backup's newest row of a table replaces target rows newer than the
   * backup too (they survive only in the safety table). @default false: refused, counting them
   */
  readonly replaceNewer?: boolean;
  /** How long to wait for another session's lock on a table. @default 5 minutes */
  readonly lockTimeoutMs?: number;
  /** @default - the CPU count */
  readonly jobs?: number;
  readonly workDir?: string;
  readonly tools?: PgTools;
  readonly log?: (message: string) => void;
}

/** A table the user named, resolved against the manifest. */
interface Resolved {
  readonly table: ManifestTable;
  readonly timeColumn?: string;
}

/** Splits `a,"b,c".d` on commas outside double quotes. */
export function splitTableList(value: string): string[] {
  const items: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      items.push(current.trim());
      current = '';
    } else current += ch;
  }
  items.push(current.trim());
  return items.filter(Boolean);
}

/** `schema.name` parts, double quotes honoured (`""` is a quote); null when malformed. */
function nameParts(input: string): { text: string; quoted: boolean }[] | null {
  const parts: { text: string; quoted: boolean }[] = [];
  let i = 0;
  while (i <= input.length) {
    if (input[i] === '"') {
      let text = '';
      i++;
      for (;;) {
        if (i >= input.length) return null;
        if (input[i] === '"') {
          if (input[i + 1] === '"') {
            text += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        text += input[i++];
      }
      parts.push({ text, quoted: true });
    } else {
      const end = input.indexOf('.', i);
      const text = input.slice(i, end === -1 ? input.length : end);
      parts.push({ text: text.trim(), quoted: false });
      i = end === -1 ? input.length : end;
    }
    if (i >= input.length) break;
    if (input[i] !== '.') return null;
    i++;
  }
  return parts.length >= 1 && parts.length <= 2 && parts.every((p) => p.text !== '') ? parts : null;
}

/** Finds a named table in the manifest; unquoted names also match case-insensitively, as SQL folds them. */
export function resolveTable(manifest: Manifest, input: string): ManifestTable {
  const parts = nameParts(input);
  const known = () =>
    manifest.tables
      .filter((t) => t.kind !== 'partition' && t.kind !== 'materialized_view')
      .map(displayName)
      .join(', ');
  if (!parts)
    throw new DrError(
      `--tables: "${input}" is not a table name`,
      'use name, schema.name or "Quoted Schema"."Quoted Name"',
    );
  const matches = (p: { text: string; quoted: boolean }, actual: string) =>
    p.quoted ? p.text === actual : p.text === actual || p.text.toLowerCase() === actual.toLowerCase();
  const [schemaPart, namePart] = parts.length === 2 ? parts : [undefined, parts[0]!];
  let hits = manifest.tables.filter((t) => matches(namePart, t.name) && (!schemaPart || matches(schemaPart, t.schema)));
  if (hits.length > 1) {
    const exact = hits.filter((t) => t.name === namePart.text && (!schemaPart || t.schema === schemaPart.text));
    if (exact.length >= 1) hits = exact;
  }
  if (hits.length > 1 && !schemaPart)
    hits = hits.filter((t) => t.schema === 'public').length === 1 ? hits.filter((t) => t.schema === 'public') : hits;
  if (hits.length === 0)
    throw new DrError(`unknown table "${input}" in backup ${manifest.id}`, `known tables: ${known()}`);
  if (hits.length > 1)
    throw new DrError(
      `"${input}" names several tables in backup ${manifest.id} (${hits.map(displayName).join(', ')})`,
      'qualify it with its schema, e.g. public.candles',
    );
  const table = hits[0]!;
  if (table.kind === 'materialized_view') {
    throw new DrError(
      `${displayName(table)} is a materialized view, not a table`,
      `restore the tables it reads, then REFRESH MATERIALIZED VIEW ${displayName(table)}`,
    );
  }
  return table;
}

/** PostgreSQL's `max(…)::text` (`2026-01-31 23:20:00+00`) as epoch ms. */
function pgTimeMs(text: string): number {
  const iso = text.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00');
  // timestamp without time zone: the session ran in UTC.
  return Date.parse(/T[\d:.]+$/.test(iso) ? `${iso}Z` : iso);
}

/** Checks the request against a manifest: nothing has run yet when this throws. */
function resolveRequest(
  manifest: Manifest,
  options: TableRestoreOptions,
  range: { since: string; until: string } | undefined,
): Resolved[] {
  const resolved: Resolved[] = [];
  for (const input of options.tables) {
    const table = resolveTable(manifest, input);
    const same = resolved.find((r) => r.table === table);
    if (same) throw new DrError(`--tables names ${displayName(table)} twice`, 'name each table once');
    const ancestor = resolved.find((r) => table.parent !== undefined && isAncestor(manifest, r.table, table));
    const descendant = resolved.find((r) => r.table.parent !== undefined && isAncestor(manifest, table, r.table));
    if (ancestor || descendant) {
      const [parent, child] = ancestor ? [ancestor.table, table] : [table, descendant!.table];
      throw new DrError(
        `--tables names ${displayName(child)}, a partition of ${displayName(parent)}, which already restores it`,
        `drop ${displayName(child)} from --tables`,
      );
    }
    if (!range) {
      resolved.push({ table });
      continue;
    }
    const timeColumn = options.timeColumn ?? table.timeColumn;
    if (!timeColumn)
      throw new DrError(
        `backup ${manifest.id} records no time column for ${displayName(table)}`,
        'pass --time-column NAME',
      );
    if (timeColumn === table.timeColumn) {
      if (table.maxTime === null || table.maxTime === undefined) {
        throw new DrError(
          `backup ${manifest.id} holds no rows of ${displayName(table)}`,
          'nothing to restore in that range: choose another backup or table',
        );
      }
      if (Date.parse(range.since) > pgTimeMs(table.maxTime)) {
        throw new DrError(
          `range starts at ${range.since}, after the newest ${displayName(table)} row in backup ${manifest.id} (${table.maxTime})`,
          `choose a --since before ${new Date(pgTimeMs(table.maxTime)).toISOString()}, or a newer backup`,
        );
      }
    }
    resolved.push({ table, timeColumn });
  }
  return resolved;
}

/** True when `ancestor` is a (grand-)parent of `table` by the manifest's partition links. */
function isAncestor(manifest: Manifest, ancestor: ManifestTable, table: ManifestTable): boolean {
  const byName = new Map(manifest.tables.map((t) => [displayName(t), t]));
  let current: ManifestTable | undefined = table;
  while (current?.parent) {
    current = byName.get(current.parent) ?? byName.get(current.parent.replace(/"/g, ''));
    if (current === ancestor) return true;
  }
  return false;
}

interface Staged {
  /** The scratch database the rows were staged in; undefined when they are streamed from the files. */
  readonly scratchUrl?: string;
  readonly fetched: FetchedBackup;
  readonly files: string[];
  readonly bytes: number;
  readonly downloadMs: number;
  readonly verifyMs: number;
  readonly stageMs: number;
  readonly resolved: Resolved[];
  readonly toc: TocEntry[];
  readonly families: Map<ManifestTable, TableFamily>;
  /** Each table's TABLE DATA entries (its partitions'), when streamed. */
  readonly streamEntries?: Map<ManifestTable, TocEntry[]>;
}

export async function runTableRestore(options: TableRestoreOptions): Promise<TableRestoreResult> {
  const log = options.log ?? (() => {});
  const tools = options.tools ?? {};
  const repo = options.repository;
  const started = Date.now();
  const jobs = options.jobs ?? Math.max(1, cpus().length);
  const target = parsePgUrl(options.target, '--target');
  // Usage errors (exit 2): nothing has been looked at yet.
  if (options.tables.length === 0)
    throw new DrError('--tables is empty', 'name at least one table, e.g. --tables candles', 2);
  if ((options.since === undefined) !== (options.until === undefined)) {
    throw new DrError(
      `--${options.since === undefined ? 'until' : 'since'} needs --${options.since === undefined ? 'since' : 'until'}`,
      'give both --since and --until for a range restore, or neither for whole tables',
      2,
    );
  }
  if (options.timeColumn !== undefined && options.since === undefined)
    throw new DrError(
      '--time-column applies to range restores only',
      'add --since and --until, or drop --time-column',
      2,
    );
  const range =
    options.since !== undefined
      ? { since: parseTime(options.since, '--since'), until: parseTime(options.until!, '--until') }
      : undefined;
  if (range && compareTimes(range.since, range.until) >= 0)
    throw new DrError(
      `--since ${options.since} is not before --until ${options.until}`,
      'give a --since earlier than --until',
      2,
    );

  const candidates = await resolveBackup(repo, options.backup, options.database);
  const pgRestore = await toolVersion(tools, 'pg_restore');
  const warnings: string[] = [];
  const admin = await connectAdmin(target);
  let workDir: string | undefined;
  let scratch: string | undefined;
  const dropScratch = async () => {
    if (scratch) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(scratch)} WITH (FORCE)`).catch(() => {});
    scratch = undefined;
  };
  try {
    const server = await admin.query<{ v: string; n: string }>(
      `SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n`,
    );
    assertClientNotOlder('pg_restore', pgRestore, server.rows[0]!.v, Number(server.rows[0]!.n));
    for (const line of await dropLeftovers(admin)) {
      log(line);
      warnings.push(line);
    }
    if (!(await databaseExists(admin, target.database))) {
      throw new DrError(
        `target database ${target.database} does not exist on ${target.display}`,
        'a table restore goes into an existing database: create it, or run a full restore (without --tables)',
      );
    }

    const {
      manifest,
      value: staged,
      fallbacks,
      warnings: fallbackWarnings,
    } = await firstVerified(repo, candidates, log, async (manifest) => {
      const resolved = resolveRequest(manifest, options, range);
      await checkTarget(target.url, resolved);
      // Refused before anything is downloaded; checked again under the table lock in the transaction.
      if (range && !options.merge && !options.replaceNewer)
        await refuseNewer(target.url, manifest, resolved, range, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
      await assertExtensionsAvailable(admin, manifest);
      await dropScratch();
      if (workDir) await rm(workDir, { recursive: true, force: true });
      workDir = await workDirFor(options.workDir ?? tmpdir(), 'table-restore');
      // A hypertable's rows need TimescaleDB's catalog staged with them; plain tables of a
      // TimescaleDB database stream like any others.
      const streamed =
        !range &&
        !resolved.some((r) => r.table.kind === 'hypertable') &&
        (await presentWithoutInheritance(target.url, resolved));
      return streamed ? fetchForStream(manifest, resolved) : stage(manifest, resolved);
    });
    warnings.push(...fallbackWarnings);

    /** Whole tables: only the verified files, no scratch database; their partitions come from the manifest. */
    async function fetchForStream(manifest: Manifest, resolved: Resolved[]): Promise<Staged> {
      log(`verifying the table of contents of backup ${manifest.id}`);
      const tocFetch = await fetchVerified(repo, manifest, { workDir: workDir!, paths: [`${DATA_DIR}/toc.dat`] });
      const toc = await readToc(tools, tocFetch.dumpDir);
      const streamEntries = new Map<ManifestTable, TocEntry[]>();
      for (const r of resolved) {
        const members = manifest.tables.filter((t) => t === r.table || isAncestor(manifest, r.table, t));
        streamEntries.set(r.table, dataEntries(toc, { members, indexes: [], sequences: [] }));
      }
      const data = await fetchData(manifest, [...streamEntries.values()].flat(), resolved);
      return {
        fetched: data.fetched,
        files: [`${DATA_DIR}/toc.dat`, ...data.paths],
        bytes: tocFetch.bytes + data.fetched.bytes,
        resolved,
        toc,
        families: new Map(),
        streamEntries,
        downloadMs: tocFetch.downloadMs + data.fetched.downloadMs,
        verifyMs: tocFetch.verifyMs + data.fetched.verifyMs,
        stageMs: 0,
      };
    }

    /** Downloads and verifies the entries' data files. */
    async function fetchData(
      manifest: Manifest,
      entries: TocEntry[],
      resolved: Resolved[],
    ): Promise<{ fetched: FetchedBackup; paths: string[] }> {
      const files = entries
        .filter((e) => e.desc === 'TABLE DATA')
        .map((e) => {
          const file = manifest.files.find((f) => new RegExp(`^${DATA_DIR}/${e.dumpId}\\.dat(\\.\\w+)?$`).test(f.path));
          if (!file)
            throw new BackupIntegrityError(
              `backup ${manifest.id}: no data file for ${e.line.replace(/^\d+; \d+ \d+ /, '')} in the manifest`,
              'the backup is damaged; restore another one',
            );
          return file;
        });
      log(`verifying ${files.length} data files of ${resolved.map((r) => displayName(r.table)).join(', ')}`);
      const fetched = await fetchVerified(repo, manifest, {
        workDir: workDir!,
        paths: files.map((f) => f.path),
        concurrency: Math.max(4, jobs),
      });
      return { fetched, paths: files.map((f) => f.path) };
    }

    async function stage(manifest: Manifest, resolved: Resolved[]): Promise<Staged> {
      log(`verifying the table of contents of backup ${manifest.id}`);
      const tocFetch = await fetchVerified(repo, manifest, { workDir: workDir!, paths: [`${DATA_DIR}/toc.dat`] });
      const toc = await readToc(tools, tocFetch.dumpDir);

      const stageStarted = Date.now();
      scratch = suffixed(target.database, leftoverSuffix('__dr_stage_', randomBytes(2).toString('hex')));
      try {
        await createDatabase(admin, scratch, manifest, warnings);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (typeof code !== 'string') throw err;
        throw new DrError(
          `cannot create the scratch database ${scratch} on ${target.display}: ${(err as Error).message}`,
          "the target user needs CREATEDB (the backup's rows are staged there, never in the target); the target was not changed",
          1,
          { cause: err },
        );
      }
      const scratchUrl = withDatabase(target.url, scratch);
      const timescale = manifest.extensions.find((e) => e.name === 'timescaledb');
      if (timescale) await prepareTimescale(scratchUrl, timescale.version);
      // Definitions only (no data file needed): empty tables, types, functions, views.
      await pgRestore_(
        tools,
        [
          '--section=pre-data',
          '--no-owner',
          '--no-privileges',
          '--exit-on-error',
          `--dbname=${scratchUrl}`,
          tocFetch.dumpDir,
        ],
        "staging the backup's definitions",
      );

      const families = new Map<ManifestTable, TableFamily>();
      const entries: TocEntry[] = [];
      const client = await connect(scratchUrl, 'target');
      try {
        // The planner prunes a timestamp-without-time-zone range in the session's zone: UTC, as the replacement reads it.
        await client.query(`SET TimeZone = 'UTC'`);
        for (const r of resolved) {
          const family = await familyOf(client, manifest, r.table);
          families.set(r.table, family);
          if (r.timeColumn) await assertTimeColumn(client, r.table, r.timeColumn, 'backup');
          if (r.table.kind === 'hypertable' && manifest.timescale) {
            // The manifest knows each chunk's range and its compressed chunk (not an inheritance
            // child, so not in the family): only the chunks overlapping the range are fetched.
            const onTimeDimension = !range || r.timeColumn === r.table.timeColumn;
            entries.push(
              ...dataEntries(toc, {
                ...family,
                members: hypertableMembers(manifest.timescale, r.table, onTimeDimension ? range : undefined),
              }),
            );
            continue;
          }
          // The scratch copy is thrown away: loading it without WAL is safe and cheaper.
          for (const m of family.members)
            await client.query(`ALTER TABLE ${qualified(m.schema, m.name)} SET UNLOGGED`).catch(() => {});
          // A range needs only the partitions that can hold it.
          const members =
            range && r.timeColumn ? await membersScannedFor(client, r.table, r.timeColumn, range) : family.members;
          entries.push(...dataEntries(toc, { ...family, members }));
        }
      } finally {
        await client.end();
      }
      // TimescaleDB's catalog rows (which chunks exist, their ranges, compression) load first and
      // alone, as in a full restore (timescaleRestoreSteps); then the chunks' rows in parallel.
      const catalogEntries = timescale ? timescaleRestoreSteps(toc).catalog : [];
      const { fetched, paths: dataPaths } = await fetchData(manifest, [...catalogEntries, ...entries], resolved);
      const paths = [`${DATA_DIR}/toc.dat`, ...dataPaths];

      const env = { PGOPTIONS: [process.env.PGOPTIONS ?? '', ...RESTORE_SESSION_OPTIONS].join(' ').trim() };
      const load = async (name: string, selected: TocEntry[], parallel: boolean) => {
        const list = join(workDir!, name);
        await writeFile(list, listFile(selected));
        await pgRestore_(
          tools,
          [
            '--data-only',
            `--use-list=${list}`,
            ...(parallel ? [`--jobs=${jobs}`] : []),
            '--exit-on-error',
            `--dbname=${scratchUrl}`,
            fetched.dumpDir,
          ],
          "staging the backup's rows",
          env,
        );
      };
      log(`staging ${dataPaths.length} table data files in ${scratch}`);
      if (catalogEntries.length) await load('catalog.list', catalogEntries, false);
      await load('data.list', entries, true);
      // The scratch copy only feeds the target: its policies must not run on it.
      if (timescale) await finishTimescale(scratchUrl, { hold: true });
      if (range) await checkStagedRange(scratchUrl, resolved, range, manifest);
      const bytes = tocFetch.bytes + fetched.bytes;
      return {
        scratchUrl,
        fetched,
        files: paths,
        bytes,
        resolved,
        toc,
        families,
        downloadMs: tocFetch.downloadMs + fetched.downloadMs,
        verifyMs: tocFetch.verifyMs + fetched.verifyMs,
        stageMs: Date.now() - stageStarted,
      };
    }

    // Tables missing from the target are created from the backup's own definition.
    const definition = async (t: TableName): Promise<TableDefinition> => {
      const r = staged.resolved.find((x) => x.table.schema === t.schema && x.table.name === t.name)!;
      const { create, finish } = definitionEntries(staged.toc, staged.families.get(r.table)!);
      const sql = async (entries: TocEntry[], which: string) => {
        if (entries.length === 0) return '';
        const list = join(workDir!, `${which}-${create.length}-${Date.now()}.list`);
        await writeFile(list, listFile(entries));
        const out = await runTool(tools, 'pg_restore', [
          '--file=-',
          `--use-list=${list}`,
          ...(options.noOwner ? ['--no-owner', '--no-privileges'] : []),
          staged.fetched.dumpDir,
        ]);
        if (out.code !== 0)
          throw new DrError(
            `reading ${displayName(t)}'s definition from the backup failed: ${firstErrorLine(out.stderr)}`,
            'check the PostgreSQL client tools',
          );
        return out.stdout;
      };
      return { create: await sql(create, 'create'), finish: await sql(finish, 'finish') };
    };

    const applyStarted = Date.now();
    const replace = {
      targetUrl: target.url,
      tables: staged.resolved.map((r) => ({
        schema: r.table.schema,
        name: r.table.name,
        timeColumn: r.timeColumn,
        newerThan: range ? newerThan(manifest, r) : undefined,
      })),
      range,
      merge: options.merge,
      replaceNewer: options.replaceNewer,
      lockTimeoutMs: options.lockTimeoutMs,
      definition,
      noOwner: options.noOwner,
      origin: `backup ${manifest.id}`,
      tools,
      log,
    };
    const applied = staged.scratchUrl
      ? await replaceTablesFromSource({ ...replace, sourceUrl: staged.scratchUrl })
      : await replaceTables(backupSource(manifest, staged, workDir!, tools), replace);
    warnings.push(...applied.warnings);
    const applyMs = Date.now() - applyStarted;
    log(
      `restored ${applied.tables.map((t) => `${t.table} (${t.rowsRestored} rows)`).join(', ')} from backup ${manifest.id} into ${target.display}`,
    );
    return {
      mode: range ? 'range' : 'tables',
      backup: { id: manifest.id, database: manifest.database, tier: manifest.tier, startedAt: manifest.startedAt },
      fallbacks,
      target: target.display,
      range: range ?? null,
      tables: applied.tables.map((t, i) => ({ ...t, timeColumn: staged.resolved[i]!.timeColumn ?? null })),
      files: staged.files,
      bytes: staged.bytes,
      backupBytes: manifest.totals.bytes,
      durationMs: Date.now() - started,
      phases: { downloadMs: staged.downloadMs, verifyMs: staged.verifyMs, stageMs: staged.stageMs, applyMs },
      warnings,
    };
  } finally {
    await dropScratch();
    await admin.end().catch(() => {});
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * The verified backup files as the row source of whole tables: each table's data entries
 * (partitions included) streamed into the target's transaction, routed through the table itself
 * as the scratch path does; owned sequences move forward to the manifest's values.
 */
function backupSource(manifest: Manifest, staged: Staged, workDir: string, tools: PgTools): RowSource {
  const entriesOf = (t: TableName) =>
    [...staged.streamEntries!].find(([m]) => m.schema === t.schema && m.name === t.name)?.[1];
  return {
    name: 'the backup',
    // Columns are known from each COPY block and checked then.
    describe: async (t) => (entriesOf(t) ? {} : undefined),
    async load(client, table, columns, range, into) {
      if (range) throw new Error('the backup files are streamed for whole tables only');
      const display = displayName(table);
      return loadDumpData(client, {
        dumpDir: staged.fetched.dumpDir,
        entries: entriesOf(table)!,
        workDir,
        tools,
        into: (block) => {
          assertSameColumns(display, columns, block.columns, 'the backup');
          return `${into ?? qualified(table.schema, table.name)}${block.columns.length ? ` (${block.columns.map(quoteIdent).join(', ')})` : ''}`;
        },
      });
    },
    sequenceValues: async (names) =>
      new Map(
        manifest.sequences
          .filter((s) => names.some((n) => n.schema === s.schema && n.name === s.name))
          .map((s) => [`${s.schema}.${s.name}`, s.lastValue]),
      ),
    close: async () => {},
  };
}

/**
 * The newest time of the table the backup holds (the manifest's max of its time column, as
 * PostgreSQL printed it: microseconds kept), or the backup's start for another time column.
 */
function newerThan(manifest: Manifest, r: Resolved): string {
  return r.timeColumn === r.table.timeColumn && r.table.maxTime ? r.table.maxTime : manifest.startedAt;
}

/** A range restore that would delete target rows newer than the backup is refused by default. */
async function refuseNewer(
  url: string,
  manifest: Manifest,
  resolved: Resolved[],
  range: { since: string; until: string },
  lockTimeoutMs: number,
): Promise<void> {
  const client = await connect(url, 'target');
  try {
    await client.query(`SET TimeZone = 'UTC'`);
    await client.query(lockTimeoutSql(lockTimeoutMs));
    for (const r of resolved) {
      if (!r.timeColumn) continue;
      const exists =
        (await client.query('SELECT to_regclass($1) AS r', [qualified(r.table.schema, r.table.name)])).rows[0].r !==
        null;
      if (!exists) continue;
      const table = {
        schema: r.table.schema,
        name: r.table.name,
        timeColumn: r.timeColumn,
        newerThan: newerThan(manifest, r),
      };
      const count = await countNewerRows(client, table, range).catch(async (err: unknown) => {
        throw isLockTimeout(err)
          ? await lockTimeoutError(
              `restoring ${displayName(r.table)}`,
              url,
              lockTimeoutMs,
              qualified(r.table.schema, r.table.name),
            )
          : err;
      });
      if (count > 0) throw newerRowsError(displayName(r.table), table, range, count, `backup ${manifest.id}`);
    }
  } finally {
    await client.end();
  }
}

/** True when every table is in the target and has no inheritance children other than partitions (the manifest knows only partitions). */
async function presentWithoutInheritance(url: string, resolved: Resolved[]): Promise<boolean> {
  const client = await connect(url, 'target');
  try {
    for (const r of resolved) {
      const { rows } = await client.query<{ present: boolean; inherits: boolean }>(
        `
        WITH RECURSIVE f(oid) AS (SELECT to_regclass($1)::oid UNION SELECT i.inhrelid FROM pg_inherits i JOIN f ON i.inhparent = f.oid)
        SELECT to_regclass($1) IS NOT NULL AS present,
               EXISTS (SELECT 1 FROM f JOIN pg_class c ON c.oid = f.oid WHERE c.oid <> to_regclass($1)::oid AND NOT c.relispartition) AS inherits`,
        [qualified(r.table.schema, r.table.name)],
      );
      if (!rows[0]!.present || rows[0]!.inherits) return false;
    }
    return true;
  } finally {
    await client.end();
  }
}

async function pgRestore_(tools: PgTools, args: string[], doing: string, env?: NodeJS.ProcessEnv): Promise<void> {
  const result = await runTool(tools, 'pg_restore', args, { env });
  if (result.code !== 0)
    throw new DrError(
      `${doing} failed: ${firstErrorLine(result.stderr)}`,
      'see the pg_restore message; the target was not changed',
    );
}

/**
 * The target's copy of each table, when present, must be a hypertable exactly when the backup's
 * is, and have the time column too. A hypertable must be there (it cannot be created from a dump's
 * definition alone).
 */
async function checkTarget(url: string, resolved: Resolved[]): Promise<void> {
  const client = await connect(url, 'target');
  try {
    for (const r of resolved) {
      const exists =
        (await client.query('SELECT to_regclass($1) AS r', [qualified(r.table.schema, r.table.name)])).rows[0].r !==
        null;
      const name = displayName(r.table);
      if (!exists && r.table.kind === 'hypertable') throw missingHypertableError(name);
      if (exists && (r.table.kind === 'hypertable') !== (await isHypertable(client, r.table)))
        throw kindMismatchError(name, r.table.kind === 'hypertable', 'the backup');
      if (exists && r.timeColumn) await assertTimeColumn(client, r.table, r.timeColumn, 'target');
    }
  } finally {
    await client.end();
  }
}

const TIME_TYPES = ['timestamp with time zone', 'timestamp without time zone', 'date'];

async function assertTimeColumn(client: pg.Client, table: ManifestTable, column: string, where: string): Promise<void> {
  const { rows } = await client.query<{ name: string; type: string }>(
    `SELECT attname AS name, format_type(atttypid, NULL) AS type FROM pg_attribute
      WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [qualified(table.schema, table.name)],
  );
  const hit = rows.find((c) => c.name === column);
  if (hit && TIME_TYPES.includes(hit.type)) return;
  const known = rows.filter((c) => TIME_TYPES.includes(c.type)).map((c) => c.name);
  throw new DrError(
    `unknown time column "${column}" for ${displayName(table)} in the ${where}${hit ? ` (it is ${hit.type})` : ''}`,
    known.length
      ? `pass --time-column with one of: ${known.join(', ')}`
      : `${displayName(table)} has no timestamp or date column: restore the whole table (drop --since/--until)`,
  );
}

/** The table, its partitions and inheritance children (chunks), their indexes and owned sequences, read in the scratch database. */
async function familyOf(client: pg.Client, manifest: Manifest, table: ManifestTable): Promise<TableFamily> {
  const { rows: members } = await client.query<{ schema: string; name: string }>(
    `
    WITH RECURSIVE f(oid) AS (SELECT to_regclass($1)::oid UNION SELECT i.inhrelid FROM pg_inherits i JOIN f ON i.inhparent = f.oid)
    SELECT n.nspname AS schema, c.relname AS name FROM f JOIN pg_class c ON c.oid = f.oid JOIN pg_namespace n ON n.oid = c.relnamespace`,
    [qualified(table.schema, table.name)],
  );
  const { rows: sequences } = await client.query<{ schema: string; name: string }>(
    `
    WITH RECURSIVE f(oid) AS (SELECT to_regclass($1)::oid UNION SELECT i.inhrelid FROM pg_inherits i JOIN f ON i.inhparent = f.oid)
    SELECT n.nspname AS schema, s.relname AS name FROM f JOIN pg_depend d ON d.refobjid = f.oid AND d.deptype IN ('a', 'i')
      JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN pg_namespace n ON n.oid = s.relnamespace`,
    [qualified(table.schema, table.name)],
  );
  // Indexes are post-data, not in the scratch database: the manifest lists them per table.
  const indexes = members.flatMap(
    (m) =>
      manifest.tables
        .find((t) => t.schema === m.schema && t.name === m.name)
        ?.indexes.map((i) => ({ schema: m.schema, name: i.name })) ?? [],
  );
  return { members, indexes, sequences };
}

/**
 * The members a range query actually reads, as the planner prunes them (partition bounds, and
 * the CHECK constraints of inheritance children such as TimescaleDB chunks). The scratch tables
 * are empty at this point, so planning is instant.
 */
async function membersScannedFor(
  client: pg.Client,
  table: ManifestTable,
  column: string,
  range: { since: string; until: string },
): Promise<{ schema: string; name: string }[]> {
  const col = quoteIdent(column);
  const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(
    `EXPLAIN (FORMAT JSON, VERBOSE) SELECT 1 FROM ${qualified(table.schema, table.name)} WHERE ${col} >= '${range.since}'::timestamptz AND ${col} < '${range.until}'::timestamptz`,
  );
  const scanned = new Map<string, { schema: string; name: string }>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      const n = node as Record<string, unknown>;
      if (typeof n['Relation Name'] === 'string' && typeof n.Schema === 'string')
        scanned.set(`${n.Schema}.${n['Relation Name']}`, { schema: n.Schema, name: n['Relation Name'] });
      Object.values(n).forEach(walk);
    }
  };
  walk(rows[0]!['QUERY PLAN']);
  return [...scanned.values()];
}

/** The backup must hold rows in the range: restoring an empty range would only delete target rows. */
async function checkStagedRange(
  url: string,
  resolved: Resolved[],
  range: { since: string; until: string },
  manifest: Manifest,
): Promise<void> {
  const client = await connect(url, 'target');
  try {
    await client.query(`SET TimeZone = 'UTC'; SET DateStyle = 'ISO'`);
    for (const r of resolved) {
      const col = quoteIdent(r.timeColumn!);
      const { rows } = await client.query<{ n: string; min: string | null; max: string | null }>(
        `SELECT count(*) FILTER (WHERE ${col} >= $1::timestamptz AND ${col} < $2::timestamptz) AS n, min(${col})::text AS min, max(${col})::text AS max
           FROM ${qualified(r.table.schema, r.table.name)}`,
        [range.since, range.until],
      );
      if (Number(rows[0]!.n) > 0) continue;
      const near =
        rows[0]!.min === null ? '' : ` (the partitions covering it hold rows from ${rows[0]!.min} to ${rows[0]!.max})`;
      throw new DrError(
        `range [${range.since}, ${range.until}) is outside backup ${manifest.id}'s data: it holds no ${displayName(r.table)} rows with ${r.timeColumn} in it${near}`,
        'choose a range the backup has rows in, or another backup',
      );
    }
  } finally {
    await client.end();
  }
}
