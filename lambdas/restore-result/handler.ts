/**
 * The restore state machine's step after the Fargate task: reads the result the job recorded in
 * the vault (results/restores/<execution-name>.json, core/job-result.ts) and shapes it into the
 * execution's summary, or a one-line failure reason for the alert (core/restore/summary.ts).
 * Reading never throws for a missing record: the outcome then says it was not recorded.
 *
 * Event: `{ executionName, executionStartedAt, request (validated), containers (RUN_JOB's Containers) }`.
 * Environment (core/contract.ts RestoreEnv): DR_REPO, the vault as s3://bucket/.
 */
import { z } from 'zod';
import { RestoreEnv } from '../../core/contract.ts';
import { jobResultKey, readJobResult } from '../../core/job-result.ts';
import { openRepository, type Repository } from '../../core/repository/index.ts';
import { RestoreRequestSchema } from '../../core/restore/request.ts';
import { type RestoreOutcome, summarizeRestore } from '../../core/restore/summary.ts';
import { readEnv, required } from '../shared/env.ts';
import { ExecutionArnField, type Observability, observability, startInvocation } from '../shared/observability.ts';

const EventSchema = z.object({
  ...ExecutionArnField,
  executionName: z.string().min(1),
  executionStartedAt: z.string().min(1),
  request: RestoreRequestSchema,
  /** ECS DescribeTasks' containers: the job's one container, ExitCode absent when it never ran. */
  containers: z.array(z.looseObject({ ExitCode: z.number().int().optional() })).default([]),
});

const EnvSchema = z.object({ [RestoreEnv.repo]: required });

export interface RestoreResultDeps {
  /** Read at the first invocation. @default - process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** @default - observability('restore-result') */
  readonly observability?: Observability;
}

export function createHandler(deps: RestoreResultDeps): (event: unknown, context?: unknown) => Promise<RestoreOutcome> {
  const { logger } = deps.observability ?? observability('restore-result');
  let repo: Repository | undefined;
  return async (raw, context) => {
    startInvocation(logger, raw, context);
    const event = EventSchema.parse(raw);
    repo ??= openRepository(readEnv(EnvSchema, deps.env)[RestoreEnv.repo]);
    const key = jobResultKey('restore', event.executionName);
    return summarizeRestore({
      record: await readJobResult(repo, key),
      request: event.request,
      exitCode: event.containers[0]?.ExitCode,
      executionName: event.executionName,
      executionStartedAt: event.executionStartedAt,
      resultKey: key,
    });
  };
}

export function defaultDeps(): RestoreResultDeps {
  return { env: process.env, observability: observability('restore-result') };
}

export const handler = createHandler(defaultDeps());
