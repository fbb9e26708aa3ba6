/**
 * The deployment's configuration: its shape, its documented defaults and its validation.
 * Only bin/app.ts reads it (from cdk.json context `dr`, or the JSON file named by context
 * `configFile`); constructs receive typed props and never read context or the environment.
 */
import { z } from 'zod';
import { DATABASE_NAME, DATABASE_NAME_RULE, MIN_RTO_SECONDS, STANZA_NAME } from '../core/names.ts';
import { SSL_MODES, type SslMode } from '../core/pg/tls.ts';

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
   * Staging server that receives the scratch databases `drill_<db>_<yyyymmdd>`, with its own
   * secret. Required in a deployable config, and never a production database host: the drill's
   * cleanup drops `drill_*` databases there.
   * @default - in an example config only, the placeholder scratch.internal.example
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
  /**
   * Account of the offsite bucket: another account than the primary's, so an administrator of the
   * production account cannot remove the offsite copy. Required in a deployable config unless
   * `allowSameAccount` is true.
   * @default - the primary's account (only with allowSameAccount, or in an example config)
   */
  readonly account?: string;
  /**
   * Accept an offsite bucket in the primary's own account (README "Offsite in the same account"):
   * whoever takes over that account can then change the offsite bucket's policy too.
   * @default false
   */
  readonly allowSameAccount: boolean;
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
  /**
   * Email address subscribed to the alarm topic. A deployable config needs this or `alertTopicArn`.
   * @default - none
   */
  readonly alertEmail?: string;
  /**
   * An existing SNS topic (e.g. the on-call paging topic) every alarm and tamper rule also notifies.
   * A deployable config needs this or `alertEmail`.
   * @default - none
   */
  readonly alertTopicArn?: string;
  /**
   * The one role that may change the vault's and keys' protections (bucket policy, lifecycle,
   * Object Lock, replication, versioning, governance bypass, key deletion): the break-glass
   * procedure in the README. An ARN of this account's role.
   * @default - arn:<partition>:iam::<account>:role/crypto-stock-dr-break-glass
   */
  readonly breakGlassRoleArn?: string;
  /**
   * Marks the shipped example config (cdk.json): placeholders are allowed, listed in a synth
   * warning, and the templates refuse to deploy. A real config leaves it out.
   * @default false
   */
  readonly example: boolean;
  /**
   * Placeholder fields of an example config (filled in by parseConfig, never set by hand).
   * @default - none
   */
  readonly placeholders: readonly string[];
  /** Major version of the PostgreSQL client in the job image; must be >= the server's. @default 15 */
  readonly postgresMajorVersion: number;
  /** Databases backed up at the same time. @default 2 */
  readonly backupConcurrency: number;
  /**
   * libpq sslmode for the job's and the Lambdas' connections. A mode that does not verify the
   * server (disable, allow, prefer, require) must be spelled out with `insecureTls: true`.
   * @default 'verify-full'
   */
  readonly sslMode: SslMode;
  /**
   * CA bundle the job verifies database certificates against: 'rds' (the RDS global bundle shipped
   * in the job image) or an absolute path inside the image.
   * @default 'rds' with a verifying sslMode, else none
   */
  readonly sslRootCert?: string;
  /** Allow an sslMode that does not verify the server's certificate. @default false */
  readonly insecureTls: boolean;
  /**
   * Customer-managed KMS key the database secrets are encrypted with: the roles that read a
   * secret get kms:Decrypt on it (through Secrets Manager only).
   * @default - the secrets use the AWS-managed key, which needs no grant
   */
  readonly secretKmsKeyArn?: string;
  /**
   * TimescaleDB version production runs: the job image installs exactly this one (a restored or
   * recovered cluster needs the extension version its catalog records).
   * @default '2.28.3'
   */
  readonly timescaleVersion: string;
  /**
   * SHA-256 (64 lowercase hex digits) of the RDS global CA bundle the job image downloads; the image
   * build (build arg RDS_CA_BUNDLE_SHA256) refuses a bundle with another hash, and refuses to build
   * without one (README "RDS CA bundle").
   * @default - none: synth warns and the job image does not build
   */
  readonly rdsCaBundleSha256?: string;
  /** Security group of the databases (needs vpcId); the job and drill security groups get ingress on the database ports, and their database egress goes only to it. @default - none: add the rules yourself */
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
  name: z.string().regex(DATABASE_NAME, DATABASE_NAME_RULE),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(5432),
  secret: z.string().min(1).default(DEFAULT_DATABASE.secret),
});

const jobSchema = z.strictObject({
  cpu: z.number().int().default(1024),
  memoryMiB: z.number().int().default(2048),
  dumpJobs: z.number().int().min(1).max(64).optional(),
  ephemeralStorageGiB: z
    .number()
    .int()
    .min(
      21,
      'at least 21 GiB (Fargate gives 20 GiB without this setting; a PITR restore needs room for the whole cluster)',
    )
    .max(200, 'at most 200 GiB (the Fargate maximum)')
    .default(100),
});

const pitrSchema = z.strictObject({
  enabled: z.boolean().default(true),
  stanza: z
    .string()
    .regex(STANZA_NAME, 'a pgBackRest stanza: letters, digits, _, - and ., e.g. crypto_stock')
    .default('crypto_stock'),
  rpoSeconds: z
    .number()
    .int()
    .min(60, 'at least 60 seconds (archive_timeout plus archiving)')
    .max(86_400, 'at most 86400 (1 day)')
    .default(300),
  baseBackupMaxAgeDays: z.number().int().min(1).max(60).default(8),
});

const drillSchema = z.strictObject({
  scratchServer: z
    .strictObject({
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535).default(5432),
      secret: z.string().min(1),
    })
    .optional(),
  scheduleEnabled: z.boolean().default(true),
  healthUrls: z.array(z.url({ protocol: /^https?$/ })).default([]),
});

const configSchema = z.strictObject({
  databases: z.array(databaseSchema).min(1, 'list at least one database').default([DEFAULT_DATABASE]),
  rtoSeconds: z
    .number()
    .int()
    .min(MIN_RTO_SECONDS, `at least ${MIN_RTO_SECONDS} seconds`)
    .max(7 * 86400, 'at most 7 days (604800)')
    .default(3600),
  drill: drillSchema.default({ scheduleEnabled: true, healthUrls: [] }),
  example: z.boolean().default(false),
  breakGlassRoleArn: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/,
      'an IAM role ARN like arn:aws:iam::123456789012:role/crypto-stock-dr-break-glass',
    )
    .optional(),
  alertTopicArn: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]+$/,
      'an SNS topic ARN like arn:aws:sns:us-east-1:123456789012:on-call',
    )
    .optional(),
  insecureTls: z.boolean().default(false),
  secretKmsKeyArn: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]+$/,
      'a KMS key ARN like arn:aws:kms:us-east-1:123456789012:key/1234abcd-...',
    )
    .optional(),
  rdsCaBundleSha256: z
    .string()
    .regex(
      /^[0-9a-f]{64}$/,
      'the SHA-256 of global-bundle.pem in 64 lowercase hex digits (curl -fsSL https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem | sha256sum)',
    )
    .optional(),
  timescaleVersion: z
    .string()
    .regex(
      /^\d+\.\d+\.\d+$/,
      "a TimescaleDB release like 2.28.3 (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb' on production)",
    )
    .default('2.28.3'),
  vpcId: z
    .string()
    .regex(/^vpc-[0-9a-f]+$/, 'a VPC id like vpc-0123456789abcdef0')
    .optional(),
  alertEmail: z.email().optional(),
  postgresMajorVersion: z.number().int().min(12).max(18).default(15),
  backupConcurrency: z.number().int().min(1).max(40).default(2),
  sslMode: z.enum(SSL_MODES).optional(),
  sslRootCert: z
    .string()
    .regex(/^(rds|\/.+)$/, "'rds' or an absolute path in the job image")
    .optional(),
  databaseSecurityGroupId: z
    .string()
    .regex(/^sg-[0-9a-f]+$/, 'a security group id like sg-0123456789abcdef0')
    .optional(),
  secretRotationDays: z.number().int().min(1).max(365).optional(),
  offsite: z
    .strictObject({
      enabled: z.boolean().default(true),
      region: z
        .string()
        .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'an AWS region like us-west-2')
        .default('us-west-2'),
      account: z
        .string()
        .regex(/^\d{12}$/, 'a 12-digit AWS account id')
        .optional(),
      allowSameAccount: z.boolean().default(false),
      bucketName: z
        .string()
        .regex(
          /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
          'an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)',
        )
        .optional(),
      replicationTimeControl: z.boolean().default(false),
    })
    .default({ enabled: true, region: 'us-west-2', allowSameAccount: false, replicationTimeControl: false }),
  pitr: pitrSchema.default({ enabled: true, stanza: 'crypto_stock', rpoSeconds: 300, baseBackupMaxAgeDays: 8 }),
  job: jobSchema.default({ cpu: 1024, memoryMiB: 2048, ephemeralStorageGiB: 100 }),
});

/** Where the raw value came from, for error messages. */
const FIX_HINT = 'fix the "dr" object in cdk.json context, or the JSON file passed with `-c configFile=<path>`';

/** sslmodes that do not check the server's certificate against a CA. */
const UNVERIFIED_SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require'];

/** The stand-in scratch server of an example config without one (never deployable: it is a placeholder). */
const EXAMPLE_SCRATCH_SERVER: ServerConfig = {
  host: 'scratch.internal.example',
  port: 5432,
  secret: 'example/scratch-db',
};

/** A value copied from the example rather than written for a real deployment. */
function isPlaceholder(value: string): boolean {
  return /example/i.test(value);
}

/**
 * Validates raw configuration (`undefined` means "all defaults") and fills in defaults.
 * Throws an Error listing every problem with its path and how to fix it.
 *
 * A config with `"example": true` (the one cdk.json ships) may hold placeholders; they are
 * returned in `placeholders`, and the stack warns and refuses to deploy. Any other config is
 * deployable: a placeholder, or a missing offsite account, scratch server or alert subscription,
 * fails here, naming each field.
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
    if (other !== undefined)
      problems.push(
        `databases: "${db.name}" and "${other}" collide (names must differ after upper-casing and mapping - to _); rename one`,
      );
    seen.set(key, db.name);
  }
  const memory = FARGATE_MEMORY[c.job.cpu];
  if (!memory) {
    problems.push(`job.cpu: ${c.job.cpu} is not a Fargate size; use one of ${Object.keys(FARGATE_MEMORY).join(', ')}`);
  } else {
    const [min, max, step] = memory;
    const ok =
      c.job.cpu === 256
        ? [512, 1024, 2048].includes(c.job.memoryMiB)
        : c.job.memoryMiB >= min && c.job.memoryMiB <= max && c.job.memoryMiB % step === 0;
    if (!ok)
      problems.push(
        `job.memoryMiB: ${c.job.memoryMiB} is not valid with cpu ${c.job.cpu}; use ${min}..${max} in steps of ${step}`,
      );
  }
  if (c.databaseSecurityGroupId && !c.vpcId) {
    problems.push(
      'databaseSecurityGroupId: a security group lives in a VPC; set vpcId to the VPC of sg ' +
        c.databaseSecurityGroupId +
        ' (the job must run there to reach it)',
    );
  }
  const sslMode = c.sslMode ?? 'verify-full';
  if (UNVERIFIED_SSL_MODES.includes(sslMode) && !c.insecureTls) {
    problems.push(
      `sslMode: "${sslMode}" does not verify the database server's certificate; use "verify-full" (with sslRootCert "rds" for RDS), or set "insecureTls": true to accept it`,
    );
  }
  const scratch = c.drill.scratchServer;
  if (scratch) {
    const production = c.databases.find((db) => db.host.toLowerCase() === scratch.host.toLowerCase());
    if (production) {
      problems.push(
        `drill.scratchServer.host: ${scratch.host} is the server of production database "${production.name}"; drills create and drop drill_* databases there, so point it at a separate staging server`,
      );
    }
    if (c.databases.some((db) => db.secret === scratch.secret)) {
      problems.push(
        `drill.scratchServer.secret: "${scratch.secret}" is a production database secret; give the staging server a secret of its own`,
      );
    }
  }
  if (problems.length > 0)
    throw new Error(`invalid dr configuration (${FIX_HINT}):\n${problems.map((p) => `  ✖ ${p}`).join('\n')}`);

  // Placeholders, and the settings a deployment cannot do without.
  const placeholders: string[] = [];
  c.databases.forEach((db, i) => {
    if (isPlaceholder(db.host)) placeholders.push(`databases[${i}].host ("${db.host}")`);
    if (isPlaceholder(db.secret)) placeholders.push(`databases[${i}].secret ("${db.secret}")`);
  });
  if (!scratch)
    placeholders.push(
      'drill.scratchServer (missing: a staging server and its own secret, e.g. {"host":"staging.db.internal","secret":"crypto-stock/staging-db"})',
    );
  else {
    if (isPlaceholder(scratch.host)) placeholders.push(`drill.scratchServer.host ("${scratch.host}")`);
    if (isPlaceholder(scratch.secret)) placeholders.push(`drill.scratchServer.secret ("${scratch.secret}")`);
  }
  if (!c.alertEmail && !c.alertTopicArn)
    placeholders.push(
      'alertEmail or alertTopicArn (missing: who the alarms reach, e.g. "alertEmail": "oncall@yourcompany.com")',
    );
  else if (c.alertEmail && isPlaceholder(c.alertEmail)) placeholders.push(`alertEmail ("${c.alertEmail}")`);
  if (c.offsite.enabled && !c.offsite.account && !c.offsite.allowSameAccount) {
    placeholders.push(
      'offsite.account (missing: a separate AWS account for the offsite copy, or "allowSameAccount": true after reading README "Offsite in the same account")',
    );
  }
  if (placeholders.length > 0 && !c.example) {
    throw new Error(
      `invalid dr configuration (${FIX_HINT}): it is not marked "example": true, so it must be deployable; set each of these:\n${placeholders.map((p) => `  ✖ ${p}`).join('\n')}`,
    );
  }

  return {
    ...c,
    drill: {
      scratchServer: scratch ?? EXAMPLE_SCRATCH_SERVER,
      scheduleEnabled: c.drill.scheduleEnabled,
      healthUrls: c.drill.healthUrls,
    },
    sslMode,
    sslRootCert: c.sslRootCert ?? (UNVERIFIED_SSL_MODES.includes(sslMode) ? undefined : 'rds'),
    placeholders,
    job: {
      cpu: c.job.cpu,
      memoryMiB: c.job.memoryMiB,
      dumpJobs: c.job.dumpJobs ?? Math.max(1, Math.floor(c.job.cpu / 1024)),
      ephemeralStorageGiB: c.job.ephemeralStorageGiB,
    },
  };
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}
