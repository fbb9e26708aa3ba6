/** `dr pitr config`, `check`, `restore-server` and `mark`: point-in-time recovery with pgBackRest. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkArchive, renderArchiveReport } from '../../core/pitr/archive.ts';
import {
  buildPitrConfig,
  checkStanza,
  type PitrConfig,
  parsePitrRepo,
  renderPitrConfig,
  type S3KeyType,
  type S3Settings,
} from '../../core/pitr/config.ts';
import { createRestorePoint } from '../../core/pitr/mark.ts';
import { s3CredentialEnv } from '../../core/pitr/pgbackrest.ts';
import { privateDir } from '../../core/pitr/recovery.ts';
import { runPitrRestore } from '../../core/pitr/restore.ts';
import { runRestoreServer } from '../../core/pitr/restore-server.ts';
import type { PitrRestoreResult } from '../../core/restore/result.ts';
import { splitTableList } from '../../core/restore/tables.ts';
import { COMMON, type Io, optionalString, PG, positiveInt, required, usage, type Values } from './args.ts';
import { defineCommand, type Flag, type Flags } from './command.ts';

/** Flags that say where recovery stops (dr restore --pitr, restore-server). */
export const PITR_TARGET_OPTIONS = {
  at: {
    type: 'string',
    arg: 'TIME',
    help: 'recover to this time (ISO 8601 with a zone, to the microsecond: 2026-01-15T14:30:00.123456Z)',
  },
  latest: {
    type: 'boolean',
    default: false,
    help: 'recover to the end of the archived WAL (after a continuity check)',
  },
  lsn: { type: 'string', arg: 'LSN', help: 'recover to this WAL position' },
  xid: { type: 'string', arg: 'ID', help: 'recover to this transaction id' },
  'restore-point': {
    type: 'string',
    arg: 'NAME',
    help: 'recover to this named restore point (dr pitr mark NAME creates them)',
  },
  timeline: {
    type: 'string',
    arg: 'T',
    help: "current (the base backup's), latest, or a number; needed when the target is on two timelines",
  },
  'accept-gap': {
    type: 'boolean',
    default: false,
    help: 'with --latest/--xid/--restore-point: recover up to a gap in the archive, losing the WAL after it',
  },
} as const satisfies Flags;

/** How the pgBackRest repository is reached when it is in S3. */
export const PITR_S3_OPTIONS = {
  endpoint: {
    type: 'string',
    arg: 'URL',
    help: 'S3-compatible endpoint, https://host:port (default AWS_ENDPOINT_URL_S3)',
  },
  region: { type: 'string', arg: 'REGION', help: 'S3 region (default: AWS_REGION)' },
  'ca-file': { type: 'string', arg: 'FILE', help: 'CA bundle for the endpoint (default AWS_CA_BUNDLE)' },
  'no-verify-tls': { type: 'boolean', default: false, help: 'do not verify TLS, for a self-signed test store' },
} as const satisfies Flags;

export const PG_SERVER_BIN = {
  type: 'string',
  arg: 'DIR',
  help: "PostgreSQL server binaries of the stanza's major (default /usr/lib/postgresql/<major>/bin)",
} as const satisfies Flag;

export function s3Settings(v: Values): S3Settings {
  return {
    endpoint: optionalString(v, 'endpoint'),
    region: optionalString(v, 'region'),
    caFile: optionalString(v, 'ca-file'),
    verifyTls: v['no-verify-tls'] === true ? false : undefined,
  };
}

function targetFlags(v: Values) {
  return {
    at: optionalString(v, 'at'),
    latest: v.latest === true,
    lsn: optionalString(v, 'lsn'),
    xid: optionalString(v, 'xid'),
    restorePoint: optionalString(v, 'restore-point'),
    timeline: optionalString(v, 'timeline'),
    acceptGap: v['accept-gap'] === true,
    s3: s3Settings(v),
  };
}

export const pitrConfigCommand = defineCommand({
  summary: 'Print the pgBackRest, postgresql.conf and backup-schedule set-up for point-in-time recovery',
  synopsis: 'pitr config --repo URL --stanza NAME --pg-path DIR [flags]',
  description: `Prints what the database host needs for WAL archiving and base backups with pgBackRest:
pgbackrest.conf, the postgresql.conf lines, the stanza-create/check commands, a weekly full +
daily differential schedule (cron lines and a docker-compose service) and the resulting RPO.
Nothing is changed; --json gives the pieces as one object.`,
  flags: {
    ...COMMON,
    repo: {
      type: 'string',
      arg: 'URL',
      help: 's3://bucket/pitr (IAM role credentials, SSE-KMS) or file:///dir',
    },
    stanza: { type: 'string', arg: 'NAME', help: 'pgBackRest stanza, e.g. crypto_stock' },
    'pg-path': { type: 'string', arg: 'DIR', help: "the server's data directory, e.g. /var/lib/postgresql/data" },
    region: PITR_S3_OPTIONS.region,
    endpoint: { type: 'string', arg: 'HOST', help: 'endpoint of an S3-compatible store' },
    'ca-file': { ...PITR_S3_OPTIONS['ca-file'], help: 'CA bundle for an S3-compatible endpoint' },
    'no-verify-tls': PITR_S3_OPTIONS['no-verify-tls'],
    's3-key-type': {
      type: 'string',
      arg: 'TYPE',
      help: 'auto (EC2 instance role, default), web-id (EKS/IRSA) or shared (keys in the environment)',
    },
    'kms-key-id': { type: 'string', arg: 'ID', help: 'SSE-KMS key for the repository objects (s3:// only)' },
    'rpo-seconds': {
      type: 'string',
      arg: 'N',
      help: 'archive_timeout: longest wait before a WAL segment is archived (default 60)',
    },
    'retention-full': {
      type: 'string',
      arg: 'N',
      help: 'full backups kept (default 2: at least one week of recovery window)',
    },
    'process-max': { type: 'string', arg: 'N', help: 'pgBackRest parallel processes for backups (default 4)' },
    'pg-port': { type: 'string', arg: 'N', help: 'server port (default 5432)' },
    'pg-socket-path': { type: 'string', arg: 'DIR', help: "the server's socket directory" },
    'config-file': {
      type: 'string',
      arg: 'FILE',
      help: 'where pgbackrest.conf goes (default /etc/pgbackrest/pgbackrest.conf)',
    },
    'spool-path': { type: 'string', arg: 'DIR', help: "pgBackRest's spool directory" },
    'log-path': { type: 'string', arg: 'DIR', help: "pgBackRest's log directory" },
    'lock-path': { type: 'string', arg: 'DIR', help: "pgBackRest's lock directory" },
  },
  async run(v) {
    if (optionalString(v, 'repo')?.startsWith('file:')) {
      for (const flag of ['region', 'endpoint']) {
        if (optionalString(v, flag) !== undefined)
          throw usage(`--${flag} applies to s3:// repositories only; drop --${flag} for a file:// repository`);
      }
    }
    return buildPitrConfig({
      repo: required(v, 'repo'),
      stanza: required(v, 'stanza'),
      pgPath: required(v, 'pg-path'),
      pgPort: positiveInt(v, 'pg-port'),
      pgSocketPath: optionalString(v, 'pg-socket-path'),
      region: optionalString(v, 'region'),
      endpoint: optionalString(v, 'endpoint'),
      kmsKeyId: optionalString(v, 'kms-key-id'),
      caFile: optionalString(v, 'ca-file'),
      verifyTls: v['no-verify-tls'] === true ? false : undefined,
      keyType: optionalString(v, 's3-key-type') as S3KeyType | undefined,
      rpoSeconds: positiveInt(v, 'rpo-seconds'),
      retentionFull: positiveInt(v, 'retention-full'),
      processMax: positiveInt(v, 'process-max'),
      configFile: optionalString(v, 'config-file'),
      spoolPath: optionalString(v, 'spool-path'),
      logPath: optionalString(v, 'log-path'),
      lockPath: optionalString(v, 'lock-path'),
    });
  },
  human: (c: PitrConfig) => renderPitrConfig(c),
});

export const pitrRestoreServerCommand = defineCommand({
  summary: 'Physical point-in-time restore of the whole cluster into a data directory (replacement server)',
  synopsis:
    'pitr restore-server --pitr URL --stanza NAME --pg-path DIR (--at TIME | --latest | --lsn | --xid | --restore-point) [flags]',
  description: `Restores the newest pgBackRest base backup before the target into DIR and writes the recovery
settings (recovery.signal); starting the server there replays the archived WAL and promotes.
The fastest full recovery when WAL archiving is on. Run it on the replacement host, as root
(the files are given to the postgres OS user) or as postgres.`,
  flags: {
    ...COMMON,
    pitr: { type: 'string', arg: 'URL', help: 'the pgBackRest repository: s3://bucket/pitr or file:///dir' },
    stanza: { type: 'string', arg: 'NAME', help: 'pgBackRest stanza, e.g. crypto_stock' },
    'pg-path': {
      type: 'string',
      arg: 'DIR',
      help: 'the new data directory; created when missing, must be empty unless:',
    },
    delta: {
      type: 'boolean',
      default: false,
      help: 'reuse a non-empty DIR, rewriting only files that differ (server stopped)',
    },
    force: { type: 'boolean', default: false, help: 'overwrite a non-empty DIR' },
    ...PITR_TARGET_OPTIONS,
    ...PITR_S3_OPTIONS,
    'pg-server-bin': PG_SERVER_BIN,
    jobs: { ...PG.jobs, help: 'pgBackRest processes (default: CPU count)' },
  },
  async run(v, io) {
    return runRestoreServer({
      repo: required(v, 'pitr'),
      stanza: required(v, 'stanza'),
      pgPath: required(v, 'pg-path'),
      ...targetFlags(v),
      delta: v.delta === true,
      force: v.force === true,
      serverBinDir: optionalString(v, 'pg-server-bin'),
      jobs: positiveInt(v, 'jobs'),
      log: io.log,
    });
  },
  human: (r) =>
    [
      `restored base backup ${r.backup} of stanza ${r.stanza} (PostgreSQL ${r.pgVersion}) into ${r.pgPath} in ${(r.durationMs / 1000).toFixed(1)} s`,
      `recovery target: ${r.recovery.description} on timeline ${r.timeline}`,
      ...r.warnings.map((w) => `WARNING: ${w}`),
      'next steps:',
      ...r.nextSteps.map((s, i) => `  ${i + 1}. ${s}`),
    ].join('\n'),
});

/**
 * `dr restore --at T --pitr URL --stanza S …`: the point-in-time branch of the restore command,
 * its flags already checked against the mode (restoreFlagProblem).
 */
export function pitrRestoreFromFlags(v: Values, io: Io): Promise<PitrRestoreResult> {
  const tables = optionalString(v, 'tables');
  const since = optionalString(v, 'since');
  const until = optionalString(v, 'until');
  if ((since === undefined) !== (until === undefined)) throw usage('--since and --until go together');
  return runPitrRestore({
    ...targetFlags(v),
    repo: required(v, 'pitr'),
    stanza: required(v, 'stanza'),
    database: required(v, 'database'),
    target: required(v, 'target'),
    tables: tables === undefined ? undefined : splitTableList(tables),
    range: since !== undefined && until !== undefined ? { since, until } : undefined,
    timeColumn: optionalString(v, 'time-column'),
    overwrite: v.overwrite === true,
    noOwner: v['no-owner'] === true,
    jobs: positiveInt(v, 'jobs'),
    tools: { binDir: optionalString(v, 'pg-bin') },
    serverBinDir: optionalString(v, 'pg-server-bin'),
    workDir: optionalString(v, 'work-dir'),
    log: io.log,
  });
}

export function humanPitrRestore(r: PitrRestoreResult): string {
  const what = r.tables
    ? `${r.tables.length} table(s) of ${r.database}: ${r.tables.map((t) => `${t.table} (${t.rowsReplaced} rows replaced, ${t.rowsRestored} restored${t.safetyTable ? `, previous rows in ${t.safetyTable}` : ''})`).join(', ')}`
    : `${r.database}`;
  return [
    `restored ${what} as of ${r.at} into ${r.target}${r.replaced ? ' (replaced)' : ''}`,
    `  base backup ${r.backup} (stanza ${r.stanza}), timeline ${r.timeline}; last transaction kept ${r.lastCommit ?? 'none since the backup'}${r.stoppedBefore ? `, first left out ${r.stoppedBefore}` : ''}`,
    `  stopped: ${r.stopRecord}`,
    `  ${(r.durationMs / 1000).toFixed(1)} s (physical restore ${(r.phases.physicalMs / 1000).toFixed(1)} s, WAL replay ${(r.phases.recoveryMs / 1000).toFixed(1)} s, transfer ${(r.phases.transferMs / 1000).toFixed(1)} s)`,
    ...r.warnings.map((w) => `  warning: ${w}`),
  ].join('\n');
}

export const pitrCheckCommand = defineCommand({
  summary: 'Check a pgBackRest repository: recoverable window per timeline, backups, WAL gaps, reachability',
  synopsis: 'pitr check --pitr URL --stanza NAME [flags]',
  description: `Reads the stanza through pgBackRest (info, repo-ls) and reports whether the repository is
reachable (with pgBackRest's own error when not), each base backup with its WAL range, the
recoverable window of every timeline (from the oldest usable backup to the last archived
segment) and every gap in the WAL archive with the point after which recovery is impossible.
Exits 1 on a gap, an unreachable repository or a stanza without backup. dr pitr info is the same.`,
  flags: {
    ...COMMON,
    pitr: { type: 'string', arg: 'URL', help: 'the pgBackRest repository: s3://bucket/pitr or file:///dir' },
    stanza: { type: 'string', arg: 'NAME', help: 'pgBackRest stanza, e.g. crypto_stock' },
    ...PITR_S3_OPTIONS,
  },
  async run(v) {
    const repo = parsePitrRepo(required(v, 'pitr'), '--pitr', s3Settings(v));
    const stanza = checkStanza(required(v, 'stanza'));
    const credentialEnv = await s3CredentialEnv(repo);
    const lockPath = await mkdtemp(join(tmpdir(), 'dr-pitr-lock-'));
    try {
      await privateDir(lockPath);
      return await checkArchive({ repo, stanza, lockPath, credentialEnv });
    } finally {
      await rm(lockPath, { recursive: true, force: true }).catch(() => {});
    }
  },
  human: (r) => renderArchiveReport(r),
  exitCode: (r) => (r.ok ? 0 : 1),
});

export const pitrMarkCommand = defineCommand({
  summary: 'Create a named restore point (before a migration or bulk delete) and archive it',
  synopsis: 'pitr mark NAME --db URL [flags]   (NAME or --name NAME)',
  description: `Runs pg_create_restore_point(NAME) on the primary, then pg_switch_wal() so the point is archived
at once. Recover to it later with --restore-point NAME (dr restore --pitr or dr pitr restore-server).`,
  positional: 'name',
  flags: {
    ...COMMON,
    name: { type: 'string', arg: 'NAME', help: 'the restore point (or NAME as the argument)' },
    db: {
      type: 'string',
      arg: 'URL',
      help: 'the primary (a superuser or a role granted pg_create_restore_point)',
    },
    'no-switch': {
      type: 'boolean',
      default: false,
      help: 'do not switch WAL (the point is archived with the next segment)',
    },
  },
  async run(v) {
    return createRestorePoint(required(v, 'db'), required(v, 'name'), v['no-switch'] !== true);
  },
  human: (r) =>
    `restore point "${r.name}" at ${r.lsn} (${r.time}, timeline ${r.timeline})${r.walFile ? `; WAL switched, segment ${r.walFile} goes to the archive` : ''}\nrecover to it with --restore-point ${r.name}`,
});
