/** A Lambda handler run as the Lambda runtime runs it: in a process of its own, its printed lines (EMF) captured. */
import { join } from 'node:path';
import { runNode } from './process.ts';
import { s3Env } from './s3.ts';

const REPO_ROOT = join(import.meta.dirname, '..', '..');

export interface HandlerInvocation {
  readonly code: number;
  /** The lines the handler printed (EMF documents, logs), without the result line. */
  readonly stdout: string[];
  readonly stderr: string;
  /** What the handler returned; undefined when it threw. */
  readonly result: unknown;
}

const RESULT = 'RESULT ';

/**
 * Imports lambdas/<name>/handler.ts in a fresh Node process, as the Lambda runtime loads it, and
 * invokes it with `event`. Its environment is PATH, the test s3rver's AWS settings and `env` only.
 */
export async function invokeHandler(
  name: string,
  env: Record<string, string>,
  event: unknown,
): Promise<HandlerInvocation> {
  const script = `const { handler } = await import(${JSON.stringify(join(REPO_ROOT, 'lambdas', name, 'handler.ts'))});
process.stdout.write(${JSON.stringify(RESULT)} + JSON.stringify(await handler(${JSON.stringify(event)})) + '\\n');`;
  const run = await runNode(
    ['--import', 'tsx', '--input-type=module', '-e', script],
    { PATH: process.env.PATH, ...s3Env(), ...env },
    REPO_ROOT,
  );
  const lines = run.stdout.split('\n').filter(Boolean);
  const result = lines.find((l) => l.startsWith(RESULT));
  return {
    code: run.code,
    stdout: lines.filter((l) => !l.startsWith(RESULT)),
    stderr: run.stderr,
    result: result ? JSON.parse(result.slice(RESULT.length)) : undefined,
  };
}
