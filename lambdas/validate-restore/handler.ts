/**
 * The restore state machine's first step: validates the execution input (core/restore/request.ts)
 * and says what the job must run. An invalid request throws InvalidRestoreRequest, whose message
 * lists every problem and how to fix it; the state machine fails with it before any task runs.
 *
 * Event: `{ "request": <the execution input> }`.
 * Environment (core/contract.ts RestoreEnv): DR_RESTORE_DATABASES, the configured databases, and
 * DR_RESTORE_PITR, 'true' when mode pitr is available.
 * Result: `{ request, job: { database, targetDatabase, args (DR_ARGS, a JSON string), host, port, secretEnv } }`.
 */
import { z } from 'zod';
import { RestoreEnv } from '../../core/contract.ts';
import { parseRestoreRequest, type RestoreRequest, restoreJobRequest } from '../../core/restore/request.ts';
import { json, readEnv } from '../shared/env.ts';
import { ExecutionArnField, type Observability, observability, startInvocation } from '../shared/observability.ts';

const EventSchema = z.object({ ...ExecutionArnField, request: z.unknown() });

const DatabasesSchema = z
  .array(
    z.strictObject({
      name: z.string().min(1),
      host: z.string().min(1),
      /** A string: it becomes an ECS environment value. */
      port: z.string().regex(/^\d+$/),
      secretEnv: z.string().min(1),
    }),
  )
  .min(1);
export type RestoreDatabase = z.infer<typeof DatabasesSchema>[number];

export interface ValidatedRestore {
  readonly request: RestoreRequest;
  /** The job's container overrides, as strings. */
  readonly job: {
    readonly database: string;
    readonly targetDatabase: string;
    readonly args: string;
    readonly host: string;
    readonly port: string;
    readonly secretEnv: string;
  };
}

const EnvSchema = z.object({
  [RestoreEnv.databases]: json(DatabasesSchema, 'a JSON array of {name, host, port, secretEnv}'),
  [RestoreEnv.pointInTimeRecovery]: z
    .string()
    .optional()
    .transform((v) => v === 'true'),
});

export interface ValidateRestoreDeps {
  /** Read once, at the first invocation: the list is fixed at deploy time. @default - process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** @default - observability('validate-restore') */
  readonly observability?: Observability;
}

export function createHandler(
  deps: ValidateRestoreDeps,
): (event: unknown, context?: unknown) => Promise<ValidatedRestore> {
  const { logger } = deps.observability ?? observability('validate-restore');
  let env: z.output<typeof EnvSchema> | undefined;
  return async (event, context) => {
    startInvocation(logger, event, context);
    env ??= readEnv(EnvSchema, deps.env);
    const databases = env[RestoreEnv.databases];
    const { request: raw } = EventSchema.parse(event);
    const request = parseRestoreRequest(raw, {
      databases: databases.map((d) => d.name),
      pointInTimeRecovery: env[RestoreEnv.pointInTimeRecovery],
    });
    const job = restoreJobRequest(request);
    const db = databases.find((d) => d.name === request.database)!;
    return {
      request,
      job: {
        database: job.database,
        targetDatabase: job.targetDatabase,
        args: JSON.stringify(job.args),
        host: db.host,
        port: db.port,
        secretEnv: db.secretEnv,
      },
    };
  };
}

export function defaultDeps(): ValidateRestoreDeps {
  return { env: process.env, observability: observability('validate-restore') };
}

export const handler = createHandler(defaultDeps());
