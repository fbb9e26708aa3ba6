/**
 * The synthesized backup state machine, executed by aws-local-stepfunctions. Only the ECS RunTask
 * call is replaced (ECS has no local equivalent): the handler starts the real job entry point as a
 * process with the environment ECS would give the container (task definition env + secrets +
 * the state's container overrides), against the real PostgreSQL server and s3rver.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { StateMachine } from 'aws-local-stepfunctions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobEnv } from '../../../core/contract.ts';
import { MANIFEST_SUFFIX } from '../../../core/layout.ts';
import { BackupWorkflow } from '../../../lib/constructs/workflows/backup-workflow.ts';
import { PG_HOST, PG_PORT, PG_USER, createDatabase, dropDatabase, uniqueName } from '../../support/pg.ts';
import { createTestBucket, s3Client, s3Env } from '../../support/s3.ts';
import { buildStack, onlyResource } from '../helpers.ts';
import { definitionOf, resolveTokens } from './definition.ts';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

interface RunTaskParameters {
  readonly Overrides: { readonly ContainerOverrides: readonly { readonly Name: string; readonly Environment: readonly { Name: string; Value: string }[] }[] };
}

interface LocalWorkflow {
  run(input: Record<string, string>): Promise<{ output?: any; error?: { name: string; message: string }; tasks: Record<string, string>[]; logs: string[] }>;
}

/** Synthesizes the stack for `databases` on the local server and prepares its definition to run locally. */
function localWorkflow(databases: string[], bucket: string): LocalWorkflow {
  const { template } = buildStack(
    { databases: databases.map((name) => ({ name, host: PG_HOST, port: PG_PORT, secret: 'test/db' })), sslMode: 'disable', backupConcurrency: 2 },
    // The image is irrelevant here (the job runs as a local process); skip staging the Docker context.
    { jobImage: ecs.ContainerImage.fromRegistry('public.ecr.aws/docker/library/busybox:latest') },
  );
  const machine = new StateMachine(definitionOf(template) as any);
  const container = onlyResource(template, 'AWS::ECS::TaskDefinition').Properties.ContainerDefinitions[0];

  return {
    async run(input) {
      const tasks: Record<string, string>[] = [];
      const logs: string[] = [];
      const execution = machine.run(input, {
        overrides: {
          taskResourceLocalHandlers: {
            [BackupWorkflow.RUN_TASK_STATE]: async (parameters) => {
              const override = (parameters as unknown as RunTaskParameters).Overrides.ContainerOverrides[0];
              expect(override.Name).toBe(container.Name);
              const env: Record<string, string> = {};
              for (const e of container.Environment) env[e.Name] = resolveTokens(e.Value);
              for (const s of container.Secrets) env[s.Name] = JSON.stringify({ username: PG_USER, password: '' });
              for (const e of override.Environment) env[e.Name] = e.Value;
              // The vault bucket's name is a deploy-time token: point the repository at the test bucket.
              env[JobEnv.repo] = `s3://${bucket}/`;
              tasks.push(env);
              const { exitCode, output } = await runJob(env);
              logs.push(output);
              return {
                TaskArn: `arn:aws:ecs:us-east-1:123456789012:task/local/${randomBytes(8).toString('hex')}`,
                LastStatus: 'STOPPED',
                StopCode: 'EssentialContainerExited',
                Containers: [{ Name: override.Name, ExitCode: exitCode }],
              };
            },
          },
        },
      });
      try {
        return { output: await execution.result, tasks, logs };
      } catch (err) {
        const cause = (err as { cause?: { name: string; message: string } }).cause;
        if (!cause) throw err;
        return { error: { name: cause.name, message: cause.message }, tasks, logs };
      }
    },
  };
}

/** Runs job/entry.ts like the container's ENTRYPOINT, with only the container's environment. */
function runJob(env: Record<string, string>): Promise<{ exitCode: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'job/entry.ts'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...s3Env(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ exitCode: code ?? 1, output }));
  });
}

async function manifestKeys(bucket: string, database: string): Promise<string[]> {
  const listed = await s3Client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `backups/${database}/` }));
  return (listed.Contents ?? []).map((o) => o.Key!).filter((k) => k.endsWith(MANIFEST_SUFFIX));
}

describe('backup workflow executed locally (ECS RunTask replaced by a local job process: no local ECS)', () => {
  const first = uniqueName('sfn_a');
  const second = uniqueName('sfn_b');
  const missing = uniqueName('sfn_missing');
  let bucket: string;

  beforeAll(async () => {
    bucket = await createTestBucket('dr-sfn');
    await createDatabase(first);
    await createDatabase(second);
  });
  afterAll(async () => {
    await dropDatabase(first);
    await dropDatabase(second);
  });

  it('backs up a database: the execution succeeds and a manifest appears in the bucket', async () => {
    const { output, error, tasks, logs } = await localWorkflow([first], bucket).run({ tier: 'weekly' });
    expect(error, logs.join('\n')).toBeUndefined();
    expect(output).toMatchObject({ tier: 'weekly', databases: [first], anyFailed: false });
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ [JobEnv.command]: 'backup', [JobEnv.database]: first, [JobEnv.tier]: 'weekly', [JobEnv.sslMode]: 'disable' });
    const keys = await manifestKeys(bucket, first);
    expect(keys).toEqual([expect.stringMatching(new RegExp(`^backups/${first}/\\d{8}T\\d{6}Z-[0-9a-f]{6}\\.manifest\\.json$`))]);
    const manifest = JSON.parse(await (await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: keys[0] }))).Body!.transformToString());
    expect(manifest.tier).toBe('weekly');
  });

  it('fails the execution when the container exits non-zero', async () => {
    const { output, error, logs } = await localWorkflow([missing], bucket).run({});
    expect(output).toBeUndefined();
    expect(logs.join('')).toContain(`database "${missing}" does not exist`);
    expect(error).toEqual({ name: BackupWorkflow.BACKUPS_FAILED_ERROR, message: expect.stringContaining(`backup failed for ["${missing}"]`) });
    expect(await manifestKeys(bucket, missing)).toEqual([]);
  });

  it('backs up the other databases when one fails, then fails naming only that one', async () => {
    const before = (await manifestKeys(bucket, first)).length;
    const { error, tasks } = await localWorkflow([first, missing, second], bucket).run({});
    expect(tasks.map((t) => t[JobEnv.database]).sort()).toEqual([first, missing, second].sort());
    expect(error?.name).toBe(BackupWorkflow.BACKUPS_FAILED_ERROR);
    expect(error?.message).toContain(`["${missing}"]`);
    expect(error?.message).not.toContain(first);
    expect(error?.message).not.toContain(second);
    expect(await manifestKeys(bucket, first)).toHaveLength(before + 1);
    expect(await manifestKeys(bucket, second)).toHaveLength(1);
  });

  it('rejects an unknown tier before starting any task', async () => {
    const { error, tasks } = await localWorkflow([first], bucket).run({ tier: 'yearly' });
    expect(error?.name).toBe('DR.InvalidInput');
    expect(tasks).toEqual([]);
  });
});
