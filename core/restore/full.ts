/**
 * `dr restore` (full): verify the backup, restore it into a staging database next to the target,
 * and only then put it in the target's place. The target is never touched before the backup is
 * verified, and a failed restore leaves the target as it was.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import type { Manifest } from '../backup/manifest.ts';
import { BackupIntegrityError, DrError } from '../errors.ts';
import {
  assertClientNotOlder,
  connect,
  firstErrorLine,
  type PgTools,
  type PgUrl,
  parsePgUrl,
  quoteIdent,
  runTool,
  toolVersion,
  withDatabase,
} from '../pg/connection.ts';
import {
  assertServerCanRestore,
  type JobSchedule,
  scheduleRestoredJobs,
  TIMESCALE_EXTENSION,
  timescaleRestoreSteps,
} from '../pg/timescale.ts';
import { phase } from '../progress.ts';
import { type BackupCandidates, readManifest, resolveBackup } from '../repository/backups.ts';
import type { Repository } from '../repository/types.ts';
import { throwIfInterrupted } from '../signals.ts';
import { applyDatabaseProperties, type DatabaseProperties } from '../verify/database-properties.ts';
import { type FetchedBackup, fetchVerified } from './fetch.ts';
import { dropLeftovers, leftoverSuffix, workDirFor } from './leftovers.ts';
import { listFile, readToc } from './toc.ts';

export interface RestoreOptions {
  readonly repository: Repository;
  /** `latest` or a backup id. */
  readonly backup: string;
  /** Source database name in the repository; @default - the only one, or the one holding `backup` */
  readonly database?: string;
  /** Target database URL; the database is created when missing. */
  readonly target: string;
  /** Replace a non-empty target. @default false */
  readonly overwrite?: boolean;
  /** Apply the backup's roles and tablespaces to the target server first. @default false */
  readonly withGlobals?: boolean;
  /** Skip restoring ownership (for a server without the source's roles). @default false */
  readonly noOwner?: boolean;
  /** @default - the CPU count */
  readonly jobs?: number;
  /**
   * Keep restored TimescaleDB policy jobs from running (see JobSchedule.hold): for a copy that is
   * restored to be verified, as drills do.
   * @default false - each job is next due when the source had it due
   */
  readonly holdTimescaleJobs?: boolean;
  /** Where remote backups are downloaded. @default - the OS temp directory */
  readonly workDir?: string;
  readonly tools?: PgTools;
  readonly log?: (message: string) => void;
}

export interface FallbackRecord {
  readonly id: string;
  readonly reason: string;
}

export interface RestoreResult {
  readonly backup: {
    readonly id: string;
    readonly database: string;
    readonly tier: string;
    readonly startedAt: string;
  };
  /** Newer backups that failed verification and were skipped (only with `latest`). */
  readonly fallbacks: FallbackRecord[];
  readonly target: string;
  readonly replaced: boolean;
  readonly files: number;
  readonly bytes: number;
  readonly tables: number;
  readonly rows: number;
  readonly durationMs: number;
  /** Where `durationMs` went; the phases add up to it exactly (RestorePhases). */
  readonly phases: RestorePhases;
  readonly warnings: string[];
}

/**
 * A full restore's time, split so that the parts add up to the whole: a drill report puts them
 * under the restore time it measures against the RTO.
 */
export interface RestorePhases {
  /** Finding the backup, checking the target server (versions, emptiness) and dropping leftovers of killed runs. */
  readonly checkTargetMs: number;
  /** Verifying newer backups that failed verification and were skipped (with `latest`). */
  readonly fallbackMs: number;
  /** Downloading the backup's files (from S3 their checksums are verified on the way, so verifyMs is 0). */
  readonly downloadMs: number;
  /** Checksumming the files in place (file:// repositories). */
  readonly verifyMs: number;
  /** pg_restore into the staging database (TimescaleDB's steps included). */
  readonly restoreMs: number;
  /** Database properties applied to the staging database, and the swap into the target's name. */
  readonly swapMs: number;
  /** The rest (reading the manifest, the work folder, creating the staging database, globals): durationMs minus the others. */
  readonly otherMs: number;
}

/** Session settings that speed a bulk restore up; all are safe because a failed restore is discarded. */
export const RESTORE_SESSION_OPTIONS = [
  '-c synchronous_commit=off',
  '-c maintenance_work_mem=512MB',
  '-c work_mem=64MB',
];

export async function runRestore(options: RestoreOptions): Promise<RestoreResult> {
  const log = options.log ?? (() => {});
  const tools = options.tools ?? {};
  const repo = options.repository;
  const jobs = options.jobs ?? Math.max(1, cpus().length);
  if (!Number.isInteger(jobs) || jobs < 1)
    throw new DrError(`--jobs must be a whole number ≥ 1, got ${jobs}`, 'e.g. --jobs 4');
  const started = Date.now();
  const target = parsePgUrl(options.target, '--target');
  const warnings: string[] = [];

  const candidates = await resolveBackup(repo, options.backup, options.database);

  // Check the target before downloading anything: refusing late would waste the download.
  const opened = await openTarget(target, { overwrite: options.overwrite, tools });
  const admin = opened.admin;
  for (const line of opened.cleaned) {
    log(line);
    warnings.push(line);
  }
  let workDir: string | undefined;
  try {
    const checkTargetMs = Date.now() - started;
    const verifyStarted = Date.now();
    let attemptStarted = verifyStarted;
    const {
      manifest,
      value: fetched,
      fallbacks,
      warnings: fallbackWarnings,
    } = await firstVerified(repo, candidates, log, async (manifest) => {
      // The time until the attempt that succeeds went into backups that failed verification.
      attemptStarted = Date.now();
      if (workDir) await rm(workDir, { recursive: true, force: true });
      workDir = await workDirFor(options.workDir ?? tmpdir(), 'restore');
      await assertExtensionsAvailable(admin, manifest);
      log(`verifying backup ${manifest.id} of ${candidates.database} (${manifest.totals.files} files)`);
      return fetchVerified(repo, manifest, { workDir, concurrency: Math.max(4, jobs) });
    });
    warnings.push(...fallbackWarnings);

    // The backup is verified: from here on the target server is touched.
    if (options.withGlobals) await applyGlobals(tools, fetched, target, manifest, warnings, log);
    const { restoreMs, swapMs } = await restoreDumpIntoTarget(
      opened,
      {
        dumpDir: fetched.dumpDir,
        id: manifest.id,
        databaseOptions: manifest.databaseOptions,
        databaseProperties: manifest.databaseProperties,
        timescaleVersion: manifest.extensions.find((e) => e.name === TIMESCALE_EXTENSION)?.version,
        timescaleJobs: {
          hold: options.holdTimescaleJobs,
          recorded: new Map((manifest.timescale?.jobs ?? []).map((j) => [j.id, j.nextStart])),
        },
      },
      { noOwner: options.noOwner, jobs, tools, log, warnings },
    );
    const targetExists = opened.exists;
    log(
      `restored backup ${manifest.id} into ${target.display}${targetExists ? ' (replaced the previous database)' : ''}`,
    );
    const durationMs = Date.now() - started;
    const fallbackMs = fallbacks.length > 0 ? attemptStarted - verifyStarted : 0;
    const measured = {
      checkTargetMs,
      fallbackMs,
      downloadMs: fetched.downloadMs,
      verifyMs: fetched.verifyMs,
      restoreMs,
      swapMs,
    };
    const otherMs = durationMs - Object.values(measured).reduce((a, b) => a + b, 0);
    return {
      backup: { id: manifest.id, database: manifest.database, tier: manifest.tier, startedAt: manifest.startedAt },
      fallbacks,
      target: target.display,
      replaced: targetExists,
      files: manifest.totals.files,
      bytes: manifest.totals.bytes,
      tables: manifest.tables.length,
      rows: manifest.totals.rows,
      durationMs,
      phases: { ...measured, otherMs },
      warnings,
    };
  } finally {
    await admin.end().catch(() => {});
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }
}

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
    const server = await admin.query<{ v: string; n: string }>(
      `SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n`,
    );
    assertClientNotOlder('pg_restore', pgRestore, server.rows[0].v, Number(server.rows[0].n));
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

export interface Verified<T> {
  readonly manifest: Manifest;
  readonly value: T;
  /** Newer backups that failed verification and were skipped (only with `latest`). */
  readonly fallbacks: FallbackRecord[];
  /** A `FALLBACK: …` line when a fallback happened, for the result's warnings. */
  readonly warnings: string[];
}

/**
 * Runs `attempt` (check, download and verify what the restore needs) on the newest candidate
 * first. With `latest`, a backup failing verification (BackupIntegrityError) is skipped for the
 * previous one and recorded; an explicit id never falls back.
 */
export async function firstVerified<T>(
  repo: Repository,
  candidates: BackupCandidates,
  log: (message: string) => void,
  attempt: (manifest: Manifest) => Promise<T>,
): Promise<Verified<T>> {
  const fallbacks: FallbackRecord[] = [];
  const suspects: string[] = [];
  for (const id of candidates.ids) {
    try {
      const manifest = await readManifest(repo, candidates.database, id);
      if (candidates.latest && !candidates.includeSuspect && manifest.suspect) {
        suspects.push(id);
        log(
          `WARNING: skipping suspect backup ${id} (${manifest.suspect.reasons.join('; ')}); --backup latest-any would take it`,
        );
        continue;
      }
      const value = await attempt(manifest);
      const warnings = [
        ...(fallbacks.length > 0
          ? [
              `FALLBACK: newest backup ${fallbacks[0].id} failed verification (${fallbacks[0].reason}); restored ${manifest.id} instead`,
            ]
          : []),
        ...suspects.map(
          (s) => `skipped suspect backup ${s} (it shrank against the one before; --backup latest-any takes it)`,
        ),
      ];
      return { manifest, value, fallbacks, warnings };
    } catch (err) {
      if (!(err instanceof BackupIntegrityError) || !candidates.latest) throw err;
      fallbacks.push({ id, reason: err.message });
      log(`WARNING: backup ${id} failed verification: ${err.message}; falling back to the previous backup`);
    }
  }
  if (fallbacks.length === 0 && suspects.length > 0) {
    throw new DrError(
      `every backup of ${candidates.database} is suspect (${suspects.join(', ')})`,
      'check them (dr list), then name one with --backup ID or take the newest with --backup latest-any',
    );
  }
  throw new DrError(
    `no backup of ${candidates.database} passed verification (${fallbacks.length} tried)`,
    `first failure: ${fallbacks[0]?.reason ?? 'unknown'}`,
  );
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
    const { rows } = await client.query<{ n: string }>(`
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
               WHERE n.nspname = 'public' AND d.description <> 'standard public schema') AS n`);
    return Number(rows[0].n) === 0;
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
      `CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0 ENCODING '${encoding}' LC_COLLATE '${collate.replace(/'/g, "''")}' LC_CTYPE '${ctype.replace(/'/g, "''")}'`,
    );
  } catch (err) {
    // The source's locale may not exist on the target server: keep the encoding, warn about sorting.
    warnings.push(
      `locale ${collate}/${ctype} is not available on the target server (${(err as Error).message}); created the database with the server's default locale`,
    );
    await admin.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0 ENCODING '${encoding}'`);
  }
}

export async function prepareTimescale(url: string, version: string): Promise<void> {
  const client = await connect(url, 'target');
  try {
    await client.query(`CREATE EXTENSION IF NOT EXISTS timescaledb VERSION '${version.replace(/'/g, "''")}'`);
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
  try {
    await admin.query(`DROP DATABASE ${quoteIdent(replaced)} WITH (FORCE)`);
    return undefined;
  } catch (err) {
    return `the previous ${target} was renamed to ${replaced} and could not be dropped (${(err as Error).message}): DROP DATABASE ${quoteIdent(replaced)}, or the next restore on this server drops it after an hour`;
  }
}

async function applyGlobals(
  tools: PgTools,
  fetched: FetchedBackup,
  target: PgUrl,
  manifest: Manifest,
  warnings: string[],
  log: (m: string) => void,
): Promise<void> {
  if (!manifest.globals) {
    warnings.push(`backup ${manifest.id} has no globals; roles were not created`);
    return;
  }
  log('applying roles and tablespaces (globals)');
  // Without ON_ERROR_STOP: on a server that has some of the roles, "already exists" is expected.
  const result = await runTool(tools, 'psql', [
    '-X',
    '-q',
    '-v',
    'ON_ERROR_STOP=0',
    `--dbname=${withDatabase(target.url, 'postgres')}`,
    '-f',
    join(fetched.root, manifest.globals.path),
  ]);
  const errors = result.stderr.split('\n').filter((l) => /ERROR:/.test(l));
  if (result.code !== 0)
    throw new DrError(
      `applying globals failed: ${firstErrorLine(result.stderr)}`,
      'check the target server and user rights',
    );
  if (errors.length)
    warnings.push(`globals: ${errors.length} statements failed, e.g. ${errors[0].replace(/^.*ERROR:\s*/, '')}`);
}
