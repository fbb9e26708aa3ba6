/**
 * The deployment's configuration: its shape, its documented defaults and its validation.
 * Only bin/app.ts reads it (from cdk.json context `dr`, or the JSON file named by context
 * `configFile`); constructs receive typed props and never read context or the environment.
 */
import { z } from 'zod';

/** libpq sslmode values the job passes to pg_dump. */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** Fargate's valid cpu units and the memory (MiB) each allows. */
const FARGATE_MEMORY: Readonly<Record<number, readonly [min: number, max: number, step: number]>> = {
  256: [512, 2048, 1024], // 512, 1024, 2048 in practice; checked separately below
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
  8192: [16384, 61440, 4096],
  16384: [32768, 122880, 8192],
};

export interface DatabaseConfig {
  /** PostgreSQL database name; also the backup folder `backups/<name>/`. */
  readonly name: string;
  /** Server host name or IP as seen from the VPC. */
  readonly host: string;
  /** @default 5432 */
  readonly port: number;
  /**
   * Secrets Manager secret holding `{"username":…,"password":…}` (RDS format): a name or an ARN.
   * @default 'crypto-stock/db'
   */
  readonly secret: string;
}

export interface JobConfig {
  /** Fargate cpu units. @default 1024 */
  readonly cpu: number;
  /** Fargate memory in MiB (must be valid for `cpu`). @default 2048 */
  readonly memoryMiB: number;
  /** Parallel pg_dump jobs inside one task (`DR_JOBS`). @default - one per vCPU */
  readonly dumpJobs: number;
  /**
   * Fargate ephemeral storage in GiB (21..200): a PITR restore unpacks the whole cluster and the
   * WAL it replays onto the task's disk. @default 100
   */
  readonly ephemeralStorageGiB: number;
}

export interface PitrConfig {
  /** Create the pgBackRest repository bucket, the host policy and the RPO watch with its alarms. @default true */
  readonly enabled: boolean;
  /** pgBackRest stanza of the database cluster (as in `dr pitr config --stanza`). @default 'crypto_stock' */
  readonly stanza: string;
  /** RPO target: alarm when the newest archived WAL segment is older (keep above archive_timeout). @default 300 */
  readonly rpoSeconds: number;
  /** Alarm when the newest complete base backup is older. @default 8 (weekly full + 1 day) */
  readonly baseBackupMaxAgeDays: number;
}

/** A PostgreSQL server drills restore scratch databases into. */
export interface ServerConfig {
  readonly host: string;
  /** @default 5432 */
  readonly port: number;
  /** Secrets Manager secret (name or ARN) with `{"username":…,"password":…}`; the role must be allowed to CREATE/DROP DATABASE. */
  readonly secret: string;
}

export interface DrillConfig {
  /**
   * Staging server that receives the scratch databases `drill_<db>_<yyyymmdd>`.
   * @default - the first database's server and secret
   */
  readonly scratchServer: ServerConfig;
  /** Whether the monthly drill schedule (first Sunday, 03:00 UTC) is enabled. @default true */
  readonly scheduleEnabled: boolean;
  /** Application health URLs the verification calls (each must answer 2xx). @default - none */
  readonly healthUrls: readonly string[];
}

export interface OffsiteConfig {
  /** Replicate the vault to a locked bucket in another region (OffsiteVaultStack). @default true */
  readonly enabled: boolean;
  /** Region of the offsite bucket; must differ from the primary's. @default 'us-west-2' */
  readonly region: string;
  /** Account of the offsite bucket. @default - the primary's account */
  readonly account?: string;
  /** Offsite bucket name (globally unique). @default - crypto-stock-dr-offsite-<account>-<region> */
  readonly bucketName?: string;
  /** S3 Replication Time Control (15-minute SLA, extra per-GB charge). @default false */
  readonly replicationTimeControl: boolean;
}

export interface DrConfig {
  /** @default - one database: crypto_stock on db.internal.example:5432, secret crypto-stock/db */
  readonly databases: readonly DatabaseConfig[];
  /** Recovery time objective of a restore, in seconds (the guide: critical 1 h, high 4 h, medium 24 h). @default 3600 */
  readonly rtoSeconds: number;
  readonly drill: DrillConfig;
  /** Existing VPC to run the job in (needs an account/region for the lookup). @default - a new VPC */
  readonly vpcId?: string;
  /** Email address subscribed to backup alarms. @default - no subscription (the topic still exists) */
  readonly alertEmail?: string;
  /** Major version of the PostgreSQL client in the job image; must be >= the server's. @default 15 */
  readonly postgresMajorVersion: number;
  /** Databases backed up at the same time. @default 2 */
  readonly backupConcurrency: number;
  /** libpq sslmode for the job's connections. @default 'verify-full' with sslRootCert, else 'require' */
  readonly sslMode: SslMode;
  /**
   * CA bundle the job verifies database certificates against: 'rds' (the RDS global bundle shipped
   * in the job image) or an absolute path inside the image. @default - none (libpq defaults)
   */
  readonly sslRootCert?: string;
  /** Security group of the databases; the job (and verify) security groups get ingress on the database ports. @default - none: add the rules yourself */
  readonly databaseSecurityGroupId?: string;
  /** Rotate each database secret every N days with the hosted single-user PostgreSQL rotation. @default - no rotation schedule */
  readonly secretRotationDays?: number;
  readonly offsite: OffsiteConfig;
  readonly pitr: PitrConfig;
  readonly job: JobConfig;
}

export const DEFAULT_DATABASE: DatabaseConfig = {
  name: 'crypto_stock',
  host: 'db.internal.example',
  port: 5432,
  secret: 'crypto-stock/db',
};

const databaseSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]{0,62}$/, 'letters, digits, _ and -, at most 63, not starting with a digit'),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(5432),
  secret: z.string().min(1).default(DEFAULT_DATABASE.secret),
});

const jobSchema = z.strictObject({
  cpu: z.number().int().default(1024),
  memoryMiB: z.number().int().default(2048),
  dumpJobs: z.number().int().min(1).max(64).optional(),
  ephemeralStorageGiB: z.number().int()
    .min(21, 'at least 21 GiB (Fargate gives 20 GiB without this setting; a PITR restore needs room for the whole cluster)')
    .max(200, 'at most 200 GiB (the Fargate maximum)')
    .default(100),
});

const pitrSchema = z.strictObject({
  enabled: z.boolean().default(true),
  stanza: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/, 'a pgBackRest stanza: letters, digits, _, - and ., e.g. crypto_stock').default('crypto_stock'),
  rpoSeconds: z.number().int().min(60, 'at least 60 seconds (archive_timeout plus archiving)').max(86_400, 'at most 86400 (1 day)').default(300),
  baseBackupMaxAgeDays: z.number().int().min(1).max(60).default(8),
});

const drillSchema = z.strictObject({
  scratchServer: z.strictObject({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(5432),
    secret: z.string().min(1),
  }).optional(),
  scheduleEnabled: z.boolean().default(true),
  healthUrls: z.array(z.url({ protocol: /^https?$/ })).default([]),
});

const configSchema = z.strictObject({
  databases: z.array(databaseSchema).min(1, 'list at least one database').default([DEFAULT_DATABASE]),
  rtoSeconds: z.number().int().min(60, 'at least 60 seconds').max(7 * 86400, 'at most 7 days (604800)').default(3600),
  drill: drillSchema.default({ scheduleEnabled: true, healthUrls: [] }),
  vpcId: z.string().regex(/^vpc-[0-9a-f]+$/, 'a VPC id like vpc-0123456789abcdef0').optional(),
  alertEmail: z.email().optional(),
  postgresMajorVersion: z.number().int().min(12).max(18).default(15),
  backupConcurrency: z.number().int().min(1).max(40).default(2),
  sslMode: z.enum(SSL_MODES).optional(),
  sslRootCert: z.string().regex(/^(rds|\/.+)$/, "'rds' or an absolute path in the job image").optional(),
  databaseSecurityGroupId: z.string().regex(/^sg-[0-9a-f]+$/, 'a security group id like sg-0123456789abcdef0').optional(),
  secretRotationDays: z.number().int().min(1).max(365).optional(),
  offsite: z.strictObject({
    enabled: z.boolean().default(true),
    region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'an AWS region like us-west-2').default('us-west-2'),
    account: z.string().regex(/^\d{12}$/, 'a 12-digit AWS account id').optional(),
    bucketName: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)').optional(),
    replicationTimeControl: z.boolean().default(false),
  }).default({ enabled: true, region: 'us-west-2', replicationTimeControl: false }),
  pitr: pitrSchema.default({ enabled: true, stanza: 'crypto_stock', rpoSeconds: 300, baseBackupMaxAgeDays: 8 }),
  job: jobSchema.default({ cpu: 1024, memoryMiB: 2048, ephemeralStorageGiB: 100 }),
});

/** Where the raw value came from, for error messages. */
const FIX_HINT = 'fix the "dr" object in cdk.json context, or the JSON file passed with `-c configFile=<path>`';

/**
 * Validates raw configuration (`undefined` means "all defaults") and fills in defaults.
 * Throws an Error listing every problem with its path and how to fix it.
 */
export function parseConfig(raw: unknown): DrConfig {
  const parsed = configSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ✖ ${formatPath(issue.path) || '(root)'}: ${issue.message}`);
    throw new Error(`invalid dr configuration (${FIX_HINT}):\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const db of c.databases) {
    // Database names become env var names (secretEnvVarFor) and S3 folders, so they must stay distinct.
    const key = db.name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
    const other = seen.get(key);
    if (other !== undefined) problems.push(`databases: "${db.name}" and "${other}" collide (names must differ after upper-casing and mapping - to _); rename one`);
    seen.set(key, db.name);
  }
  const memory = FARGATE_MEMORY[c.job.cpu];
  if (!memory) {
    problems.push(`job.cpu: ${c.job.cpu} is not a Fargate size; use one of ${Object.keys(FARGATE_MEMORY).join(', ')}`);
  } else {
    const [min, max, step] = memory;
    const ok = c.job.cpu === 256 ? [512, 1024, 2048].includes(c.job.memoryMiB) : c.job.memoryMiB >= min && c.job.memoryMiB <= max && c.job.memoryMiB % step === 0;
    if (!ok) problems.push(`job.memoryMiB: ${c.job.memoryMiB} is not valid with cpu ${c.job.cpu}; use ${min}..${max} in steps of ${step}`);
  }
  if (problems.length > 0) throw new Error(`invalid dr configuration (${FIX_HINT}):\n${problems.map((p) => `  ✖ ${p}`).join('\n')}`);
  const first = c.databases[0];
  return {
    ...c,
    drill: {
      scratchServer: c.drill.scratchServer ?? { host: first.host, port: first.port, secret: first.secret },
      scheduleEnabled: c.drill.scheduleEnabled,
      healthUrls: c.drill.healthUrls,
    },
    sslMode: c.sslMode ?? (c.sslRootCert ? 'verify-full' : 'require'),
    job: { cpu: c.job.cpu, memoryMiB: c.job.memoryMiB, dumpJobs: c.job.dumpJobs ?? Math.max(1, Math.floor(c.job.cpu / 1024)), ephemeralStorageGiB: c.job.ephemeralStorageGiB },
  };
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}
