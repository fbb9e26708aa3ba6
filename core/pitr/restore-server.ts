/**
 * `dr pitr restore-server`: the physical restore of a whole cluster into a data directory, for a
 * replacement server. The fast full-recovery path when WAL archiving is on: files are copied
 * back as they are (no dump, no index builds), then the server replays WAL when it starts.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { DrError } from '../errors.ts';
import { readArchive } from './archive.ts';
import { checkStanza, parsePitrRepo, type S3Settings } from './config.ts';
import {
  type PgbackrestContext,
  pgbackrest,
  pgbackrestError,
  runningAsRoot,
  SERVER_USER,
  s3CredentialEnv,
  serverBinariesFor,
  stanzaInfoFrom,
} from './pgbackrest.ts';
import { describeTarget, parseTarget, parseTimeline, planRecovery, restoreArgs, targetValue } from './plan.ts';
import { privateDir } from './recovery.ts';

export interface RestoreServerOptions {
  readonly repo: string;
  readonly stanza: string;
  /** The new server's data directory. */
  readonly pgPath: string;
  /** Recover to this time (ISO 8601 with a zone, to the microsecond) and promote. One of at / latest / lsn / xid / restorePoint. */
  readonly at?: string;
  /** Recover to the end of the archived WAL (after a continuity check) and promote. */
  readonly latest?: boolean;
  readonly lsn?: string;
  readonly xid?: string;
  readonly restorePoint?: string;
  /** current | latest | N. @default - the only timeline the target is on */
  readonly timeline?: string;
  /** Recover up to a gap in the archive, losing the WAL after it. */
  readonly acceptGap?: boolean;
  readonly s3?: S3Settings;
  /** Restore into a non-empty directory, keeping files whose checksum matches (pgBackRest --delta). */
  readonly delta?: boolean;
  /** Restore into a non-empty directory, overwriting it (pgBackRest --force). */
  readonly force?: boolean;
  readonly serverBinDir?: string;
  /** pgBackRest processes. @default - the CPU count */
  readonly jobs?: number;
  readonly now?: Date;
  readonly log?: (message: string) => void;
}

export interface RestoreServerResult {
  readonly pgPath: string;
  readonly stanza: string;
  readonly backup: string;
  /** The recovery target time, or null for other targets (see recovery). */
  readonly at: string | null;
  readonly recovery: { readonly kind: string; readonly value: string | null; readonly description: string };
  /** The timeline the server follows (recovery_target_timeline). */
  readonly timeline: number;
  /** With --latest: the last segment the continuity check found, where the server promotes. */
  readonly lastSegment: string | null;
  readonly warnings: string[];
  readonly pgVersion: string;
  readonly serverBinDir: string;
  readonly durationMs: number;
  /** Commands to run next, in order. */
  readonly nextSteps: string[];
}

async function isEmptyDir(path: string): Promise<boolean | undefined> {
  try {
    if (!(await stat(path)).isDirectory())
      throw new DrError(`--pg-path ${path} is not a directory`, 'give the data directory of the new server');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return (await readdir(path)).length === 0;
}

export async function runRestoreServer(options: RestoreServerOptions): Promise<RestoreServerResult> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  const stanza = checkStanza(options.stanza);
  const repo = parsePitrRepo(options.repo, '--pitr', options.s3);
  if (!isAbsolute(options.pgPath))
    throw new DrError(
      `--pg-path "${options.pgPath}" is not an absolute path`,
      'e.g. --pg-path /var/lib/postgresql/15/main',
    );
  const target = parseTarget({
    at: options.at,
    latest: options.latest,
    lsn: options.lsn,
    xid: options.xid,
    restorePoint: options.restorePoint,
    now: options.now,
  });
  const timelineChoice = parseTimeline(options.timeline);
  if (options.acceptGap && (target.kind === 'time' || target.kind === 'lsn')) {
    throw new DrError(
      '--accept-gap applies to --latest, --xid and --restore-point',
      'a time or LSN target after a gap cannot be reached: choose an earlier one (dr pitr check shows the window)',
      2,
    );
  }
  if (options.delta && options.force)
    throw new DrError(
      '--delta and --force exclude each other',
      '--delta keeps matching files (faster), --force rewrites everything',
    );
  const pgPath = options.pgPath.replace(/\/+$/, '');
  const empty = await isEmptyDir(pgPath);
  if (empty === false && !options.delta && !options.force) {
    throw new DrError(
      `--pg-path ${pgPath} is not empty`,
      'give an empty or new directory, or pass --delta (reuse matching files) or --force (overwrite); stop any server using it first',
    );
  }
  const jobs = options.jobs ?? Math.max(1, cpus().length);

  const credentialEnv = await s3CredentialEnv(repo);
  const lockPath = await mkdtemp(join(tmpdir(), 'dr-pitr-lock-'));
  const ctx: PgbackrestContext = { repo, stanza, lockPath, credentialEnv };
  try {
    await privateDir(lockPath);
    const state = await readArchive(ctx);
    const info = stanzaInfoFrom(state.info);
    const binaries = await serverBinariesFor(info.pgMajor, stanza, options.serverBinDir);
    // Continuity first: the server would promote at the first segment pgBackRest says is missing.
    const plan = planRecovery(state, stanza, target, timelineChoice, options.acceptGap === true);
    const backup = plan.backup;
    for (const w of plan.warnings) log(`WARNING: ${w}`);
    if (empty === undefined) await privateDir(pgPath);
    log(
      `restoring base backup ${backup.label} of stanza ${stanza} into ${pgPath} for recovery to ${describeTarget(target)} on timeline ${plan.timeline}`,
    );
    // --latest: no target, the server replays to the end of the archive, then promotes. dr's
    // restore_command aborts recovery (FATAL) on a read error instead of taking it for the end.
    const args = [...restoreArgs(plan, ctx, pgPath, 'promote'), `--process-max=${Math.min(jobs, 16)}`];
    if (options.delta) args.push('--delta');
    if (options.force) args.push('--force');
    const result = await pgbackrest(ctx, 'restore', args);
    if (result.code !== 0) {
      const message = pgbackrestError(result.stderr);
      const hint = /Permission denied/.test(message)
        ? `the ${SERVER_USER} OS user must be able to reach ${pgPath} (check the parent directories' permissions)`
        : /running/.test(message)
          ? `stop the server using ${pgPath} first`
          : "check the repository (pgbackrest info), the directory's owner and free space";
      throw new DrError(`pgbackrest restore into ${pgPath} failed: ${message}`, hint);
    }
    const asUser = runningAsRoot() ? `runuser -u ${SERVER_USER} -- ` : '';
    const nextSteps = [
      ...(Object.keys(credentialEnv).length > 0
        ? [
            `the server's restore_command runs pgBackRest, whose key-type=auto reads only an EC2 instance role: on another host, give it keys first (PGBACKREST_REPO1_S3_KEY_TYPE=shared, PGBACKREST_REPO1_S3_KEY, PGBACKREST_REPO1_S3_KEY_SECRET in the server's environment, or in /etc/pgbackrest/pgbackrest.conf)`,
          ]
        : []),
      `${asUser}${join(binaries.binDir, 'pg_ctl')} -D ${pgPath} -l ${pgPath}/recovery.log start   # or start the replacement server's service`,
      `psql -c 'SELECT pg_is_in_recovery()'   # t while replaying WAL to ${describeTarget(target)} on timeline ${plan.timeline}; f once promoted`,
      target.kind === 'latest'
        ? `the archive is continuous from ${backup.label} to segment ${plan.lastSegment ?? 'none'}${plan.gap ? ' (up to the accepted gap)' : ''}: the server promotes after it; if a segment cannot be read, recovery stops with FATAL instead of promoting early (fix access, start again)`
        : 'if the archive does not reach the target, the server stops with "recovery ended before configured recovery target was reached": choose an earlier target; a segment that cannot be read stops it with FATAL (fix access, start again)',
      `once promoted it archives to stanza ${stanza} on a new timeline: make sure the old server is gone, then take a full backup (pgbackrest --stanza=${stanza} --type=full backup)`,
    ];
    log(`restored ${backup.label} into ${pgPath}; start the server to replay WAL and promote`);
    return {
      pgPath,
      stanza,
      backup: backup.label,
      at: target.kind === 'time' ? target.at.iso : null,
      recovery: { kind: target.kind, value: targetValue(target), description: describeTarget(target) },
      timeline: plan.timeline,
      lastSegment: target.kind === 'latest' ? plan.lastSegment : null,
      warnings: plan.warnings,
      pgVersion: binaries.version,
      serverBinDir: binaries.binDir,
      durationMs: Date.now() - started,
      nextSteps,
    };
  } finally {
    await rm(lockPath, { recursive: true, force: true }).catch(() => {});
  }
}
