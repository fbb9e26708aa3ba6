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

const EventSchema = z.object({ request: z.unknown() });

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

/** Read once per container: the list is fixed at deploy time. */
function configuredDatabases(env: NodeJS.ProcessEnv): RestoreDatabase[] {
  const raw = env[RestoreEnv.databases];
  const parsed = DatabasesSchema.safeParse(raw ? JSON.parse(raw) : undefined);
  if (!parsed.success)
    throw new Error(
      `${RestoreEnv.databases} is missing or malformed (${parsed.error.issues[0].message}); it is set by the RestoreWorkflow construct`,
    );
  return parsed.data;
}

export function createHandler(env: NodeJS.ProcessEnv = process.env): (event: unknown) => Promise<ValidatedRestore> {
  let databases: RestoreDatabase[] | undefined;
  return async (event) => {
    databases ??= configuredDatabases(env);
    const { request: raw } = EventSchema.parse(event);
    const request = parseRestoreRequest(raw, {
      databases: databases.map((d) => d.name),
      pointInTimeRecovery: env[RestoreEnv.pointInTimeRecovery] === 'true',
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

export const handler = createHandler();
