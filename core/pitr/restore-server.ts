/**
 * `dr pitr restore-server`: the physical restore of a whole cluster into a data directory, for a
 * replacement server. The fast full-recovery path when WAL archiving is on: files are copied
 * back as they are (no dump, no index builds), then the server replays WAL when it starts.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { DrError } from '../errors.ts';
import { checkStanza, parsePitrRepo } from './config.ts';
import { backupForTarget, latestBackup, parseAt, pgbackrest, pgbackrestError, type PgbackrestContext, recoveryTargetTime, s3CredentialEnv, runningAsRoot, SERVER_USER, serverBinariesFor, stanzaInfo } from './pgbackrest.ts';
import { privateDir } from './recovery.ts';

export interface RestoreServerOptions {
  readonly repo: string;
  readonly stanza: string;
  /** The new server's data directory. */
  readonly pgPath: string;
  /** Recover to this time (ISO 8601 with a zone) and promote. Exclusive with `latest`. */
  readonly at?: string;
  /** Recover to the end of the archived WAL and promote. */
  readonly latest?: boolean;
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
  /** The recovery target, or null for the end of the archive. */
  readonly at: string | null;
  readonly pgVersion: string;
  readonly serverBinDir: string;
  readonly durationMs: number;
  /** Commands to run next, in order. */
  readonly nextSteps: string[];
}

async function isEmptyDir(path: string): Promise<boolean | undefined> {
  try {
    if (!(await stat(path)).isDirectory()) throw new DrError(`--pg-path ${path} is not a directory`, 'give the data directory of the new server');
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
  const repo = parsePitrRepo(options.repo, '--pitr');
  if (!isAbsolute(options.pgPath)) throw new DrError(`--pg-path "${options.pgPath}" is not an absolute path`, 'e.g. --pg-path /var/lib/postgresql/15/main');
  if (options.at !== undefined && options.latest) throw new DrError('--at and --latest exclude each other', 'pass one: --at 2026-01-15T14:30:00Z or --latest');
  if (options.at === undefined && !options.latest) throw new DrError('say where recovery stops', 'pass --at 2026-01-15T14:30:00Z, or --latest for the end of the archived WAL');
  if (options.delta && options.force) throw new DrError('--delta and --force exclude each other', '--delta keeps matching files (faster), --force rewrites everything');
  const at = options.at !== undefined ? parseAt(options.at, options.now) : undefined;
  const pgPath = options.pgPath.replace(/\/+$/, '');
  const empty = await isEmptyDir(pgPath);
  if (empty === false && !options.delta && !options.force) {
    throw new DrError(`--pg-path ${pgPath} is not empty`, 'give an empty or new directory, or pass --delta (reuse matching files) or --force (overwrite); stop any server using it first');
  }
  const jobs = options.jobs ?? Math.max(1, cpus().length);

  const credentialEnv = await s3CredentialEnv(repo);
  const lockPath = await mkdtemp(join(tmpdir(), 'dr-pitr-lock-'));
  const ctx: PgbackrestContext = { repo, stanza, lockPath, credentialEnv };
  try {
    await privateDir(lockPath);
    const info = await stanzaInfo(ctx);
    const binaries = await serverBinariesFor(info.pgMajor, stanza, options.serverBinDir);
    const backup = at ? backupForTarget(info, at) : latestBackup(info);
    if (empty === undefined) await privateDir(pgPath);
    log(`restoring base backup ${backup.label} of stanza ${stanza} into ${pgPath}`);
    const args = [`--pg1-path=${pgPath}`, `--set=${backup.label}`, `--process-max=${Math.min(jobs, 16)}`];
    // --latest: pgBackRest's default type replays to the end of the archive, then promotes.
    if (at) args.push('--type=time', `--target=${recoveryTargetTime(at)}`, '--target-action=promote');
    if (options.delta) args.push('--delta');
    if (options.force) args.push('--force');
    const result = await pgbackrest(ctx, 'restore', args);
    if (result.code !== 0) {
      const message = pgbackrestError(result.stderr);
      const hint = /Permission denied/.test(message)
        ? `the ${SERVER_USER} OS user must be able to reach ${pgPath} (check the parent directories' permissions)`
        : /running/.test(message) ? `stop the server using ${pgPath} first` : 'check the repository (pgbackrest info), the directory\'s owner and free space';
      throw new DrError(`pgbackrest restore into ${pgPath} failed: ${message}`, hint);
    }
    const asUser = runningAsRoot() ? `runuser -u ${SERVER_USER} -- ` : '';
    const nextSteps = [
      ...(Object.keys(credentialEnv).length > 0
        ? [`the server's restore_command runs pgBackRest, whose key-type=auto reads only an EC2 instance role: on another host, give it keys first (PGBACKREST_REPO1_S3_KEY_TYPE=shared, PGBACKREST_REPO1_S3_KEY, PGBACKREST_REPO1_S3_KEY_SECRET in the server's environment, or in /etc/pgbackrest/pgbackrest.conf)`]
        : []),
      `${asUser}${join(binaries.binDir, 'pg_ctl')} -D ${pgPath} -l ${pgPath}/recovery.log start   # or start the replacement server's service`,
      `psql -c 'SELECT pg_is_in_recovery()'   # t while replaying WAL${at ? ` to ${at.toISOString()}` : ' to the end of the archive'}; f once promoted`,
      at
        ? 'if the archive does not reach the target, the server stops with "recovery ended before configured recovery target was reached": choose an earlier --at'
        : 'the server promotes after the last archived WAL segment',
      `once promoted it archives to stanza ${stanza} on a new timeline: make sure the old server is gone, then take a full backup (pgbackrest --stanza=${stanza} --type=full backup)`,
    ];
    log(`restored ${backup.label} into ${pgPath}; start the server to replay WAL and promote`);
    return {
      pgPath,
      stanza,
      backup: backup.label,
      at: at?.toISOString() ?? null,
      pgVersion: binaries.version,
      serverBinDir: binaries.binDir,
      durationMs: Date.now() - started,
      nextSteps,
    };
  } finally {
    await rm(lockPath, { recursive: true, force: true }).catch(() => {});
  }
}
