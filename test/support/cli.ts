import { join } from 'node:path';
import { expect } from 'vitest';
import { runNode } from './process.ts';

export interface DrRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The last stdout line parsed as JSON (with --json). */
  readonly json: Record<string, unknown> & { ok?: boolean; error?: string };
}

const DR = join(import.meta.dirname, '..', '..', 'bin', 'dr.mjs');

/** Runs the real `dr` launcher in a child process, exactly as `npx dr` does. */
export async function runDr(args: string[], env: Record<string, string> = {}): Promise<DrRun> {
  const { code, stdout, stderr } = await runNode([DR, ...args], { ...process.env, ...env });
  const last = stdout.trimEnd().split('\n').pop() ?? '';
  let json: DrRun['json'] = {};
  try {
    json = JSON.parse(last);
  } catch {
    // not --json output
  }
  return { code, stdout, stderr, json };
}

/** The error lines dr printed (it promises exactly one per failure). */
export function errorLines(run: DrRun): string[] {
  return run.stderr.split('\n').filter((l) => /error:/.test(l));
}

/** A failure as dr promises it: exit `code` (any non-zero when not given) and exactly one error line, matching `pattern`. */
export function expectOneLineError(run: DrRun, pattern: RegExp, code?: number): void {
  if (code === undefined) expect(run.code, run.stderr).not.toBe(0);
  else expect(run.code, run.stderr).toBe(code);
  const lines = errorLines(run);
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}
