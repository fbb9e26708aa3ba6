/**
 * The Fargate job's entry point. The state machine passes what to do through container overrides
 * (names in core/contract.ts); this turns them into a `dr` command line and libpq environment, then
 * runs the very same CLI a user runs on a laptop. The database password reaches libpq through
 * PGPASSWORD, never through argv or output.
 */
import { Writable } from 'node:stream';
import { z } from 'zod';
import { main } from '../bin/dr.ts';
import { JOB_COMMANDS, type JobCommand, JobEnv, JobExit } from '../core/contract.ts';
import { DrError } from '../core/errors.ts';
import { jobResultKey, lastJsonObject, writeJobResult } from '../core/job-result.ts';
import { openRepository } from '../core/repository/index.ts';

const DbSecretSchema = z.object({
  username: z.string().min(1),
  password: z.string(),
  host: z.string().optional(),
  port: z.union([z.number(), z.string()]).optional(),
});

export interface JobInvocation {
  readonly argv: string[];
  /** libpq variables to add to the process environment. */
  readonly pgEnv: Record<string, string>;
}

/** Pure translation of the job environment; throws DrError naming the missing setting. */
export function jobInvocation(env: NodeJS.ProcessEnv): JobInvocation {
  const required = (name: string): string => {
    const value = env[name];
    if (!value)
      throw new DrError(
        `job setting ${name} is not set`,
        'the state machine passes it as a container override; check the task definition and workflow',
      );
    return value;
  };
  const command = env[JobEnv.command] ?? 'backup';
  if (!isJobCommand(command))
    throw new DrError(`unknown job command "${command}"`, `use one of ${Object.keys(JOB_COMMANDS).join(', ')}`);
  const database = required(JobEnv.database);
  const extra = jobArgs(command, env[JobEnv.args]);
  const secretVar = required(JobEnv.secretEnv);
  const rawSecret = required(secretVar);
  let secret: z.infer<typeof DbSecretSchema>;
  try {
    secret = DbSecretSchema.parse(JSON.parse(rawSecret));
  } catch {
    throw new DrError(
      `the secret in ${secretVar} is not JSON with "username" and "password"`,
      'store the database secret in the RDS format {"username":…,"password":…}',
    );
  }
  const host = env[JobEnv.dbHost] ?? secret.host;
  if (!host) throw new DrError(`no database host for ${database}`, `set ${JobEnv.dbHost} or "host" in the secret`);
  const port = String(env[JobEnv.dbPort] ?? secret.port ?? 5432);
  const pgEnv: Record<string, string> = {
    PGHOST: host,
    PGPORT: port,
    PGUSER: secret.username,
    PGPASSWORD: secret.password,
    PGSSLMODE: env[JobEnv.sslMode] ?? 'prefer',
    // Only when configured: libpq treats sslmode=require as verify-ca whenever a root cert is set.
    ...(env[JobEnv.sslRootCert] ? { PGSSLROOTCERT: env[JobEnv.sslRootCert] } : {}),
  };
  const url = `postgres://${encodeURIComponent(secret.username)}@${host.includes(':') ? `[${host}]` : host}:${port}/${encodeURIComponent(database)}`;
  const repo = required(JobEnv.repo);
  const common = ['--repo', repo, '--json'];
  if (env[JobEnv.jobs]) common.push('--jobs', env[JobEnv.jobs]!);
  switch (command) {
    case 'backup': {
      const argv = ['backup', '--db', url, ...common, ...extra];
      if (env[JobEnv.kmsKeyId]) argv.push('--kms-key-id', env[JobEnv.kmsKeyId]!);
      if (env[JobEnv.tier]) argv.push('--tier', env[JobEnv.tier]!);
      // Only backup writes to the repository; restores read.
      if (env[JobEnv.objectLock]) argv.push('--object-lock', env[JobEnv.objectLock]!);
      return { argv, pgEnv };
    }
    case 'restore': {
      const targetDatabase = env[JobEnv.targetDatabase] || database;
      const targetUrl = url.replace(/\/[^/]*$/, `/${encodeURIComponent(targetDatabase)}`);
      if (extra.includes('--at')) {
        // Point in time: the task definition's pgBackRest repository and stanza instead of --repo.
        const pitr = [
          '--pitr',
          pitrSetting(env, JobEnv.pitrRepo),
          '--stanza',
          pitrSetting(env, JobEnv.pitrStanza),
          '--json',
        ];
        if (env[JobEnv.jobs]) pitr.push('--jobs', env[JobEnv.jobs]!);
        return { argv: ['restore', '--database', database, '--target', targetUrl, ...pitr, ...extra], pgEnv };
      }
      return { argv: ['restore', '--database', database, '--target', targetUrl, ...common, ...extra], pgEnv };
    }
  }
}

function pitrSetting(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) {
    throw new DrError(
      `job setting ${name} is not set, so this stack has no pgBackRest repository for a point-in-time restore`,
      'enable pitr in the dr configuration and deploy, or restore a logical backup (mode full, table or range)',
    );
  }
  return value;
}

function isJobCommand(name: string): name is JobCommand {
  return Object.hasOwn(JOB_COMMANDS, name);
}

/** DR_ARGS: a JSON array of strings whose flags the command allows (values follow their flag). */
function jobArgs(command: JobCommand, raw: string | undefined): string[] {
  if (raw === undefined || raw === '') return [];
  let args: unknown;
  try {
    args = JSON.parse(raw);
  } catch {
    args = undefined;
  }
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
    throw new DrError(
      `job setting ${JobEnv.args} is not a JSON array of strings`,
      'the state machine passes e.g. ["--tables","candles"]',
    );
  }
  const allowed: readonly string[] = JOB_COMMANDS[command];
  for (const arg of args) {
    if (arg.startsWith('--') && !allowed.includes(arg.split('=')[0]!)) {
      throw new DrError(
        `flag ${arg.split('=')[0]} is not allowed for the job's ${command} command`,
        `allowed: ${allowed.join(', ')}`,
      );
    }
  }
  return args;
}

export async function runJob(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const record = resultRecorder(env);
  let invocation: JobInvocation;
  try {
    invocation = jobInvocation(env);
  } catch (err) {
    if (err instanceof DrError) {
      process.stderr.write(`dr job: ${err.oneLine()}\n`);
      await record?.(2, { ok: false, error: err.message, hint: err.hint ?? null });
      return 2;
    }
    throw err;
  }
  Object.assign(process.env, invocation.pgEnv);
  const stdout = new TeeStdout();
  const code = await main(invocation.argv, { stdout });
  await new Promise<void>((resolve) => stdout.end(resolve)); // every write reached process.stdout and `text`
  const result = lastJsonObject(stdout.text);
  await record?.(code, result);
  return jobExitCode(invocation.argv[0], code, result);
}

/**
 * The container's exit code: dr's, except that a backup that succeeded but is suspect (it shrank)
 * exits JobExit.backupSuspect, because the state machine sees exit codes only and alarms on it.
 */
export function jobExitCode(command: string | undefined, code: number, result: Record<string, unknown> | null): number {
  if (command === 'backup' && code === 0 && result?.suspect) return JobExit.backupSuspect;
  return code;
}

type Recorder = (exitCode: number, result: Record<string, unknown> | null) => Promise<void>;

/**
 * With DR_RESULT_NAME, a function writing the command's result record to the repository (see
 * core/job-result.ts). Recording is best effort: a failed write is reported on stderr and the exit
 * code stays the command's, so a completed restore is never reported as failed because of it.
 */
function resultRecorder(env: NodeJS.ProcessEnv): Recorder | undefined {
  const name = env[JobEnv.resultName];
  if (!name) return undefined;
  const command = env[JobEnv.command] ?? 'backup';
  return async (exitCode, result) => {
    try {
      if (!isJobCommand(command)) return;
      if (!env[JobEnv.repo]) throw new DrError(`${JobEnv.repo} is not set`, 'the task definition sets it');
      const key = jobResultKey(command, name);
      const repo = openRepository(env[JobEnv.repo]!, { kmsKeyId: env[JobEnv.kmsKeyId] || undefined });
      await writeJobResult(repo, key, { command, exitCode, finishedAt: new Date().toISOString(), result });
      process.stderr.write(`dr job: result recorded at ${key}\n`);
    } catch (err) {
      process.stderr.write(
        `dr job: could not record the result (${(err as Error).message}); the workflow will report it as unrecorded\n`,
      );
    }
  };
}

/** process.stdout, also kept in memory (its tail) so the last line (the --json result) can be recorded. */
class TeeStdout extends Writable {
  private static readonly KEEP = 4 * 1024 * 1024;
  text = '';

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    const s = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    this.text = (this.text + s).slice(-TeeStdout.KEEP);
    if (process.stdout.write(s)) done();
    else process.stdout.once('drain', () => done());
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await runJob();
}
