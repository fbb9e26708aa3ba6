/**
 * `dr restore --at T --pitr REPO --stanza S`: point-in-time recovery into a database.
 *
 * pgBackRest restores the newest base backup finished before T into a scratch data directory; a
 * temporary server on a private socket replays the archived WAL up to T, pauses there, and is
 * promoted only once dr has checked where it stopped. The database is then moved into the target
 * with the logical paths: pg_dump + the staging/swap restore of core/restore/target.ts (whole database),
 * or replaceTablesFromSource (tables, optionally a time range) in one transaction. The temporary
 * cluster is always stopped and removed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { databaseOptions, extensions, pickTimeColumn } from '../backup/catalog.ts';
import { DrError } from '../errors.ts';
import {
  assertClientNotOlder,
  connect,
  defaultUser,
  firstErrorLine,
  type PgTools,
  parsePgUrl,
  runTool,
  toolVersion,
} from '../pg/connection.ts';
import { displayName } from '../pg/ident.ts';
import { jobNextStarts } from '../pg/timescale.ts';
import { type ReplaceTable, replaceTablesFromSource, type TableName } from '../restore/replace.ts';
import type { PitrRestoreResult, ReplacedTable } from '../restore/result.ts';
import { openTarget, restoreDumpIntoTarget } from '../restore/target.ts';
import { readArchive } from './archive.ts';
import { checkStanza, parsePitrRepo, type S3Settings } from './config.ts';
import {
  type PgbackrestContext,
  pgbackrest,
  pgbackrestEnv,
  pgbackrestError,
  s3CredentialEnv,
  serverBinariesFor,
  stanzaInfoFrom,
} from './pgbackrest.ts';
import { describeTarget, parseTarget, parseTimeline, planRecovery, restoreArgs, targetValue } from './plan.ts';
import { privateDir, TemporaryServer } from './recovery.ts';

export interface PitrRestoreOptions {
  /** pgBackRest repository: s3://bucket/path or file:///dir. */
  readonly repo: string;
  readonly stanza: string;
  /** ISO 8601 time with a zone (to the microsecond). Exactly one of at / latest / lsn / xid / restorePoint. */
  readonly at?: string;
  /** The end of the archived WAL (after a continuity check). */
  readonly latest?: boolean;
  readonly lsn?: string;
  readonly xid?: string;
  readonly restorePoint?: string;
  /** current | latest | N (recovery_target_timeline). @default - the only timeline the target is on */
  readonly timeline?: string;
  /** Recover up to a gap in the archive (--latest, --xid, --restore-point), losing the WAL after it. */
  readonly acceptGap?: boolean;
  /** S3-compatible endpoint, CA file and TLS verification for an s3:// repository. */
  readonly s3?: S3Settings;
  /** The database to take from the recovered cluster. */
  readonly database: string;
  /** Target database URL. */
  readonly target: string;
  /** Only these tables, as typed (`candles`, `public.candles`, `"Reporting"."Daily Summary"`); @default - the whole database */
  readonly tables?: readonly string[];
  /** With `tables`: only rows with since <= time column < until. */
  readonly range?: { readonly since: string; readonly until: string };
  /** The range's column; @default - the table's timestamp column (time, ts, created_at…) */
  readonly timeColumn?: string;
  /** Replace a non-empty target (whole database). @default false */
  readonly overwrite?: boolean;
  readonly noOwner?: boolean;
  /** @default - the CPU count */
  readonly jobs?: number;
  /** Client tools (pg_dump, pg_restore). */
  readonly tools?: PgTools;
  /** PostgreSQL server binaries of the stanza's major version. @default - /usr/lib/postgresql/<major>/bin */
  readonly serverBinDir?: string;
  /** Where the scratch cluster and dump go (needs the cluster's size twice). @default - OS temp dir */
  readonly workDir?: string;
  readonly now?: Date;
  readonly log?: (message: string) => void;
}

export async function runPitrRestore(options: PitrRestoreOptions): Promise<PitrRestoreResult> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  // Bad input first: nothing is read or touched before these pass.
  const stanza = checkStanza(options.stanza);
  const repo = parsePitrRepo(options.repo, '--pitr', options.s3);
  const recoveryTarget = parseTarget({
    at: options.at,
    latest: options.latest,
    lsn: options.lsn,
    xid: options.xid,
    restorePoint: options.restorePoint,
    now: options.now,
  });
  const timelineChoice = parseTimeline(options.timeline);
  if (
    options.acceptGap &&
    recoveryTarget.kind !== 'latest' &&
    recoveryTarget.kind !== 'xid' &&
    recoveryTarget.kind !== 'name'
  ) {
    throw new DrError(
      '--accept-gap applies to --latest, --xid and --restore-point',
      'a time or LSN target after a gap cannot be reached: choose an earlier one (dr pitr check shows the window)',
      2,
    );
  }
  const at = describeTarget(recoveryTarget);
  const atDate = recoveryTarget.kind === 'time' ? recoveryTarget.at.date : undefined;
  const target = parsePgUrl(options.target, '--target');
  const jobs = options.jobs ?? Math.max(1, cpus().length);
  const tools = options.tools ?? {};
  if (options.range && !options.tables?.length)
    throw new DrError('--since/--until need --tables', 'name the tables whose rows to restore, e.g. --tables candles');
  const warnings: string[] = [];

  const credentialEnv = await s3CredentialEnv(repo);
  const workRoot = await mkdtemp(join(options.workDir ?? tmpdir(), 'dr-pitr-'));
  const ctx: PgbackrestContext = { repo, stanza, lockPath: join(workRoot, 'lock'), credentialEnv };
  let server: TemporaryServer | undefined;
  let opened: Awaited<ReturnType<typeof openTarget>> | undefined;
  try {
    await privateDir(workRoot);
    await privateDir(ctx.lockPath);
    const state = await readArchive(ctx);
    const info = stanzaInfoFrom(state.info);
    const binaries = await serverBinariesFor(info.pgMajor, stanza, options.serverBinDir);
    // Continuity before anything is restored: a gap on the path refuses the recovery.
    const plan = planRecovery(state, stanza, recoveryTarget, timelineChoice, options.acceptGap === true);
    const backup = plan.backup;
    for (const w of plan.warnings) {
      log(`WARNING: ${w}`);
      warnings.push(w);
    }

    // The target is checked before the long part (a refusal after the restore would waste it).
    if (!options.tables) opened = await openTarget(target, { overwrite: options.overwrite, tools });
    else await (await connect(target.url, 'target')).end();

    const dataDir = join(workRoot, 'data');
    await privateDir(dataDir);
    log(
      `restoring base backup ${backup.label} of stanza ${stanza} (PostgreSQL ${binaries.version}) for recovery to ${at} on timeline ${plan.timeline}`,
    );
    const physicalStarted = Date.now();
    const restored = await pgbackrest(ctx, 'restore', [
      ...restoreArgs(plan, ctx, dataDir, 'pause'),
      `--process-max=${Math.min(jobs, 16)}`,
    ]);
    if (restored.code !== 0)
      throw new DrError(
        `pgbackrest restore of ${backup.label} failed: ${pgbackrestError(restored.stderr)}`,
        'check the repository (pgbackrest info) and free space in --work-dir',
      );
    const physicalMs = Date.now() - physicalStarted;

    const recoveryStarted = Date.now();
    // restore_command runs pgBackRest inside the temporary server: same options and credentials.
    server = new TemporaryServer({
      dataDir,
      runDir: join(workRoot, 'run'),
      binaries,
      env: pgbackrestEnv(ctx),
      log,
      target: recoveryTarget,
      archiveMax: info.archiveMax,
      lastSegment: plan.lastSegment,
      timeline: plan.timeline,
    });
    await privateDir(join(workRoot, 'run'));
    await server.start();
    const superuser = await findSuperuser(server, [target.display.split('@')[0]!]);
    const stop = await server.recoverTo(superuser);
    const recoveryMs = Date.now() - recoveryStarted;
    const sourceUrl = server.url(options.database, superuser);
    await assertDatabaseExists(server, superuser, options.database, at);

    const transferStarted = Date.now();
    let replaced = false;
    let tables: ReplacedTable[] | undefined;
    if (opened) {
      const dumpDir = join(workRoot, 'dump');
      const dump = await dumpDatabase(sourceUrl, dumpDir, jobs, tools, log);
      await restoreDumpIntoTarget(
        opened,
        {
          dumpDir,
          id: (atDate ?? new Date()).toISOString().replace(/\D/g, '').slice(0, 14),
          databaseOptions: dump.databaseOptions,
          timescaleVersion: dump.timescaleVersion,
          timescaleJobs: { recorded: dump.timescaleJobs },
        },
        { noOwner: options.noOwner, jobs, tools, log, warnings },
      );
      replaced = opened.exists;
    } else {
      const planned = await resolveTables(
        sourceUrl,
        options.tables!,
        at,
        options.range !== undefined,
        options.timeColumn,
      );
      const result = await replaceTablesFromSource({
        sourceUrl,
        targetUrl: target.url,
        tables: planned,
        range: options.range,
        noOwner: options.noOwner,
        origin: `point-in-time recovery of ${options.database} at ${at} (stanza ${stanza})`,
        tools,
        log,
      });
      tables = result.tables;
      warnings.push(...result.warnings);
    }
    const transferMs = Date.now() - transferStarted;
    log(`restored ${options.database} as of ${at} into ${target.display}`);
    return {
      mode: opened ? 'full' : 'tables',
      at,
      recovery: { kind: recoveryTarget.kind, value: targetValue(recoveryTarget) },
      timeline: stop.timeline,
      stopRecord: stop.stopRecord,
      stanza,
      backup: backup.label,
      database: options.database,
      target: target.display,
      lastCommit: stop.lastCommit ?? null,
      stoppedBefore: stop.stoppedBefore ?? null,
      replaced,
      tables,
      durationMs: Date.now() - started,
      phases: { physicalMs, recoveryMs, transferMs },
      warnings,
    };
  } finally {
    await server?.stop();
    await opened?.admin.end().catch(() => {});
    await rm(workRoot, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * A superuser of the recovered cluster to connect as (trust over the private socket): its
 * bootstrap user is usually `postgres`, else often the user of the target URL or the OS user.
 */
async function findSuperuser(server: TemporaryServer, extra: string[]): Promise<string> {
  const candidates = [...new Set(['postgres', ...extra, process.env.PGUSER ?? '', defaultUser()].filter(Boolean))];
  for (const user of candidates) {
    try {
      const client = await connect(server.url('template1', user), 'temporary');
      try {
        const { rows } = await client.query<{ s: boolean }>(
          'SELECT rolsuper AS s FROM pg_roles WHERE rolname = current_user',
        );
        if (rows[0]?.s) return user;
      } finally {
        await client.end();
      }
    } catch {
      // not a role of that cluster
    }
  }
  // Recovery may have failed right after the server opened for connections.
  if (!(await server.isRunning())) return server.failFromLog('recovery failed');
  throw new DrError(
    `none of the roles ${candidates.join(', ')} is a superuser of the recovered cluster`,
    "set PGUSER to the source cluster's superuser",
  );
}

async function assertDatabaseExists(
  server: TemporaryServer,
  superuser: string,
  database: string,
  at: string,
): Promise<void> {
  const client = await connect(server.url('template1', superuser), 'temporary');
  try {
    const { rows } = await client.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1',
    );
    if (!rows.some((r) => r.datname === database)) {
      throw new DrError(
        `database ${database} did not exist at ${at}; the recovered cluster has ${rows.map((r) => r.datname).join(', ')}`,
        'choose one with --database',
      );
    }
  } finally {
    await client.end();
  }
}

/** pg_dump -Fd -j of the recovered database, plus what creating the target needs. */
async function dumpDatabase(url: string, dumpDir: string, jobs: number, tools: PgTools, log: (m: string) => void) {
  const client = await connect(url, 'temporary');
  let options: Awaited<ReturnType<typeof databaseOptions>>;
  let timescaleVersion: string | undefined;
  let timescaleJobs: Map<number, string | null> = new Map();
  try {
    const { rows } = await client.query<{ v: string; n: string }>(
      `SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n`,
    );
    assertClientNotOlder('pg_dump', await toolVersion(tools, 'pg_dump'), rows[0]!.v, Number(rows[0]!.n));
    options = await databaseOptions(client);
    timescaleVersion = (await extensions(client)).find((e) => e.name === 'timescaledb')?.version;
    // As at the recovery target: each policy is next due when it was then (the dump has no job statistics).
    timescaleJobs = await jobNextStarts(client);
  } finally {
    await client.end();
  }
  log(`dumping the recovered database with pg_dump -j ${jobs}`);
  // Level 1: the dump is read once, locally, right away; CPU matters more than size.
  const result = await runTool(tools, 'pg_dump', [
    '-Fd',
    `--jobs=${jobs}`,
    '--compress=1',
    '--no-sync',
    `--file=${dumpDir}`,
    `--dbname=${url}`,
  ]);
  if (result.code !== 0)
    throw new DrError(
      `pg_dump of the recovered database failed: ${firstErrorLine(result.stderr)}`,
      'see the message; the target was not changed',
    );
  return { databaseOptions: options, timescaleVersion, timescaleJobs };
}

/**
 * The named tables (as typed: `candles`, `public.candles`, `"Reporting"."Daily Summary"`), looked up in
 * the recovered database as SQL reads the names; with a range, each with its time column.
 */
async function resolveTables(
  sourceUrl: string,
  inputs: readonly string[],
  at: string,
  range: boolean,
  timeColumn?: string,
): Promise<ReplaceTable[]> {
  const client = await connect(sourceUrl, 'temporary');
  try {
    const resolved: ReplaceTable[] = [];
    for (const input of inputs) {
      let rows: { oid: number; schema: string; name: string }[];
      try {
        ({ rows } = await client.query<{ oid: number; schema: string; name: string }>(
          `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p')`,
          [input],
        ));
      } catch {
        throw new DrError(
          `--tables: "${input}" is not a table name`,
          'use name, schema.name or "Quoted Schema"."Quoted Name"',
        );
      }
      if (rows.length === 0)
        throw new DrError(
          `table ${input} did not exist in the recovered database at ${at}`,
          'check --tables (name or schema.name) and --database',
        );
      const table: TableName = { schema: rows[0]!.schema, name: rows[0]!.name };
      if (!range) {
        resolved.push(table);
        continue;
      }
      const columns = await client.query<{ name: string; type: string }>(
        `SELECT attname AS name, format_type(atttypid, NULL) AS type FROM pg_attribute
          WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped
            AND atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) ORDER BY attnum`,
        [rows[0]!.oid],
      );
      const column = timeColumn ?? pickTimeColumn(columns.rows);
      if (!column || !columns.rows.some((c) => c.name === column)) {
        throw new DrError(
          `table ${displayName(table)} has no timestamp column ${timeColumn ? `"${timeColumn}"` : 'for --since/--until'}`,
          `its timestamp columns: ${columns.rows.map((c) => c.name).join(', ') || 'none'}; pass --time-column, or restore whole tables (no --since/--until)`,
        );
      }
      resolved.push({ ...table, timeColumn: column });
    }
    return resolved;
  } finally {
    await client.end();
  }
}
