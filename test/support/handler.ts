/** Lambda handlers run as the Lambda runtime runs them, in a process of their own or in this one, their printed lines (JSON logs, EMF) captured. */
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

export interface StdoutCapture {
  /** The position now, to read only what is printed after it. */
  mark(): number;
  /** The JSON documents printed (log lines and EMF documents) since `mark` (default: since the capture began). */
  json(mark?: number): Record<string, any>[];
  /** The EMF documents among them: CloudWatch's metrics. */
  emf(mark?: number): Record<string, any>[];
  restore(): void;
}

/**
 * For handlers run in this process: what Powertools prints to stdout (JSON log lines, EMF
 * documents) is kept instead of printed; other output passes through. Call in beforeAll, restore in afterAll.
 */
export function captureStdout(): StdoutCapture {
  const lines: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    if (!text.startsWith('{')) return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    lines.push(...text.split('\n').filter(Boolean));
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  } as typeof process.stdout.write;
  const json = (mark = 0) => lines.slice(mark).map((l) => JSON.parse(l) as Record<string, any>);
  return {
    mark: () => lines.length,
    json,
    emf: (mark) => json(mark).filter((d) => '_aws' in d),
    restore: () => {
      process.stdout.write = write;
    },
  };
}
