/**
 * The Fargate job without ECS: a stand-in for an `EcsRunTask` RUN_JOB state in aws-local-stepfunctions.
 * It starts the real job entry point (job/entry.ts) as a process with the environment ECS would give
 * the container — the environment of the task definition the state names (backup or restore), its
 * secrets, then the state's container overrides — and answers with what RUN_JOB returns (DescribeTasks of the stopped task), so the
 * state's ResultSelector and the exit-code checks after it run unchanged.
 *
 * Usage:
 *   const job = localJob(template, { env: { DR_REPO: `s3://${bucket}/` } });
 *   machine.run(input, { overrides: { taskResourceLocalHandlers: { [RUN_TASK_STATE]: job.handler } } });
 *   job.runs[0].exitCode / .env / .stdout / .result (the `dr --json` object) / .output (stdout+stderr)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Template } from 'aws-cdk-lib/assertions';
import { PG_USER } from '../../../fixtures/pg.ts';
import { s3Env } from '../../support/s3.ts';
import { resolveTokens } from './definition.ts';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** One run of the job process. */
export interface LocalJobRun {
  /** The container's environment as ECS would set it (secrets included). */
  readonly env: Record<string, string>;
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr interleaved, for assertion messages. */
  readonly output: string;
  /** The last stdout line parsed as JSON (the `dr --json` result), when it is JSON. */
  readonly result?: Record<string, unknown>;
}

/** The part of DescribeTasks' task that RUN_JOB returns and the workflows read. */
export interface RunJobResult {
  readonly TaskArn: string;
  readonly LastStatus: 'STOPPED';
  readonly StopCode: 'EssentialContainerExited';
  readonly StoppedReason: string;
  readonly Containers: readonly { readonly Name: string; readonly ExitCode: number; readonly LastStatus: 'STOPPED' }[];
  readonly Overrides: unknown;
}

export interface LocalJobOptions {
  /**
   * Environment set after the task definition's and the overrides' (e.g. DR_REPO pointing at a test
   * bucket, since the vault's name is a deploy-time token).
   * @default - none
   */
  readonly env?: Record<string, string>;
  /**
   * The value of each Secrets Manager secret, by container env var name.
   * @default - `{"username": PG_USER, "password": ""}` for every secret (the local server trusts)
   */
  readonly secretValue?: (envName: string) => string;
}

export interface LocalJob {
  /**
   * The `taskResourceLocalHandlers` entry for an EcsRunTask state: takes the state's Parameters,
   * resolves to a RunJobResult (typed loosely, as aws-local-stepfunctions does not export its JSON type).
   */
  readonly handler: (parameters: any) => Promise<any>;
  /** Every run so far, in start order. */
  readonly runs: LocalJobRun[];
}

interface ContainerOverride {
  readonly Name: string;
  readonly Environment?: readonly { readonly Name: string; readonly Value: string }[];
}

interface JobContainer {
  readonly Name: string;
  readonly Environment?: { Name: string; Value: unknown }[];
  readonly Secrets?: { Name: string }[];
}

/**
 * The container of the task definition a RunTask state names (its family, with or without a
 * revision, or a reference to it), so a state running the wrong task definition runs with that
 * one's environment and secrets, as on ECS.
 */
function containerOf(template: Template, taskDefinition: unknown): JobContainer {
  const all = Object.entries(template.findResources('AWS::ECS::TaskDefinition')) as [
    string,
    { Properties: Record<string, any> },
  ][];
  const named = String(taskDefinition);
  const family = named.replace(/^arn:aws:ecs:[^:]*:[^:]*:task-definition\//, '').replace(/:\d+$/, '');
  const found = all.filter(
    ([logicalId, r]) => r.Properties.Family === family || named === resolveTokens({ Ref: logicalId }),
  );
  if (found.length !== 1) {
    throw new Error(
      `the RunTask state names task definition "${named}", which matches ${found.length} of the template's: ${all.map(([id, r]) => `${id} (family ${r.Properties.Family})`).join(', ')}`,
    );
  }
  return found[0]![1].Properties.ContainerDefinitions[0] as JobContainer;
}

/** A local stand-in for the job: each run uses the container of the task definition its state names. */
export function localJob(template: Template, options: LocalJobOptions = {}): LocalJob {
  const secretValue = options.secretValue ?? (() => JSON.stringify({ username: PG_USER, password: '' }));
  const runs: LocalJobRun[] = [];
  return {
    runs,
    async handler(parameters: Record<string, unknown>): Promise<RunJobResult> {
      const container = containerOf(template, parameters.TaskDefinition);
      const overrides = (parameters.Overrides ?? {}) as { ContainerOverrides?: readonly ContainerOverride[] };
      const override = overrides.ContainerOverrides?.find((o) => o.Name === container.Name);
      if (overrides.ContainerOverrides?.length && !override) {
        throw new Error(
          `container override names ${overrides.ContainerOverrides.map((o) => o.Name).join(', ')}, but the task definition's container is "${container.Name}"`,
        );
      }
      const env: Record<string, string> = {};
      for (const e of container.Environment ?? []) env[e.Name] = resolveTokens(e.Value);
      for (const s of container.Secrets ?? []) env[s.Name] = secretValue(s.Name);
      for (const e of override?.Environment ?? []) env[e.Name] = e.Value;
      Object.assign(env, options.env);
      const run = await runJobProcess(env);
      runs.push(run);
      return {
        TaskArn: `arn:aws:ecs:us-east-1:123456789012:task/local/${randomBytes(8).toString('hex')}`,
        LastStatus: 'STOPPED',
        StopCode: 'EssentialContainerExited',
        StoppedReason: 'Essential container in task exited',
        Containers: [{ Name: container.Name, ExitCode: run.exitCode, LastStatus: 'STOPPED' }],
        Overrides: parameters.Overrides ?? {},
      };
    },
  };
}

/** Runs job/entry.ts like the container's ENTRYPOINT, with only the container's environment (plus PATH and the s3rver AWS settings). */
export function runJobProcess(env: Record<string, string>): Promise<LocalJobRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'job/entry.ts'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...s3Env(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      output += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      output += d;
    });
    child.once('error', reject);
    child.once('close', (code) => {
      let result: Record<string, unknown> | undefined;
      try {
        const parsed: unknown = JSON.parse(stdout.trimEnd().split('\n').pop() ?? '');
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) result = parsed as Record<string, unknown>;
      } catch {
        // not --json output
      }
      resolve({ env, exitCode: code ?? 1, stdout, stderr, output, result });
    });
  });
}
