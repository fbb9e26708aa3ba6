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
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
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

export const DrillCleanupEventSchema = z.strictObject({
  /** The scratch database to drop; must be named drill_*. */
  database: z.string().min(1).optional(),
  /** Drop every drill_*_<yyyymmdd> database dated on or before this time's UTC day (epoch ms). */
  sweepBefore: z.coerce.number().int().positive().optional(),
  /** @default - the secret's host */
  host: z.string().min(1).optional(),
  /** @default - the secret's port, else 5432 */
  port: z.coerce.number().int().min(1).max(65535).optional(),
});

export interface DrillCleanupDeps {
  /** SecretString of the secret `arn` (Secrets Manager GetSecretValue in the deployed handler). */
  readonly getSecret: (arn: string) => Promise<string>;
  /** @default - process.env */
  readonly env?: NodeJS.ProcessEnv;
}

/** What a sweep dropped. */
export interface SweepResult {
  readonly dropped: readonly string[];
}

export function createDrillCleanupHandler(
  deps: DrillCleanupDeps,
): (event: unknown) => Promise<DropResult | SweepResult> {
  return async (raw) => {
    const parsed = DrillCleanupEventSchema.safeParse(raw);
    const usage = 'send {database: "drill_<db>_<yyyymmdd>", host?, port?} or {sweepBefore: <epoch ms>, host?, port?}';
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new DrError(
        `drill cleanup event is invalid: ${issue.path.join('.') || '(event)'}: ${issue.message}`,
        usage,
      );
    }
    const event = parsed.data;
    if ((event.database === undefined) === (event.sweepBefore === undefined))
      throw new DrError('drill cleanup event needs exactly one of database and sweepBefore', usage);
    if (event.database !== undefined) assertScratchName(event.database); // before any connection or secret read
    const env = deps.env ?? process.env;
    const secretArn = env[DrillCleanupEnv.secretArn];
    if (!secretArn)
      throw new DrError(
        `environment variable ${DrillCleanupEnv.secretArn} is not set`,
        'the CDK construct sets it; redeploy the stack',
      );
    const secret = parseSecret(await deps.getSecret(secretArn), secretArn);
    const host = event.host ?? secret.host;
    if (!host)
      throw new DrError(
        `no database host: the secret ${secretArn} has none and the event gives none`,
        'pass "host" in the event or store it in the secret',
      );
    const port = event.port ?? secret.port ?? 5432;
    const caBundle = env[DrillCleanupEnv.caBundle] || undefined;
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
      sslModeOf(env[DrillCleanupEnv.sslMode] || undefined, caBundle),
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
        console.log(JSON.stringify({ cleanup: 'SWEPT', dropped: stale, host }));
        return { dropped: stale };
      }
      const result = await dropScratchDatabase(client, event.database!);
      console.log(JSON.stringify({ cleanup: result.existed ? 'DROPPED' : 'ABSENT', database: result.database, host }));
      return result;
    } finally {
      await client.end();
    }
  };
}

const secrets = new SecretsManagerClient({});

export const handler = createDrillCleanupHandler({
  async getSecret(arn) {
    const response = await secrets.send(new GetSecretValueCommand({ SecretId: arn }));
    if (response.SecretString === undefined)
      throw new DrError(`secret ${arn} has no string value`, 'store the credentials as a JSON SecretString');
    return response.SecretString;
  },
});
