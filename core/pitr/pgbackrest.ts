/**
 * Running pgBackRest and the PostgreSQL server binaries for a restore: as the `postgres` OS user
 * when dr runs as root (PostgreSQL refuses root, and the files must belong to the server's user),
 * with the repository given on the command line so no pgbackrest.conf is needed on the restore host.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DrError } from '../errors.ts';
import { resolveAwsCredentials } from '../repository/s3.ts';
import { trackChild } from '../signals.ts';
import { readTime, TIME_PROBLEM_TEXT } from '../time.ts';
import { type PitrRepo, repoOptions } from './config.ts';

/** The OS user the server runs as when dr is root. */
export const SERVER_USER = 'postgres';

export function runningAsRoot(): boolean {
  return process.getuid?.() === 0;
}

export interface ProcResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `file args` (as SERVER_USER when root) with `env` added to the environment. The variables
 * go in the environment, never on a command line: runuser stays the parent for the whole run and
 * its arguments are readable by every local user (ps), and `env` carries S3 keys. runuser without
 * --login keeps the environment; `env(1)` looks `file` up on PATH (exit 127 when missing).
 * Never throws on a non-zero exit.
 */
export function runAsServerUser(file: string, args: string[], env: Record<string, string> = {}): Promise<ProcResult> {
  const [cmd, argv] = runningAsRoot()
    ? ['runuser', ['-u', SERVER_USER, '--', 'env', file, ...args]]
    : ['env', [file, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    // Stopped on Ctrl-C / SIGTERM like the client tools (core/signals.ts).
    trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = stderr.length < 1_000_000 ? stderr + d : stderr;
    });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

/**
 * S3 credentials for pgBackRest as PGBACKREST_* variables (never on a command line). pgBackRest's
 * `auto` key type reads only the EC2 instance role; for keys in the environment, a profile, web
 * identity or an ECS/Fargate task role, dr resolves them with the AWS SDK's default chain.
 * Temporary credentials are fixed at start: a restore must finish before they expire (≥ 1 h).
 */
export async function s3CredentialEnv(repo: PitrRepo): Promise<Record<string, string>> {
  if (repo.type !== 's3') return {};
  const e = process.env;
  const elsewhere =
    e.AWS_ACCESS_KEY_ID ||
    e.AWS_PROFILE ||
    e.AWS_WEB_IDENTITY_TOKEN_FILE ||
    e.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI ||
    e.AWS_CONTAINER_CREDENTIALS_FULL_URI;
  if (!elsewhere) return {};
  const credentials = await resolveAwsCredentials();
  const env: Record<string, string> = {
    PGBACKREST_REPO1_S3_KEY_TYPE: 'shared',
    PGBACKREST_REPO1_S3_KEY: credentials.accessKeyId,
    PGBACKREST_REPO1_S3_KEY_SECRET: credentials.secretAccessKey,
  };
  if (credentials.sessionToken) env.PGBACKREST_REPO1_S3_TOKEN = credentials.sessionToken;
  return env;
}

/** The repository as pgBackRest command-line options (they also end up in restore_command). */
export function repoArgs(repo: PitrRepo, credentialEnv: Record<string, string>): string[] {
  const options = repoOptions(repo);
  // Shared keys come from the environment; key-type=auto on the command line would override them.
  if (Object.keys(credentialEnv).length > 0) delete options['repo1-s3-key-type'];
  return Object.entries(options).map(([k, v]) => `--${k}=${v}`);
}

export interface PgbackrestContext {
  readonly repo: PitrRepo;
  readonly stanza: string;
  /** Directory for pgBackRest's lock files (it must be writable by the server user). */
  readonly lockPath: string;
  /** From s3CredentialEnv(repo). */
  readonly credentialEnv: Record<string, string>;
}

/** Environment for pgBackRest, also inherited by the restore_command of a temporary server. */
export function pgbackrestEnv(ctx: PgbackrestContext): Record<string, string> {
  return {
    ...ctx.credentialEnv,
    PGBACKREST_LOCK_PATH: ctx.lockPath,
    // Logs go to stderr, which dr reads; no log files under /var/log on the restore host.
    PGBACKREST_LOG_LEVEL_FILE: 'off',
    PGBACKREST_LOG_LEVEL_CONSOLE: 'off',
    PGBACKREST_LOG_LEVEL_STDERR: 'warn',
  };
}

/** Commands that only read metadata: a short I/O timeout, so an unreachable store fails in seconds, not minutes. */
const QUICK_COMMANDS = new Set(['info', 'repo-ls', 'repo-get']);
export const QUICK_IO_TIMEOUT_SECONDS = 5;

export async function pgbackrest(
  ctx: PgbackrestContext,
  command: string,
  args: string[] = [],
  positional: string[] = [],
): Promise<ProcResult> {
  const quick = QUICK_COMMANDS.has(command) ? [`--io-timeout=${QUICK_IO_TIMEOUT_SECONDS}`] : [];
  const result = await runAsServerUser(
    'pgbackrest',
    [...repoArgs(ctx.repo, ctx.credentialEnv), `--stanza=${ctx.stanza}`, ...quick, ...args, command, ...positional],
    pgbackrestEnv(ctx),
  ).catch((err: NodeJS.ErrnoException) => {
    throw new DrError(`cannot run pgbackrest: ${err.message}`, 'install pgBackRest (apt-get install pgbackrest)');
  });
  if (result.code === 127) {
    throw new DrError(
      'pgbackrest is not installed on this host',
      'install pgBackRest (apt-get install pgbackrest), the same version line as the database host',
    );
  }
  return result;
}

/**
 * pgBackRest's message without its `ERROR: [055]:` prefix, on one line: the first ERROR (or WARN)
 * line with its indented continuation lines (where pgBackRest puts the cause), hints left out.
 */
export function pgbackrestError(stderr: string): string {
  const lines = stderr.split('\n');
  const at = lines.findIndex((l) => /ERROR:/.test(l));
  const first = at !== -1 ? at : lines.findIndex((l) => /WARN:/.test(l));
  if (first === -1) return stderr.trim().split('\n')[0] || 'no output';
  const parts = [lines[first]!.trim().replace(/^.*?(ERROR|WARN):\s*(\[\d+\]:\s*)?/, '')];
  for (const line of lines.slice(first + 1)) {
    if (!/^\s+\S/.test(line) || /^\s*HINT:/.test(line)) break;
    parts.push(line.trim());
  }
  const text = parts.join(' ');
  return text.length > 600 ? `${text.slice(0, 600)}…` : text;
}

// ---------------------------------------------------------------------------------------------
// Stanza information

export interface BackupInfo {
  readonly label: string;
  readonly type: 'full' | 'diff' | 'incr';
  /** When the backup started and stopped (pgBackRest records whole seconds). */
  readonly start: Date;
  readonly stop: Date;
  readonly pgVersion: string;
}

export interface StanzaInfo {
  readonly stanza: string;
  /** The PostgreSQL major version of the stanza's current database, e.g. 15. */
  readonly pgMajor: number;
  /** Oldest first. */
  readonly backups: BackupInfo[];
  /** Newest WAL segment in the archive of the current database, if any. */
  readonly archiveMax?: string;
}

export interface InfoJson {
  name: string;
  status: { code: number; message: string };
  repo?: { key: number; status: { code: number; message: string } }[];
  db: { id: number; version: string }[];
  backup: {
    label: string;
    type: 'full' | 'diff' | 'incr';
    timestamp: { start: number; stop: number };
    archive: { start: string | null; stop: string | null };
    lsn?: { start: string; stop: string };
    database: { id: number };
  }[];
  archive: { id: string; database: { id: number }; max: string | null; min: string | null }[];
}

/** A repository dr cannot read: pgBackRest's own status, one line, with the fix. */
export class RepositoryUnreachable extends DrError {}

/** `pgbackrest info --output=json` of the stanza; an unreachable repository and a missing stanza are errors. */
export async function readInfo(ctx: PgbackrestContext): Promise<InfoJson> {
  const result = await pgbackrest(ctx, 'info', ['--output=json']);
  if (result.code !== 0) {
    throw new RepositoryUnreachable(
      `cannot read stanza ${ctx.stanza} in ${ctx.repo.url}: ${pgbackrestError(result.stderr)}`,
      'check --pitr, --stanza, the endpoint and access to the repository',
    );
  }
  let parsed: InfoJson[];
  try {
    parsed = JSON.parse(result.stdout) as InfoJson[];
  } catch {
    throw new DrError(
      `pgbackrest info printed no JSON for stanza ${ctx.stanza}`,
      'check the pgBackRest installation (pgbackrest info)',
    );
  }
  const info = parsed.find((s) => s.name === ctx.stanza);
  // Status 99 ("other") carries the repository's own error, e.g. [HostConnectError]: not a missing stanza.
  const repoError = info?.repo?.find((r) => r.status.code !== 0 && r.status.code !== 1);
  if (info && repoError) {
    throw new RepositoryUnreachable(
      `the pgBackRest repository ${ctx.repo.url} is not reachable: ${repoError.status.message}`,
      'check the endpoint (--endpoint, AWS_ENDPOINT_URL_S3), TLS (--ca-file), credentials and network access to the repository',
    );
  }
  if (!info || info.status.code === 1 || info.db.length === 0) {
    throw new DrError(
      `stanza ${ctx.stanza} does not exist in ${ctx.repo.url}`,
      'check --stanza and --pitr (pgbackrest info lists the stanzas), or run stanza-create on the database host',
    );
  }
  return info;
}

export function stanzaInfoFrom(info: InfoJson): StanzaInfo {
  const current = info.db.reduce((a, b) => (b.id > a.id ? b : a));
  const versionOf = (id: number) => info.db.find((d) => d.id === id)?.version ?? current.version;
  const backups = info.backup
    .map((b) => ({
      label: b.label,
      type: b.type,
      start: new Date(b.timestamp.start * 1000),
      stop: new Date(b.timestamp.stop * 1000),
      pgVersion: versionOf(b.database.id),
    }))
    .sort((a, b) => a.stop.getTime() - b.stop.getTime());
  const archiveMax = info.archive.find((a) => a.database.id === current.id)?.max ?? undefined;
  return { stanza: info.name, pgMajor: Number.parseInt(current.version, 10), backups, archiveMax };
}

// ---------------------------------------------------------------------------------------------
// Server binaries

export interface ServerBinaries {
  readonly binDir: string;
  readonly version: string;
  readonly major: number;
}

async function serverVersion(binDir: string): Promise<ServerBinaries | undefined> {
  const postgres = join(binDir, 'postgres');
  if (!existsSync(postgres)) return undefined;
  const result = await runAsServerUser(postgres, ['--version']).catch(() => undefined);
  const m = result && /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(result.stdout);
  if (!m) return undefined;
  const [, major = '', minor] = m;
  return { binDir, version: minor ? `${major}.${minor}` : major, major: Number(major) };
}

/** Debian/Ubuntu keep each major's server binaries in /usr/lib/postgresql/<major>/bin. */
const DEBIAN_ROOT = '/usr/lib/postgresql';

/**
 * The local server binaries for a stanza of PostgreSQL `major`: `binDir` when given, else the
 * Debian directory of that major. A physical restore only starts with the same major version.
 */
export async function serverBinariesFor(major: number, stanza: string, binDir?: string): Promise<ServerBinaries> {
  const dirs = binDir
    ? [binDir]
    : existsSync(DEBIAN_ROOT)
      ? readdirSync(DEBIAN_ROOT)
          .filter((d) => /^\d+$/.test(d))
          .sort((a, b) => Number(b) - Number(a))
          .map((d) => join(DEBIAN_ROOT, d, 'bin'))
      : [];
  const found = (await Promise.all(dirs.map(serverVersion))).filter((b): b is ServerBinaries => b !== undefined);
  const match = found.find((b) => b.major === major);
  if (match) return match;
  const local = found.length
    ? found.map((b) => `PostgreSQL ${b.version} (${b.binDir})`).join(', ')
    : `none${binDir ? ` in ${binDir}` : ` in ${DEBIAN_ROOT}`}`;
  throw new DrError(
    `stanza ${stanza} holds PostgreSQL ${major} backups, but the local server binaries are ${local}`,
    `install the PostgreSQL ${major} server (apt-get install postgresql-${major}) or point --pg-server-bin at its bin directory`,
  );
}

// ---------------------------------------------------------------------------------------------
// Time targets

/** A recovery target time at PostgreSQL's precision (microseconds). */
export interface TimeTarget {
  /** Cut to milliseconds, for comparisons with backup times. */
  readonly date: Date;
  /** Microseconds since the epoch, exact. */
  readonly micros: bigint;
  /** UTC, six fractional digits: 2026-01-15T14:30:00.123456Z */
  readonly iso: string;
}

export function timeTargetFromMicros(micros: bigint): TimeTarget {
  const ms = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
  const date = new Date(Number(ms));
  const sub = ((micros % 1000n) + 1000n) % 1000n;
  return {
    date,
    micros,
    iso: date.toISOString().replace(/\.(\d{3})Z$/, (_, m: string) => `.${m}${sub.toString().padStart(3, '0')}Z`),
  };
}

/** A server-printed time (`2026-01-15 14:30:00.123456+00`, `…+03`, `…-05:30`) as microseconds. */
export function parseServerTime(text: string): bigint | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?\s*(Z|[+-]\d{2}(?::?\d{2})?)$/i.exec(
    text.trim(),
  );
  if (!m) return undefined;
  const [, date, hms, frac = '', zone = ''] = m;
  const zoneText =
    zone.toUpperCase() === 'Z'
      ? 'Z'
      : zone.length === 3
        ? `${zone}:00`
        : zone.replace(/^([+-]\d{2}):?(\d{2})$/, '$1:$2');
  const seconds = Date.parse(`${date}T${hms}${zoneText}`);
  if (Number.isNaN(seconds)) return undefined;
  return BigInt(seconds) * 1000n + BigInt(frac.padEnd(6, '0'));
}

/**
 * `--at`: a time of the grammar in core/time.ts, with a zone (`2026-01-15T14:30:00Z`,
 * `2026-01-15 14:30:00.123456+01:00`), kept to the microsecond (PostgreSQL's precision). A time
 * without a zone, or a bare date, is refused: the server would read it in its own zone.
 */
export function parseAt(value: string, now = new Date()): TimeTarget {
  const time = readTime(value, { dateOnly: false });
  if (typeof time === 'string') {
    throw new DrError(
      `--at "${value}" ${time === 'format' ? 'is not a time with a zone' : TIME_PROBLEM_TEXT[time]}`,
      'use ISO 8601 with a zone, e.g. --at 2026-01-15T14:30:00Z',
      2,
    );
  }
  const micros = time.micros;
  const at = timeTargetFromMicros(micros);
  if (at.date.getTime() > now.getTime()) {
    throw new DrError(
      `--at ${at.date.toISOString()} is in the future (now ${now.toISOString()})`,
      'choose a past time; to restore everything archived, use --latest',
    );
  }
  return at;
}

/** The target as PostgreSQL's recovery_target_time reads it, in UTC with microseconds. */
export function recoveryTargetTime(at: TimeTarget): string {
  return at.iso.replace('T', ' ').replace('Z', '+00');
}

// ---------------------------------------------------------------------------------------------
// restore_command

/** Attempts of one archive-get before recovery is aborted. */
export const ARCHIVE_GET_ATTEMPTS = 3;
/** The exit status that makes PostgreSQL abort recovery (anything above 125) instead of promoting. */
export const ABORT_RECOVERY_STATUS = 199;

function shellWord(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  if (/['"\\$`!]/.test(word))
    throw new DrError(
      `the pgBackRest option ${word} cannot go into restore_command`,
      'use paths and names without quotes, $, ` or backslashes',
    );
  return `"${word}"`;
}

/**
 * The restore_command dr writes: pgBackRest archive-get, telling "the segment does not exist"
 * (status 1: PostgreSQL takes it as the end of the archive) from "it could not be read" (any other
 * status: retried, then status ABORT_RECOVERY_STATUS, which makes PostgreSQL stop with FATAL
 * instead of promoting at a point short of the archive). pgBackRest's own error goes to the
 * server log (stderr), with a dr line naming the segment.
 */
export function restoreCommand(
  ctx: Pick<PgbackrestContext, 'repo' | 'stanza' | 'credentialEnv'>,
  pgPath: string,
  retryDelaySeconds = 3,
): string {
  const pgbackrestCall = [
    'pgbackrest',
    ...repoArgs(ctx.repo, ctx.credentialEnv),
    `--stanza=${ctx.stanza}`,
    `--pg1-path=${pgPath}`,
  ]
    .map(shellWord)
    .join(' ');
  return [
    // p: the server process that runs this; once it is gone (stopped, aborted), stop retrying.
    'n=0; p=$PPID; while :; do',
    `${pgbackrestCall} archive-get %f "%p"; r=$?;`,
    '[ $r -eq 0 ] && exit 0; [ $r -eq 1 ] && exit 1; n=$((n+1));',
    `if [ $n -ge ${ARCHIVE_GET_ATTEMPTS} ]; then echo "dr-restore-command: pgbackrest archive-get %f failed with status $r ${ARCHIVE_GET_ATTEMPTS} times: recovery aborted, not promoted" >&2; exit ${ABORT_RECOVERY_STATUS}; fi;`,
    `sleep ${retryDelaySeconds}; kill -0 $p 2>/dev/null || exit 1; done`,
  ].join(' ');
}
