/**
 * How a job's `dr --json` result gets from the Fargate container to the state machine. ECS RunTask
 * (RUN_JOB) returns exit codes, not output, so the job writes one small JSON record to the vault:
 *
 *   results/<command>s/<execution-name>.json    e.g. results/restores/manual-2026-01-12.json
 *
 * and a workflow step reads it back by the execution's name. The record is written whether the
 * command succeeded or not (a failure carries dr's error and hint, which become the alert's reason),
 * and stays in the vault as the audit trail of who-restored-what. Keys are write-once, like every
 * repository object; execution names are unique per state machine, so one execution writes one key.
 */
import { z } from 'zod';
import type { JobCommand } from './contract.ts';
import { DrError } from './errors.ts';
import type { Tier } from './repository/tiers.ts';
import type { Repository } from './repository/types.ts';

export const RESULTS_ROOT = 'results';

/** Retention tier of result records (lifecycle by tag): kept as long as monthly backups. */
export const RESULT_TIER: Tier = 'monthly';

/** Step Functions execution names: 1-80 characters, letters, digits, - and _. */
const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/** The folder of one command's results, e.g. `results/restores/`. */
export function jobResultsPrefix(command: JobCommand): string {
  return `${RESULTS_ROOT}/${command}s/`;
}

/** The key of one execution's result. */
export function jobResultKey(command: JobCommand, executionName: string): string {
  if (!EXECUTION_NAME.test(executionName)) {
    throw new DrError(`"${executionName}" is not a Step Functions execution name`, 'use 1-80 letters, digits, - and _');
  }
  return `${jobResultsPrefix(command)}${executionName}.json`;
}

export const JobResultRecordSchema = z.object({
  command: z.string(),
  exitCode: z.number().int(),
  finishedAt: z.string(),
  /** The command's `--json` line: `{ok: true, ...result}` or `{ok: false, error, hint}`; null if it printed none. */
  result: z.record(z.string(), z.unknown()).nullable(),
});
export type JobResultRecord = z.infer<typeof JobResultRecordSchema>;

export async function writeJobResult(repo: Repository, key: string, record: JobResultRecord): Promise<void> {
  await repo.put(key, `${JSON.stringify(record)}\n`, { tier: RESULT_TIER, contentType: 'application/json' });
}

/** The record at `key`, or undefined when there is none (the job never started or could not write). */
export async function readJobResult(repo: Repository, key: string): Promise<JobResultRecord | undefined> {
  if (!(await repo.head(key))) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of await repo.get(key)) chunks.push(Buffer.from(chunk as Buffer));
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JobResultRecordSchema.parse(JSON.parse(text));
  } catch {
    throw new DrError(
      `the job result ${key} in ${repo.url} is not a result record`,
      'it is written only by the job; inspect the object and the job logs',
    );
  }
}

/** The last complete line written to a stream, parsed as a JSON object (the `--json` result). */
export function lastJsonObject(text: string): Record<string, unknown> | null {
  const line = text.trimEnd().split('\n').pop() ?? '';
  try {
    const value: unknown = JSON.parse(line);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
