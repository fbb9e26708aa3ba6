import { spawn } from 'node:child_process';
import { join } from 'node:path';

export interface DrRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The last stdout line parsed as JSON (with --json). */
  readonly json: Record<string, unknown> & { ok?: boolean; error?: string };
}

const DR = join(import.meta.dirname, '..', '..', 'bin', 'dr.mjs');

/** Runs the real `dr` launcher in a child process, exactly as `npx dr` does. */
export function runDr(args: string[], env: Record<string, string> = {}): Promise<DrRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DR, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.once('error', reject);
    child.once('close', (code) => {
      const last = stdout.trimEnd().split('\n').pop() ?? '';
      let json: DrRun['json'] = {};
      try {
        json = JSON.parse(last);
      } catch {
        // not --json output
      }
      resolve({ code: code ?? 1, stdout, stderr, json });
    });
  });
}

/** The error lines dr printed (it promises exactly one per failure). */
export function errorLines(run: DrRun): string[] {
  return run.stderr.split('\n').filter((l) => /error:/.test(l));
}
