/**
 * Names shared by the CDK side (lib/) and the runtime side (job/, lambdas/). Each is defined
 * here once, so a rename cannot break the contract between a state machine and its task.
 */

/** The one container of the job task definition; container overrides address it by name. */
export const JOB_CONTAINER_NAME = 'dr';

/** Environment of the Fargate job. Fixed ones come from the task definition, the rest from overrides. */
export const JobEnv = {
  /** Backup repository URL, e.g. s3://bucket/backups (task definition). */
  repo: 'DR_REPO',
  /** KMS key id or ARN for SSE-KMS on every object written (task definition). */
  kmsKeyId: 'DR_KMS_KEY_ID',
  /** The dr subcommand to run: one of JOB_COMMANDS (override). */
  command: 'DR_COMMAND',
  /** Database name to act on: the source for backup, the repository folder for restore (override). */
  database: 'DR_DATABASE',
  /** Database restored into, on the server the secret and host name (override). @default - DR_DATABASE */
  targetDatabase: 'DR_TARGET_DATABASE',
  /**
   * Further dr flags as a JSON array of strings, e.g. ["--tables","candles"] (override). The job
   * accepts only the flags JOB_COMMANDS allows for the command, so an input cannot redirect it.
   */
  args: 'DR_ARGS',
  /** Server host and port (override; the secret's host/port are used when absent). */
  dbHost: 'DR_DB_HOST',
  dbPort: 'DR_DB_PORT',
  /** Name of the env var that holds this database's secret JSON (override). */
  secretEnv: 'DR_DB_SECRET_ENV',
  /** libpq sslmode for the connection (task definition). */
  sslMode: 'DR_DB_SSLMODE',
  /** Force a retention tier (override, optional). */
  tier: 'DR_TIER',
  /** Parallel pg_dump/pg_restore jobs (task definition). */
  jobs: 'DR_JOBS',
  /**
   * Object Lock on what the job writes: 'governance' (task definition, on the Object Lock vault)
   * or 'none'. @default 'none'
   */
  objectLock: 'DR_OBJECT_LOCK',
  /** CA bundle (a path in the image) for sslmode verify-ca/verify-full; becomes PGSSLROOTCERT (task definition). */
  sslRootCert: 'DR_DB_SSLROOTCERT',
  /**
   * The state machine execution's name (override, optional). When set, the job also writes its
   * `--json` result to the repository under `jobResultKey(command, name)` (core/job-result.ts), where
   * the workflow reads it back: ECS returns exit codes, not output.
   */
  resultName: 'DR_RESULT_NAME',
  /** pgBackRest repository of PITR restores, e.g. s3://bucket/pitr (task definition; never from input). */
  pitrRepo: 'DR_PITR_REPO',
  /** pgBackRest stanza of PITR restores (task definition; never from input). */
  pitrStanza: 'DR_PITR_STANZA',
} as const;

/** Where job/Dockerfile puts the RDS global CA bundle (config sslRootCert 'rds'). */
export const RDS_CA_BUNDLE_PATH = '/opt/dr/rds-global-bundle.pem';

/**
 * The env var that carries one database's Secrets Manager secret (JSON with username and
 * password, RDS-style) into the job, through `ecs.Secret.fromSecretsManager`.
 */
export function secretEnvVarFor(databaseName: string): string {
  return `DR_SECRET_${databaseName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * The dr commands the job runs, each with the flags a state machine may pass in `DR_ARGS`.
 * Connection, repository and key flags are never among them: the job sets those itself.
 */
export const JOB_COMMANDS = {
  backup: ['--tier'],
  // --at: a point-in-time restore; its --pitr repository and --stanza come from JobEnv.pitrRepo and
  // JobEnv.pitrStanza (task definition) and are never allowed here.
  restore: [
    '--backup',
    '--overwrite',
    '--tables',
    '--since',
    '--until',
    '--time-column',
    '--no-owner',
    '--with-globals',
    '--at',
    '--hold-timescale-jobs',
  ],
} as const satisfies Record<string, readonly string[]>;

export type JobCommand = keyof typeof JOB_COMMANDS;

/**
 * Exit statuses the backup workflow tells apart: ECS RunTask returns only the container's exit
 * code, so what the state machine must react to differently is said by a code of its own.
 */
export const JobExit = {
  /**
   * A lock wait timed out (another session held a lock longer than --lock-timeout; core/pg/locks.ts).
   * dr's own exit status too (EX_TEMPFAIL): worth retrying later. The backup workflow retries once, and alarms.
   */
  lockTimeout: 75,
  /**
   * The job only (job/entry.ts): `dr backup` succeeded, but the backup is suspect (it shrank
   * against the previous one, core/backup/suspect.ts). The backup workflow counts it as a backup and alarms.
   */
  backupSuspect: 3,
} as const;

/**
 * CloudWatch metrics the DR system emits and alarms on. Every metric carries one dimension,
 * `Metrics.dimension` = the database name; the PITR ones `Metrics.stanzaDimension` instead.
 */
/** The restore-time trend alarms (drill reports compute the metrics, the monitoring construct alarms on them). */
export const DrillTrend = {
  /** The median of the last three drills' restore times grew more than this, in percent, over the three before… */
  growthAlarmPercent: 20,
  /** …or at the last 12 months' rate the restore time reaches the RTO within this many days. */
  rtoHorizonDays: 90,
} as const;

export const Metrics = {
  namespace: 'CryptoStockDr',
  /** Dimension name; its value is the database name. */
  dimension: 'Database',
  /** 1 per successful backup (backup workflow, after the job exited 0 or JobExit.backupSuspect). Count. RPO alarm: none in 26 h. */
  backupSucceeded: 'BackupSucceeded',
  /** 1 per backup attempt that failed on a lock timeout (backup workflow, JobExit.lockTimeout; retried once). Count. Alarm: any. */
  backupLockTimeouts: 'BackupLockTimeouts',
  /** 1 per backup marked suspect: it shrank against the previous one (backup workflow, JobExit.backupSuspect). Count. Alarm: any. */
  backupSuspect: 'BackupSuspect',
  /** Total restore time of a drill (target checks, download, checksums, pg_restore, swap). Seconds. Alarm: above the RTO. */
  restoreSeconds: 'RestoreSeconds',
  /** 1 when a drill passed, 0 when it failed (drill-report Lambda). None. Alarm: below 1. */
  drillPassed: 'DrillPassed',
  /** Age of the backup a drill restored, at drill time (drill-report Lambda). Hours. */
  backupAgeHours: 'BackupAgeHours',
  /** Median restore time of the last three drills over the three before, in percent (drill-report Lambda). Alarm: above 20. */
  restoreTrendGrowthPercent: 'RestoreTrendGrowthPercent',
  /** Days until the restore time reaches the RTO at the last 12 months' rate (drill-report Lambda, when growing). Alarm: below 90. */
  daysUntilRto: 'DaysUntilRto',
  /** 1 when a drill report could not be signed (KMS refused or failed) and was written unsigned (drill-report Lambda). Count. */
  reportUnsigned: 'ReportUnsigned',
  /**
   * Age of the newest verified backup (the one under Legal Hold, core/repository/verified-hold.ts), from its
   * start: emitted by the drill report after a drill and daily by the drill-age Lambda. Hours.
   * Alarm: above 8 days, or missing.
   */
  verifiedBackupAgeHours: 'VerifiedBackupAgeHours',
  /** Days since the newest drill report, emitted daily (drill-age Lambda). Days. Alarm: above 35 or missing. */
  daysSinceLastDrill: 'DaysSinceLastDrill',
  /** Dimension of the PITR metrics; its value is the pgBackRest stanza (one per cluster). */
  stanzaDimension: 'Stanza',
  /** Age of the newest archived WAL segment (rpo-watch Lambda, every minute). Seconds. Alarm: above the RPO target, or missing. */
  walArchiveAgeSeconds: 'WalArchiveAgeSeconds',
  /** Age of the newest complete pgBackRest backup, any type (rpo-watch Lambda). Seconds. Alarm: above 8 days, or missing. */
  baseBackupAgeSeconds: 'BaseBackupAgeSeconds',
  /** Age of the newest complete pgBackRest full backup (rpo-watch Lambda). Seconds. */
  fullBackupAgeSeconds: 'FullBackupAgeSeconds',
  /** WAL segments missing inside the archive of the timeline being written (rpo-watch Lambda). Count. Alarm: above 0. */
  walArchiveGaps: 'WalArchiveGaps',
  /** 1 while the server's last archive attempt failed (pg_stat_archiver, host schedule of dr pitr config), else 0. Alarm: 1, or missing. */
  archiverFailing: 'ArchiverFailing',
} as const;

/** Environment of the RPO watch Lambda (lambdas/rpo-watch), set by the CDK side. */
export const RpoWatchEnv = {
  /** The pgBackRest repository, e.g. s3://bucket/pitr (pgBackRest repo1-path=/pitr). */
  repo: JobEnv.pitrRepo,
  /** The pgBackRest stanza watched, e.g. crypto_stock. */
  stanza: JobEnv.pitrStanza,
} as const;

/**
 * Environment of the verify Lambda (lambdas/verify), set by the CDK side. The event names the
 * backup and the scratch database; these say where the vault and the server's credentials are.
 */
export const VerifyEnv = {
  /** Backup repository URL the manifest is read from, e.g. s3://bucket/backups. */
  repo: JobEnv.repo,
  /** ARN of the Secrets Manager secret of the server verified: RDS-style JSON {username, password, host?, port?}. */
  secretArn: 'DR_DB_SECRET_ARN',
  /**
   * Path, inside the function, of a PEM CA bundle for the database server's certificate, e.g.
   * /var/runtime/ca-cert.pem (the Lambda runtime's bundle). When set, TLS is verify-full.
   * @default - unset: TLS is used without certificate verification when the server offers it (prefer)
   */
  caBundle: 'DR_DB_CA_BUNDLE',
  /** Optional override of the TLS mode: disable, prefer, require or verify-full. @default - see caBundle */
  sslMode: JobEnv.sslMode,
} as const;

/** Environment of the drill-age Lambda (lambdas/drill-age), set by the CDK side. */
export const DrillAgeEnv = {
  /** Repository whose `reports/drills/` holds the drill reports, e.g. s3://bucket/. */
  repo: JobEnv.repo,
  /** The drilled database names as a JSON array of strings. */
  databases: 'DR_DATABASES',
} as const;

/** Environment of the restore workflow's Lambdas (lambdas/validate-restore, lambdas/restore-result), set by the CDK side. */
export const RestoreEnv = {
  /**
   * validate-restore: the configured databases as JSON `[{name, host, port, secretEnv}]`; a request
   * names one of them, and its server, port and secret are the target's.
   */
  databases: 'DR_RESTORE_DATABASES',
  /** validate-restore: 'true' when the deployment archives WAL, so mode pitr is possible. */
  pointInTimeRecovery: 'DR_RESTORE_PITR',
  /** restore-result: the repository the job records results in, e.g. s3://bucket/. */
  repo: JobEnv.repo,
} as const;

/** Environment of the drill cleanup Lambda (lambdas/drill-cleanup): the staging server's credentials and TLS, as for verify. */
export const DrillCleanupEnv = {
  secretArn: VerifyEnv.secretArn,
  caBundle: VerifyEnv.caBundle,
  sslMode: VerifyEnv.sslMode,
} as const;

/**
 * Environment of the drill-report Lambda (lambdas/drill-report), set by the CDK side. It writes
 * `reports/drills/<yyyy-mm-dd>/<db>.{json,md,html}` to the vault, publishes a summary to the topic
 * and prints the drill metrics (Metrics.restoreSeconds, drillPassed, backupAgeHours) as EMF lines.
 */
export const ReportEnv = {
  /** The vault, e.g. s3://bucket/ (reports under reports/, job results under results/, manifests under backups/). */
  repo: JobEnv.repo,
  /** ARN of the SNS topic that receives the drill summary. */
  topicArn: 'DR_REPORT_TOPIC_ARN',
  /** ARN of the asymmetric KMS key (ECC_NIST_P256, SIGN_VERIFY) that signs the report JSON; unset: unsigned reports. */
  signingKeyArn: 'DR_REPORT_SIGNING_KEY_ARN',
  /** REPORT_LOCK_COMPLIANCE: the vault has Object Lock, and reports are locked in COMPLIANCE mode for EVIDENCE_RETENTION_DAYS. */
  reportLock: 'DR_REPORT_LOCK',
} as const;

/** The value of ReportEnv.reportLock (DR_REPORT_LOCK) that makes the drill-report Lambda lock its reports. */
export const REPORT_LOCK_COMPLIANCE = 'compliance';
