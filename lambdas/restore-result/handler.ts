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

const EventSchema = z.object({
  executionName: z.string().min(1),
  executionStartedAt: z.string().min(1),
  request: RestoreRequestSchema,
  /** ECS DescribeTasks' containers: the job's one container, ExitCode absent when it never ran. */
  containers: z.array(z.looseObject({ ExitCode: z.number().int().optional() })).default([]),
});

export function createHandler(env: NodeJS.ProcessEnv = process.env): (event: unknown) => Promise<RestoreOutcome> {
  let repo: Repository | undefined;
  return async (raw) => {
    const event = EventSchema.parse(raw);
    const url = env[RestoreEnv.repo];
    if (!url) throw new Error(`${RestoreEnv.repo} is not set; it is set by the RestoreWorkflow construct`);
    repo ??= openRepository(url);
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

export const handler = createHandler();
