/**
 * The verify Lambda: checks a restored (drill scratch) database against its backup's manifest,
 * with the same core as `dr verify`. A failed check is a result ({passed: false, ...}), never an
 * exception: the drill state machine decides what to do with it. It throws only when it cannot
 * verify at all (bad event, unreadable manifest, unreachable server).
 *
 * Event (validated, unknown fields refused so a misspelt one cannot silently skip a check):
 *   { database, backupId, targetDatabase, host?, port?, healthUrls?, healthTimeoutMs? }
 * Environment (names in core/contract.ts VerifyEnv, set by the CDK side): DR_REPO,
 * DR_DB_SECRET_ARN, DR_DB_CA_BUNDLE (optional), DR_DB_SSLMODE (optional).
 *
 * TLS, with libpq's sslmode meanings: verify-full (certificate chain and host name checked) when
 * a CA bundle is configured; otherwise prefer (TLS when the server offers it, unverified; plain
 * text when it does not). DR_DB_SSLMODE overrides: disable, prefer, require or verify-full.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type pg from 'pg';
import { z } from 'zod';
import { VerifyEnv } from '../../core/contract.ts';
import { DrError } from '../../core/errors.ts';
import { connectTls, parseSecret, sslModeOf } from '../../core/pg/secret-connection.ts';
import { readManifest, resolveBackup } from '../../core/repository/backups.ts';
import { openRepository } from '../../core/repository/index.ts';
import { type VerifyResult, verifyAgainstManifest } from '../../core/verify/verify.ts';
import { optional, readEnv, required } from '../shared/env.ts';
import { ExecutionArnField, type Observability, observability, startInvocation } from '../shared/observability.ts';
import { type SecretReader, secretReader } from '../shared/secrets.ts';

export { sslModeOf };

export const VerifyEventSchema = z.strictObject({
  ...ExecutionArnField,
  /** Source database name: the backup's folder in the repository. */
  database: z.string().min(1),
  /** A backup id, or `latest` (the newest complete backup of `database`). */
  backupId: z.string().min(1),
  /** The restored database to check, on the secret's server. */
  targetDatabase: z.string().min(1),
  /** @default - the secret's host */
  host: z.string().min(1).optional(),
  /** A number or numeric string (Step Functions paths). @default - the secret's port, else 5432 */
  port: z.coerce.number().int().min(1).max(65535).optional(),
  /** Application health endpoints that must answer 2xx. @default - none */
  healthUrls: z.array(z.url({ protocol: /^https?$/ })).default([]),
  /** @default 5000 */
  healthTimeoutMs: z.number().int().positive().optional(),
});

export type VerifyEvent = z.input<typeof VerifyEventSchema>;

const EnvSchema = z.object({
  [VerifyEnv.repo]: required,
  [VerifyEnv.secretArn]: required,
  [VerifyEnv.caBundle]: optional,
  [VerifyEnv.sslMode]: optional,
});

/** Step Functions carries at most 256 KiB between states: beyond this, passing checks are left out. */
const MAX_RESULT_BYTES = 200_000;

export interface VerifyHandlerDeps {
  /** SecretString of the secret `arn` (Secrets Manager GetSecretValue in the deployed handler). */
  readonly getSecret: SecretReader;
  /** Read at each invocation. @default - process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** @default - observability('verify') */
  readonly observability?: Observability;
}

export function createHandler(deps: VerifyHandlerDeps): (event: unknown, context?: unknown) => Promise<VerifyResult> {
  const { logger } = deps.observability ?? observability('verify');
  return async (raw, context) => {
    startInvocation(logger, raw, context);
    const parsed = VerifyEventSchema.safeParse(raw);
    if (!parsed.success) {
      // A failed parse has at least one issue.
      const issue = parsed.error.issues[0]!;
      throw new DrError(
        `verify event is invalid: ${issue.path.join('.') || '(event)'}: ${issue.message}`,
        'send {database, backupId, targetDatabase, host?, port?, healthUrls?, healthTimeoutMs?}',
      );
    }
    const event = parsed.data;
    const env = readEnv(EnvSchema, deps.env);
    const repoUrl = env[VerifyEnv.repo];
    const secretArn = env[VerifyEnv.secretArn];
    const caBundle = env[VerifyEnv.caBundle];
    const sslMode = sslModeOf(env[VerifyEnv.sslMode], caBundle);

    const repo = openRepository(repoUrl);
    const candidates = await resolveBackup(repo, event.backupId, event.database);
    const manifest = await readManifest(repo, candidates.database, candidates.ids[0]!);

    const secret = parseSecret(await deps.getSecret(secretArn), secretArn);
    const config: pg.ClientConfig = {
      host: event.host ?? secret.host,
      port: event.port ?? secret.port ?? 5432,
      user: secret.username,
      password: secret.password,
      database: event.targetDatabase,
      connectionTimeoutMillis: 10_000,
      application_name: 'dr-verify',
    };
    if (!config.host)
      throw new DrError(
        `no database host: the secret ${secretArn} has none and the event gives none`,
        'pass "host" in the event or store it in the secret',
      );
    const target = `postgres://${encodeURIComponent(secret.username)}@${config.host}:${config.port}/${encodeURIComponent(event.targetDatabase)}`;
    const display = `${secret.username}@${config.host}:${config.port}/${event.targetDatabase}`;

    const result = await verifyAgainstManifest({
      manifest,
      target,
      healthUrls: event.healthUrls,
      healthTimeoutMs: event.healthTimeoutMs,
      connect: () => connectTls(config, sslMode, caBundle, display),
    });
    logger.info(`verification ${result.passed ? 'PASS' : 'FAIL'}`, {
      verify: result.passed ? 'PASS' : 'FAIL',
      backupId: result.backupId,
      target: result.target,
      ...result.totals,
      failed: result.checks.filter((c) => !c.passed).map((c) => `${c.name} ${c.object}`),
    });
    return fitPayload(result);
  };
}

/** Keeps the result under the Step Functions payload limit: failed checks always stay. */
export function fitPayload(result: VerifyResult, maxBytes = MAX_RESULT_BYTES): VerifyResult {
  if (Buffer.byteLength(JSON.stringify(result)) <= maxBytes) return result;
  const checks = result.checks.filter((c) => !c.passed);
  return { ...result, checks, omittedPassedChecks: result.checks.length - checks.length };
}

export function defaultDeps(): VerifyHandlerDeps {
  return { getSecret: secretReader(new SecretsManagerClient({})), observability: observability('verify') };
}

export const handler = createHandler(defaultDeps());
