/**
 * The target side of a restore: connect to the target server and check it, create the staging
 * database, pg_restore into it (with TimescaleDB's steps), and swap it into the target's place.
 * Full restores, table restores and PITR restores share these.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import type { Manifest } from '../backup/manifest.ts';
import { DrError } from '../errors.ts';
import {
  assertClientNotOlder,
  cancelledByRequest,
  connect,
  firstErrorLine,
  type PgTools,
  type PgUrl,
  quoteIdent,
  quoteLiteral,
  runTool,
  toolVersion,
  withDatabase,
} from '../pg/connection.ts';
import { onlyRow } from '../pg/rows.ts';
import {
  assertServerCanRestore,
  type JobSchedule,
  scheduleRestoredJobs,
  TIMESCALE_EXTENSION,
  timescaleRestoreSteps,
} from '../pg/timescale.ts';
import { phase } from '../progress.ts';
import { interruption, throwIfInterrupted } from '../signals.ts';
import { applyDatabaseProperties, type DatabaseProperties } from '../verify/database-properties.ts';
import { dropLeftovers, leftoverSuffix } from './leftovers.ts';
import { listFile, readToc } from './toc.ts';

/** Session settings that speed a bulk restore up; all are safe because a failed restore is discarded. */
export const RESTORE_SESSION_OPTIONS = [
  '-c synchronous_commit=off',
  '-c maintenance_work_mem=512MB',
  '-c work_mem=64MB',
];

/** A target checked for a full restore, with a connection to its server's maintenance database. */
export interface OpenedTarget {
  readonly target: PgUrl;
  readonly admin: pg.Client;
  /** The target database exists (it is then empty, or `overwrite` was given). */
  readonly exists: boolean;
  /** Leftover databases of interrupted dr runs dropped on the way (core/restore/leftovers.ts), as messages. */
  readonly cleaned: string[];
}

/**
 * Connects to the target server and refuses what would fail or destroy data later: a pg_restore
 * older than the server, a non-empty target without `overwrite`. The caller ends `admin`.
 */
export async function openTarget(
  target: PgUrl,
  options: { readonly overwrite?: boolean; readonly tools?: PgTools },
): Promise<OpenedTarget> {
  const pgRestore = await toolVersion(options.tools ?? {}, 'pg_restore');
  const admin = await connectAdmin(target);
  try {
    const server = onlyRow(
      await admin.query<{ v: string; n: string }>(
        `SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n`,
      ),
    );
    assertClientNotOlder('pg_restore', pgRestore, server.v, Number(server.n));
    const exists = await databaseExists(admin, target.database);
    if (exists && !options.overwrite && !(await isEmptyDatabase(target))) {
      throw new DrError(
        `target database ${target.database} on ${target.display} is not empty`,
        'pass --overwrite to replace it, or choose another --target database',
      );
    }
    const cleaned = await dropLeftovers(admin);
    return { target, admin, exists, cleaned };
  } catch (err) {
    await admin.end().catch(() => {});
    throw err;
  }
}

/** A pg_dump directory on local disk, from a verified backup or a recovered cluster. */
export interface LocalDump {
  readonly dumpDir: string;
  /** Names the staging database (its last 6 characters), e.g. the backup id. */
  readonly id: string;
  readonly databaseOptions: Manifest['databaseOptions'];
  /** Owner, privileges, comment, connection limit, settings: applied before the swap. @default - none recorded */
  readonly databaseProperties?: DatabaseProperties;
  readonly timescaleVersion?: string;
  /** How restored TimescaleDB policy jobs are scheduled. @default - each due now */
  readonly timescaleJobs?: JobSchedule;
}

/**
 * pg_restore of `dump` into a staging database next to the target, then swapped into the target's
 * place; on failure the staging database is dropped and the target is unchanged.
 */
export async function restoreDumpIntoTarget(
  opened: OpenedTarget,
  dump: LocalDump,
  options: {
    readonly noOwner?: boolean;
    readonly jobs: number;
    readonly tools: PgTools;
    readonly log: (message: string) => void;
    readonly warnings: string[];
  },
): Promise<{ readonly restoreMs: number; readonly swapMs: number }> {
  const { admin, target } = opened;
  let staging: string | undefined = stagingName(target.database, dump.id);
  try {
    await createDatabase(admin, staging, dump, options.warnings);
    const stagingUrl = withDatabase(target.url, staging);
    const restoreStarted = Date.now();
    options.log(`restoring into ${target.display} with pg_restore -j ${options.jobs}`);
    phase('pg_restore');
    const args = [
      `--exit-on-error`,
      `--dbname=${stagingUrl}`,
      ...(options.noOwner ? ['--no-owner', '--no-privileges'] : []),
    ];
    const env = { PGOPTIONS: [process.env.PGOPTIONS ?? '', ...RESTORE_SESSION_OPTIONS].join(' ').trim() };
    const pgRestore = async (extra: string[]) => {
      const result = await runTool(options.tools, 'pg_restore', [...args, ...extra, dump.dumpDir], { env });
      if (result.code !== 0) {
        const line = firstErrorLine(result.stderr);
        const hint = /role ".*" does not exist/.test(line)
          ? "pass --with-globals to create the backup's roles, or --no-owner to restore without ownership"
          : 'see the pg_restore message; the target was not changed';
        throw new DrError(`pg_restore failed: ${line}`, hint);
      }
    };
    if (dump.timescaleVersion)
      await restoreTimescaleDump(stagingUrl, { ...dump, timescaleVersion: dump.timescaleVersion }, options, pgRestore);
    else await pgRestore([`--jobs=${options.jobs}`]);
    const restoreMs = Date.now() - restoreStarted;
    const swapStarted = Date.now();
    if (dump.databaseProperties)
      await applyDatabaseProperties(
        admin,
        staging,
        dump.databaseProperties,
        { noOwner: options.noOwner },
        options.warnings,
      );
    // The last moment to stop: after the swap the target is the backup's.
    throwIfInterrupted();
    const leftover = await swapIntoPlace(admin, staging, target.database, opened.exists);
    staging = undefined;
    if (leftover) options.warnings.push(leftover);
    return { restoreMs, swapMs: Date.now() - swapStarted };
  } finally {
    if (staging) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(staging)} WITH (FORCE)`).catch(() => {});
  }
}

/**
 * A TimescaleDB dump, in the order TimescaleDB supports with parallelism (timescaleRestoreSteps):
 * pre_restore, definitions, the catalog rows alone, the rest in parallel, post_restore, and only
 * then the materialized views. While restoring, TimescaleDB's planner is off and a query on a
 * hypertable reads plain inheritance, which misses compressed rows: a REFRESH then would populate
 * a view from part of the data.
 */
async function restoreTimescaleDump(
  url: string,
  dump: LocalDump & { readonly timescaleVersion: string },
  options: { readonly jobs: number; readonly tools: PgTools },
  pgRestore: (args: string[]) => Promise<void>,
): Promise<void> {
  const steps = timescaleRestoreSteps(await readToc(options.tools, dump.dumpDir));
  const lists = await mkdtemp(join(tmpdir(), 'dr-restore-lists-'));
  const list = async (name: keyof typeof steps) => {
    await writeFile(join(lists, `${name}.list`), listFile(steps[name]));
    return `--use-list=${join(lists, `${name}.list`)}`;
  };
  try {
    await prepareTimescale(url, dump.timescaleVersion);
    await pgRestore(['--section=pre-data']);
    await pgRestore([await list('catalog'), '--section=data']);
    await pgRestore([`--jobs=${options.jobs}`, await list('parallel'), '--section=data', '--section=post-data']);
    await finishTimescale(url, dump.timescaleJobs ?? {});
    if (steps.refresh.length > 0)
      await pgRestore([`--jobs=${options.jobs}`, await list('refresh'), '--section=post-data']);
  } finally {
    await rm(lists, { recursive: true, force: true });
  }
}

/** The maintenance database of the target server (`postgres`, or `template1` where that is missing). */
export async function connectAdmin(target: PgUrl): Promise<pg.Client> {
  try {
    return await connect(withDatabase(target.url, 'postgres'), 'target');
  } catch (err) {
    if (err instanceof DrError && /does not exist/.test(err.message))
      return connect(withDatabase(target.url, 'template1'), 'target');
    throw err;
  }
}

export async function databaseExists(admin: pg.Client, name: string): Promise<boolean> {
  return (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
}

/**
 * No user objects at all (tables, views, sequences, functions, types, schemas besides public,
 * extensions besides plpgsql, and no comment on public other than the default): safe to restore
 * into without --overwrite.
 */
async function isEmptyDatabase(target: PgUrl): Promise<boolean> {
  const client = await connect(target.url, 'target');
  try {
    const { n } = onlyRow(
      await client.query<{ n: string }>(`
      SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast')
           + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e'))
           + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
               WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
                 AND t.typtype IN ('e', 'd', 'r', 'm'))
           + (SELECT count(*) FROM pg_namespace n
               WHERE n.nspname NOT IN ('public', 'information_schema') AND n.nspname !~ '^pg_')
           + (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')
           + (SELECT count(*) FROM pg_description d JOIN pg_namespace n ON d.classoid = 'pg_namespace'::regclass AND d.objoid = n.oid
               WHERE n.nspname = 'public' AND d.description <> 'standard public schema') AS n`),
    );
    return Number(n) === 0;
  } finally {
    await client.end();
  }
}

/** Extensions the dump needs must be installable on the target server: for TimescaleDB, the backup's version, preloaded. */
export async function assertExtensionsAvailable(admin: pg.Client, manifest: Manifest): Promise<void> {
  const timescale = manifest.extensions.find((e) => e.name === TIMESCALE_EXTENSION);
  if (timescale) await assertServerCanRestore(admin, manifest.id, timescale.version);
}

/** `name` + `suffix`, shortening `name` to stay within PostgreSQL's 63-byte identifier limit. */
export function suffixed(name: string, suffix: string): string {
  let base = name;
  while (Buffer.byteLength(base + suffix) > 63) base = base.slice(0, -1);
  return base + suffix;
}

/** Staging database next to the target, named after the backup it receives. */
export function stagingName(target: string, backupId: string): string {
  return suffixed(target, leftoverSuffix('__dr_restore_', `_${backupId.slice(-6)}`));
}

export async function createDatabase(
  admin: pg.Client,
  name: string,
  manifest: Pick<Manifest, 'databaseOptions'>,
  warnings: string[],
): Promise<void> {
  const { encoding, collate, ctype } = manifest.databaseOptions;
  await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  try {
    await admin.query(
      `CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0 ENCODING ${quoteLiteral(encoding)} LC_COLLATE ${quoteLiteral(collate)} LC_CTYPE ${quoteLiteral(ctype)}`,
    );
  } catch (err) {
    // The source's locale may not exist on the target server: keep the encoding, warn about sorting.
    warnings.push(
      `locale ${collate}/${ctype} is not available on the target server (${(err as Error).message}); created the database with the server's default locale`,
    );
    await admin.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0 ENCODING ${quoteLiteral(encoding)}`);
  }
}

export async function prepareTimescale(url: string, version: string): Promise<void> {
  const client = await connect(url, 'target');
  try {
    await client.query(`CREATE EXTENSION IF NOT EXISTS timescaledb VERSION ${quoteLiteral(version)}`);
    await client.query('SELECT timescaledb_pre_restore()');
  } finally {
    await client.end();
  }
}

export async function finishTimescale(url: string, jobs: JobSchedule): Promise<void> {
  const client = await connect(url, 'target');
  try {
    await scheduleRestoredJobs(client, jobs);
    await client.query('SELECT timescaledb_post_restore()');
  } finally {
    await client.end();
  }
}

/**
 * Puts the restored staging database in the target's place. Renames are quick and need no copy;
 * the old database is dropped only after the new one has its name.
 */
async function swapIntoPlace(
  admin: pg.Client,
  staging: string,
  target: string,
  targetExists: boolean,
): Promise<string | undefined> {
  if (!targetExists) {
    await admin.query(`ALTER DATABASE ${quoteIdent(staging)} RENAME TO ${quoteIdent(target)}`);
    return undefined;
  }
  const replaced = suffixed(target, leftoverSuffix('__dr_old_'));
  for (let attempt = 1; ; attempt++) {
    // Applications reconnect quickly: disconnect them and rename in one transaction.
    await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [target],
    );
    try {
      await admin.query('BEGIN');
      await admin.query(`ALTER DATABASE ${quoteIdent(target)} RENAME TO ${quoteIdent(replaced)}`);
      await admin.query(`ALTER DATABASE ${quoteIdent(staging)} RENAME TO ${quoteIdent(target)}`);
      await admin.query('COMMIT');
      break;
    } catch (err) {
      await admin.query('ROLLBACK').catch(() => {});
      if (attempt >= 5 || !/being accessed by other users/.test((err as Error).message)) {
        throw new DrError(
          `could not replace ${target}: ${(err as Error).message}`,
          'stop the applications using it and run the restore again; the target is unchanged',
        );
      }
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
  // The restore has succeeded: the new database is in place. A failed drop of the old one is a
  // warning, not a failure; its name marks it for the next restore's cleanup (core/restore/leftovers.ts).
  const drop = () => admin.query(`DROP DATABASE ${quoteIdent(replaced)} WITH (FORCE)`);
  try {
    // A signal past the swap changes nothing (the target is already the backup's), but its cancel
    // may land on this DROP: once spent, the DROP runs again.
    await drop().catch((err: unknown) => {
      if (cancelledByRequest(err) && interruption()) return drop();
      throw err;
    });
    return undefined;
  } catch (err) {
    return `the previous ${target} was renamed to ${replaced} and could not be dropped (${(err as Error).message}): DROP DATABASE ${quoteIdent(replaced)}, or the next restore on this server drops it after an hour`;
  }
}
