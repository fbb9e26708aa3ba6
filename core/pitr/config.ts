/**
 * `dr pitr config`: everything a database host needs for point-in-time recovery with pgBackRest
 * (https://pgbackrest.org): pgbackrest.conf, the postgresql.conf lines, the base-backup schedule
 * and the commands that initialise the repository. Pure text generation: nothing is touched.
 */
import { isAbsolute } from 'node:path';
import { Metrics } from '../contract.ts';
import { DrError } from '../errors.ts';
import { STANZA_NAME } from '../names.ts';

/** Where a pgBackRest repository lives, parsed from the `--pitr`/`--repo` URL. */
export type PitrRepo =
  | ({ readonly type: 's3'; readonly url: string; readonly bucket: string; readonly path: string } & S3Settings)
  | { readonly type: 'posix'; readonly url: string; readonly path: string };

/** How pgBackRest reaches an S3(-compatible) repository. */
export interface S3Settings {
  /** @default - AWS_REGION / AWS_DEFAULT_REGION */
  readonly region?: string;
  /** https://host[:port] or host[:port] of an S3-compatible store. @default - AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else s3.<region>.amazonaws.com */
  readonly endpoint?: string;
  /** CA bundle for the endpoint's certificate. @default - AWS_CA_BUNDLE, else the system's */
  readonly caFile?: string;
  /** false only for a test store with a self-signed certificate. @default true */
  readonly verifyTls?: boolean;
}

/** An S3 endpoint as pgBackRest takes it: host, port, and path-style URIs for anything but AWS. */
export function parseS3Endpoint(value: string, flag = '--endpoint'): { host: string; port?: number; custom: boolean } {
  const text = value.trim();
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`);
  } catch {
    throw new DrError(
      `${flag} "${value}" is not an endpoint URL`,
      'use https://host:port, e.g. --endpoint https://minio.internal:9000',
      2,
    );
  }
  if (url.protocol !== 'https:') {
    throw new DrError(
      `${flag} "${value}" is not https: pgBackRest reaches S3 only over TLS`,
      'serve the store over HTTPS (a self-signed certificate works with --ca-file or --no-verify-tls)',
      2,
    );
  }
  if (url.pathname !== '/' && url.pathname !== '')
    throw new DrError(
      `${flag} "${value}" has a path`,
      'give only https://host[:port]; the bucket comes from the s3:// URL',
      2,
    );
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return { host, port: url.port ? Number(url.port) : undefined, custom: !/(^|\.)amazonaws\.com(\.cn)?$/.test(host) };
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** `s3://bucket/prefix` (path defaults to `/`) or `file:///absolute/dir`. */
export function parsePitrRepo(value: string, flag = '--repo', s3: S3Settings = {}): PitrRepo {
  const fix = 'use s3://bucket/pitr or file:///absolute/dir';
  if (value.startsWith('file://')) {
    const path = decodeURIComponent(value.slice('file://'.length)).replace(/\/+$/, '') || '/';
    if (!isAbsolute(path)) throw new DrError(`${flag} "${value}" is not an absolute file:// path`, fix);
    return { type: 'posix', url: value, path };
  }
  if (value.startsWith('s3://')) {
    const [bucket = '', ...rest] = value.slice('s3://'.length).split('/');
    if (!BUCKET.test(bucket)) throw new DrError(`${flag} "${value}": "${bucket}" is not a valid S3 bucket name`, fix);
    const endpoint = s3.endpoint ?? (process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined);
    if (endpoint !== undefined)
      parseS3Endpoint(endpoint, s3.endpoint !== undefined ? '--endpoint' : 'AWS_ENDPOINT_URL_S3');
    return {
      type: 's3',
      url: value,
      bucket,
      path: `/${rest.filter(Boolean).join('/')}`,
      ...s3,
      endpoint,
      caFile: s3.caFile ?? (process.env.AWS_CA_BUNDLE || undefined),
    };
  }
  throw new DrError(`${flag} "${value}" is not a pgBackRest repository URL`, fix);
}

/** Stanza names end up in paths and in archive_command: keep them to a safe alphabet. */
export function checkStanza(stanza: string): string {
  if (!STANZA_NAME.test(stanza)) {
    throw new DrError(
      `--stanza "${stanza}" is not a valid stanza name`,
      'use letters, digits, "_", "-" or "." (e.g. crypto_stock)',
    );
  }
  return stanza;
}

export interface PitrConfigOptions {
  readonly repo: string;
  readonly stanza: string;
  /** The server's data directory (pg1-path). */
  readonly pgPath: string;
  /** @default 5432 */
  readonly pgPort?: number;
  /** Directory of the server's Unix socket. @default - pgBackRest's default (/var/run/postgresql) */
  readonly pgSocketPath?: string;
  /** S3 region; required for s3://. @default - AWS_REGION */
  readonly region?: string;
  /** S3 endpoint. @default - s3.<region>.amazonaws.com */
  readonly endpoint?: string;
  /** CA bundle for an S3-compatible endpoint's certificate. */
  readonly caFile?: string;
  /** false for a test store with a self-signed certificate. @default true */
  readonly verifyTls?: boolean;
  /** How pgBackRest gets S3 credentials on the database host. @default auto (EC2 instance role) */
  readonly keyType?: S3KeyType;
  /** SSE-KMS key for the repository's objects. @default - none (bucket default encryption) */
  readonly kmsKeyId?: string;
  /** archive_timeout: the longest a committed transaction waits for its WAL segment to be archived. @default 60 */
  readonly rpoSeconds?: number;
  /** Full backups kept (weekly fulls: 2 keeps at least one week of PITR window). @default 2 */
  readonly retentionFull?: number;
  /** @default 4 */
  readonly processMax?: number;
  /** Where pgbackrest.conf is installed; other paths make every command pass --config. @default /etc/pgbackrest/pgbackrest.conf */
  readonly configFile?: string;
  /** @default /var/spool/pgbackrest */
  readonly spoolPath?: string;
  /** @default /var/log/pgbackrest */
  readonly logPath?: string;
  /** @default /tmp/pgbackrest */
  readonly lockPath?: string;
}

export interface PitrConfig {
  readonly stanza: string;
  readonly repo: PitrRepo;
  readonly configFile: string;
  /** The whole pgbackrest.conf. */
  readonly pgbackrestConf: string;
  /** Lines to add to postgresql.conf (restart needed for wal_level/archive_mode). */
  readonly postgresqlConf: string;
  /** The same settings as ALTER SYSTEM statements, for containers whose config is in the data volume. */
  readonly alterSystem: string;
  /** crontab lines for the postgres user: weekly full, daily differential. */
  readonly cron: string;
  /**
   * The honest-RPO host schedule (crontab lines for the postgres user): a heartbeat write each
   * minute, so an idle database still closes a segment every archive_timeout and the archive age
   * measures real risk; and pg_stat_archiver's state pushed to CloudWatch as ArchiverFailing.
   */
  readonly rpoSignals: { readonly heartbeat: string; readonly archiverMetric: string; readonly cron: string };
  /** A docker-compose service running the same schedule next to the TimescaleDB container. */
  readonly compose: string;
  /** Run once, as the postgres OS user, after PostgreSQL was restarted with the settings above. */
  readonly commands: {
    readonly stanzaCreate: string;
    readonly check: string;
    readonly fullBackup: string;
    readonly diffBackup: string;
    readonly info: string;
  };
  readonly rpoSeconds: number;
  /** What the RPO is with these settings, in one paragraph. */
  readonly rpo: string;
}

export const DEFAULT_CONFIG_FILE = '/etc/pgbackrest/pgbackrest.conf';

function positiveInt(value: number | undefined, fallback: number, flag: string, min = 1): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < min)
    throw new DrError(`--${flag} must be a whole number ≥ ${min}, got ${value}`, `e.g. --${flag} ${fallback}`);
  return n;
}

function absolute(path: string, flag: string): string {
  if (!isAbsolute(path))
    throw new DrError(`--${flag} "${path}" is not an absolute path`, `e.g. --${flag} /var/lib/postgresql/data`);
  return path.replace(/\/+$/, '') || '/';
}

/** pgbackrest.conf for `repo`: the same option lines `dr restore --pitr` passes on the command line. */
export function repoOptions(
  repo: PitrRepo,
  s3: { region?: string; endpoint?: string; kmsKeyId?: string; keyType?: S3KeyType } = {},
): Record<string, string> {
  if (repo.type === 'posix') return { 'repo1-type': 'posix', 'repo1-path': repo.path };
  const region = s3.region ?? repo.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region)
    throw new DrError(`an s3:// pgBackRest repository needs its region`, 'pass --region eu-west-1 (or set AWS_REGION)');
  const endpointText = s3.endpoint ?? repo.endpoint;
  const endpoint = endpointText ? parseS3Endpoint(endpointText) : undefined;
  const options: Record<string, string> = {
    'repo1-type': 's3',
    'repo1-s3-bucket': repo.bucket,
    'repo1-path': repo.path,
    'repo1-s3-region': region,
    'repo1-s3-endpoint': endpoint?.host ?? `s3.${region}.amazonaws.com`,
  };
  if (endpoint?.port) options['repo1-storage-port'] = String(endpoint.port);
  // S3-compatible stores rarely resolve bucket.host names: path-style URIs (host/bucket/key).
  if (endpoint?.custom) options['repo1-s3-uri-style'] = 'path';
  if (repo.caFile) options['repo1-storage-ca-file'] = repo.caFile;
  if (repo.verifyTls === false) options['repo1-storage-verify-tls'] = 'n';
  // auto: the EC2 instance role; web-id: EKS/IRSA (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE);
  // shared: keys from PGBACKREST_REPO1_S3_KEY/_KEY_SECRET in the environment. Never keys in the file.
  options['repo1-s3-key-type'] = s3.keyType ?? 'auto';
  if (s3.kmsKeyId) options['repo1-s3-kms-key-id'] = s3.kmsKeyId;
  return options;
}

export type S3KeyType = 'auto' | 'shared' | 'web-id';

export function buildPitrConfig(options: PitrConfigOptions): PitrConfig {
  const stanza = checkStanza(options.stanza);
  const repo = parsePitrRepo(options.repo, '--repo', {
    region: options.region,
    endpoint: options.endpoint,
    caFile: options.caFile,
    verifyTls: options.verifyTls,
  });
  if (options.keyType !== undefined && !['auto', 'shared', 'web-id'].includes(options.keyType)) {
    throw new DrError(
      `--s3-key-type must be auto, shared or web-id, got "${options.keyType}"`,
      'auto: EC2 instance role; web-id: EKS service account (IRSA); shared: keys in the environment',
      2,
    );
  }
  if (repo.type !== 's3' && (options.keyType || options.caFile || options.verifyTls === false)) {
    throw new DrError(
      '--s3-key-type, --ca-file and --no-verify-tls apply to s3:// repositories only',
      'drop them for a file:// repository',
      2,
    );
  }
  const pgPath = absolute(options.pgPath, 'pg-path');
  const pgPort = positiveInt(options.pgPort, 5432, 'pg-port');
  const rpoSeconds = positiveInt(options.rpoSeconds, 60, 'rpo-seconds');
  const retentionFull = positiveInt(options.retentionFull, 2, 'retention-full');
  const processMax = positiveInt(options.processMax, 4, 'process-max');
  const configFile = absolute(options.configFile ?? DEFAULT_CONFIG_FILE, 'config-file');
  const spoolPath = absolute(options.spoolPath ?? '/var/spool/pgbackrest', 'spool-path');
  const logPath = absolute(options.logPath ?? '/var/log/pgbackrest', 'log-path');
  const lockPath = absolute(options.lockPath ?? '/tmp/pgbackrest', 'lock-path');
  if (options.kmsKeyId && repo.type !== 's3')
    throw new DrError('--kms-key-id applies to s3:// repositories only', 'drop --kms-key-id for a file:// repository');

  const global: Record<string, string> = {
    ...repoOptions(repo, { region: options.region, kmsKeyId: options.kmsKeyId, keyType: options.keyType }),
    // Weekly full + daily differential: each full keeps its diffs and the WAL needed to replay
    // from it; `retentionFull` fulls = a PITR window of at least (retentionFull - 1) weeks.
    'repo1-retention-full-type': 'count',
    'repo1-retention-full': String(retentionFull),
    'compress-type': 'zst',
    'compress-level': '3',
    'process-max': String(processMax),
    // A background process pushes every ready segment in parallel, reusing its connections;
    // archive_command still succeeds only once its segment is in the repository.
    'archive-async': 'y',
    'spool-path': spoolPath,
    'log-path': logPath,
    'lock-path': lockPath,
    'log-level-file': 'detail',
    // Backups begin with an immediate checkpoint instead of waiting for the next scheduled one.
    'start-fast': 'y',
  };
  if (lockPath === '/tmp/pgbackrest') delete global['lock-path'];
  const stanzaSection: Record<string, string> = { 'pg1-path': pgPath, 'pg1-port': String(pgPort) };
  if (options.pgSocketPath) stanzaSection['pg1-socket-path'] = absolute(options.pgSocketPath, 'pg-socket-path');
  const section = (name: string, values: Record<string, string>) =>
    [`[${name}]`, ...Object.entries(values).map(([k, v]) => `${k}=${v}`)].join('\n');
  const pgbackrestConf = [
    `# pgbackrest.conf for stanza ${stanza}, generated by dr pitr config (install as ${configFile}, owner postgres, mode 0640)`,
    ...(options.keyType === 'shared'
      ? [
          '# S3 keys: never in this file. Give the postgres server and the backup schedule PGBACKREST_REPO1_S3_KEY and',
          '# PGBACKREST_REPO1_S3_KEY_SECRET (and PGBACKREST_REPO1_S3_TOKEN for temporary keys) in their environment.',
        ]
      : options.keyType === 'web-id'
        ? [
            '# S3 credentials: the web identity of the pod (EKS/IRSA): AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE in the environment.',
          ]
        : repo.type === 's3'
          ? [
              '# S3 credentials: the EC2 instance role (key-type=auto). ECS task roles are not read by pgBackRest: use --s3-key-type shared there.',
            ]
          : []),
    section('global', global),
    '',
    section('global:archive-push', { 'process-max': String(Math.min(processMax, 2)) }),
    '',
    section('global:archive-get', { 'process-max': String(Math.min(processMax, 2)) }),
    '',
    section(stanza, stanzaSection),
    '',
  ].join('\n');

  const config = configFile === DEFAULT_CONFIG_FILE ? '' : ` --config=${configFile}`;
  const pgbackrest = `pgbackrest${config} --stanza=${stanza}`;
  const settings: [string, string][] = [
    ['wal_level', 'replica'],
    ['archive_mode', 'on'],
    ['archive_command', `'${pgbackrest} archive-push %p'`],
    // A quiet server still closes (and so archives) its WAL segment at least this often.
    ['archive_timeout', String(rpoSeconds)],
    ['max_wal_senders', '10'],
  ];
  const postgresqlConf = [
    `# postgresql.conf: WAL archiving to pgBackRest stanza ${stanza} (wal_level/archive_mode need a restart)`,
    ...settings.map(([k, v]) => `${k} = ${v}`),
    '',
  ].join('\n');
  const alterSystem = `${settings
    .map(
      ([k, v]) =>
        `ALTER SYSTEM SET ${k} = ${v.startsWith("'") ? `'${v.slice(1, -1).replace(/'/g, "''")}'` : `'${v}'`};`,
    )
    .join('\n')}\n`;

  const commands = {
    stanzaCreate: `${pgbackrest} stanza-create`,
    check: `${pgbackrest} check`,
    fullBackup: `${pgbackrest} --type=full backup`,
    diffBackup: `${pgbackrest} --type=diff backup`,
    info: `${pgbackrest} info`,
  };
  const cron = [
    `# crontab -u postgres: full backup Sunday 01:00, differential Monday-Saturday 01:00 (host time)`,
    `0 1 * * 0   ${commands.fullBackup}`,
    `0 1 * * 1-6 ${commands.diffBackup}`,
    '',
  ].join('\n');
  const compose = composeSnippet(stanza, pgPath, configFile, spoolPath, pgbackrest);
  const psql = `psql -XAtq${options.pgSocketPath ? ` -h ${options.pgSocketPath}` : ''} -p ${pgPort} -d postgres`;
  const region =
    repo.type === 's3'
      ? (options.region ?? repo.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION)
      : undefined;
  const heartbeat = `${psql} -c "SELECT pg_logical_emit_message(false, 'dr-heartbeat', now()::text)"`;
  const archiverMetric = `${psql} -c "SELECT CASE WHEN last_failed_time IS NOT NULL AND (last_archived_time IS NULL OR last_failed_time > last_archived_time) THEN 1 ELSE 0 END FROM pg_stat_archiver" | xargs -I{} aws cloudwatch put-metric-data${region ? ` --region ${region}` : ''} --namespace ${Metrics.namespace} --metric-name ${Metrics.archiverFailing} --dimensions ${Metrics.stanzaDimension}=${stanza} --unit None --value {}`;
  const rpoSignals = {
    heartbeat,
    archiverMetric,
    cron: [
      `# crontab -u postgres: a tiny WAL write each minute (with archive_timeout=${rpoSeconds}, an idle database still archives a segment per period,`,
      `# so WalArchiveAgeSeconds measures real risk), and the archiver's state as ${Metrics.archiverFailing} (needs the AWS CLI and cloudwatch:PutMetricData)`,
      `* * * * * ${heartbeat}`,
      `* * * * * ${archiverMetric}`,
      '',
    ].join('\n'),
  };
  const rpo =
    `RPO ≤ ${rpoSeconds} s plus the push time of one segment: PostgreSQL closes its WAL segment at least every ` +
    `archive_timeout=${rpoSeconds} s when anything was written, and pgBackRest's asynchronous archive-push sends ` +
    `ready segments in parallel, typically within a second or two. Only transactions committed since the last ` +
    `archived segment are lost when the host and its disk are lost. Restores replay WAL from the newest ` +
    `base backup (weekly full + daily diff), so at most one day of WAL is replayed; ${retentionFull} full backups are kept.`;
  return {
    stanza,
    repo,
    configFile,
    pgbackrestConf,
    postgresqlConf,
    alterSystem,
    cron,
    rpoSignals,
    compose,
    commands,
    rpoSeconds,
    rpo,
  };
}

/**
 * The TimescaleDB container setup: the database container needs pgBackRest (timescale/timescaledb-ha
 * ships it) for archive_command; a second container of the same image shares its data and socket
 * volumes and runs the backups on the same schedule as the cron lines.
 */
function composeSnippet(
  stanza: string,
  pgPath: string,
  configFile: string,
  spoolPath: string,
  pgbackrest: string,
): string {
  return `# docker-compose.yml: add to the database service and add the pgbackrest service.
# Both use an image with pgBackRest and the same PostgreSQL major (timescale/timescaledb-ha ships it).
services:
  db:
    # ...your existing TimescaleDB service, plus:
    volumes:
      - pgdata:${pgPath}
      - pgsocket:/var/run/postgresql
      - pgbackrest-spool:${spoolPath}
      - ./pgbackrest.conf:${configFile}:ro
  pgbackrest:
    image: timescale/timescaledb-ha:pg15   # same image as db
    user: postgres
    depends_on: [db]
    restart: unless-stopped
    volumes:
      - pgdata:${pgPath}
      - pgsocket:/var/run/postgresql
      - pgbackrest-spool:${spoolPath}
      - ./pgbackrest.conf:${configFile}:ro
    entrypoint: ["/bin/sh", "-c"]
    # 01:00 UTC every day: full on Sunday, differential otherwise (the cron lines' schedule).
    command:
      - |
        while true; do
          now=$$(date -u +%s); next=$$(( now / 86400 * 86400 + 3600 ))
          [ "$$next" -le "$$now" ] && next=$$(( next + 86400 ))
          sleep $$(( next - now ))
          if [ "$$(date -u +%u)" = 7 ]; then type=full; else type=diff; fi
          ${pgbackrest} --type=$$type backup || echo "pgbackrest $$type backup of ${stanza} failed" >&2
        done
volumes:
  pgdata:
  pgsocket:
  pgbackrest-spool:
`;
}

/** The human output: every piece, each under a heading that says where it goes. */
export function renderPitrConfig(c: PitrConfig): string {
  return [
    `# ---- ${c.configFile}`,
    c.pgbackrestConf,
    '# ---- postgresql.conf (then restart PostgreSQL)',
    c.postgresqlConf,
    '# ---- or, where the configuration lives in the data volume (containers): psql -c for each, then restart',
    c.alterSystem,
    '# ---- once, as the postgres OS user, after the restart',
    `${c.commands.stanzaCreate}\n${c.commands.check}\n${c.commands.fullBackup}\n`,
    '# ---- base-backup schedule (cron)',
    c.cron,
    '# ---- RPO signals: heartbeat and archiver failures (cron)',
    c.rpoSignals.cron,
    '# ---- or the same schedule as a docker-compose service',
    c.compose,
    `# ---- RPO\n# ${c.rpo}`,
  ].join('\n');
}
