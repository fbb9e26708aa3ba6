/**
 * The drill cleanup Lambda: drops a drill's scratch database on the staging server. The drill
 * state machine calls it after every drill, also when the restore or the verification failed.
 * It refuses any name not `drill_*` (core/drill/scratch.ts), whatever the event says.
 *
 * Event (validated): { database: "drill_<db>_<yyyymmdd>", host?, port? }, or, from the EventBridge
 * rule on a drill execution that timed out or was aborted (its cleanup step never ran):
 * { sweepBefore: <execution start, epoch ms>, host?, port? }, which drops every drill_*_<yyyymmdd>
 * database of that day or older (leftovers of earlier stopped drills too).
 * Environment (core/contract.ts DrillCleanupEnv): DR_DB_SECRET_ARN (the staging server's secret),
 * DR_DB_CA_BUNDLE / DR_DB_SSLMODE (optional, as for the verify Lambda).
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { DrillCleanupEnv } from '../../core/contract.ts';
import {
  assertScratchName,
  type DropResult,
  dropScratchDatabase,
  SCRATCH_NAME_PATTERN,
  scratchDay,
} from '../../core/drill/scratch.ts';
import { DrError } from '../../core/errors.ts';
import { connectTls, parseSecret, sslModeOf } from '../../core/pg/secret-connection.ts';
import { optional, readEnv, required } from '../shared/env.ts';
import { ExecutionArnField, type Observability, observability, startInvocation } from '../shared/observability.ts';
import { type SecretReader, secretReader } from '../shared/secrets.ts';

export const DrillCleanupEventSchema = z.strictObject({
  ...ExecutionArnField,
  /** The scratch database to drop; must be named drill_*. */
  database: z.string().min(1).optional(),
  /** Drop every drill_*_<yyyymmdd> database dated on or before this time's UTC day (epoch ms). */
  sweepBefore: z.coerce.number().int().positive().optional(),
  /** @default - the secret's host */
  host: z.string().min(1).optional(),
  /** @default - the secret's port, else 5432 */
  port: z.coerce.number().int().min(1).max(65535).optional(),
});

const EnvSchema = z.object({
  [DrillCleanupEnv.secretArn]: required,
  [DrillCleanupEnv.caBundle]: optional,
  [DrillCleanupEnv.sslMode]: optional,
});

export interface DrillCleanupDeps {
  /** SecretString of the secret `arn` (Secrets Manager GetSecretValue in the deployed handler). */
  readonly getSecret: SecretReader;
  /** Read at each invocation, after the event is checked. @default - process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** @default - observability('drill-cleanup') */
  readonly observability?: Observability;
}

/** What a sweep dropped. */
export interface SweepResult {
  readonly dropped: readonly string[];
}

export function createHandler(
  deps: DrillCleanupDeps,
): (event: unknown, context?: unknown) => Promise<DropResult | SweepResult> {
  const { logger } = deps.observability ?? observability('drill-cleanup');
  return async (raw, context) => {
    startInvocation(logger, raw, context);
    const parsed = DrillCleanupEventSchema.safeParse(raw);
    const usage = 'send {database: "drill_<db>_<yyyymmdd>", host?, port?} or {sweepBefore: <epoch ms>, host?, port?}';
    if (!parsed.success) {
      // A failed parse has at least one issue.
      const issue = parsed.error.issues[0]!;
      throw new DrError(
        `drill cleanup event is invalid: ${issue.path.join('.') || '(event)'}: ${issue.message}`,
        usage,
      );
    }
    const event = parsed.data;
    if ((event.database === undefined) === (event.sweepBefore === undefined))
      throw new DrError('drill cleanup event needs exactly one of database and sweepBefore', usage);
    if (event.database !== undefined) assertScratchName(event.database); // before any connection or secret read
    const env = readEnv(EnvSchema, deps.env);
    const secretArn = env[DrillCleanupEnv.secretArn];
    const secret = parseSecret(await deps.getSecret(secretArn), secretArn);
    const host = event.host ?? secret.host;
    if (!host)
      throw new DrError(
        `no database host: the secret ${secretArn} has none and the event gives none`,
        'pass "host" in the event or store it in the secret',
      );
    const port = event.port ?? secret.port ?? 5432;
    const caBundle = env[DrillCleanupEnv.caBundle];
    const client = await connectTls(
      {
        host,
        port,
        user: secret.username,
        password: secret.password,
        database: 'postgres',
        connectionTimeoutMillis: 10_000,
        application_name: 'dr-drill-cleanup',
      },
      sslModeOf(env[DrillCleanupEnv.sslMode], caBundle),
      caBundle,
      `${secret.username}@${host}:${port}/postgres`,
    );
    try {
      if (event.sweepBefore !== undefined) {
        const lastDay = scratchDay(new Date(event.sweepBefore));
        const found = await client.query<{ datname: string }>(
          'SELECT datname FROM pg_database WHERE datname ~ $1 ORDER BY datname',
          [SCRATCH_NAME_PATTERN],
        );
        const stale = found.rows.map((r) => r.datname).filter((name) => name.slice(-8) <= lastDay);
        for (const name of stale) await dropScratchDatabase(client, name);
        logger.info(`swept ${stale.length} drill scratch database(s) on ${host}`, {
          cleanup: 'SWEPT',
          dropped: stale,
          host,
        });
        return { dropped: stale };
      }
      const result = await dropScratchDatabase(client, event.database!);
      logger.info(`scratch database ${result.database} ${result.existed ? 'dropped' : 'was absent'} on ${host}`, {
        cleanup: result.existed ? 'DROPPED' : 'ABSENT',
        database: result.database,
        host,
      });
      return result;
    } finally {
      await client.end();
    }
  };
}

export function defaultDeps(): DrillCleanupDeps {
  return { getSecret: secretReader(new SecretsManagerClient({})), observability: observability('drill-cleanup') };
}

export const handler = createHandler(defaultDeps());
