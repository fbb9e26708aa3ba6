/**
 * Ctrl-C and SIGTERM while a command runs, and dr itself killed.
 *
 * - A signal stops every client tool dr started (pg_dump, pg_restore, psql: SIGTERM), and marks
 *   the run interrupted: the next checkpoint (a connection, a tool start, a file fetched, a
 *   commit, a swap, the manifest) throws InterruptedError, so every cleanup on the way out runs
 *   as for any failure (temporary folders removed, staging databases dropped, transactions rolled
 *   back), and nothing is committed after the signal. The CLI then prints one line and exits
 *   128 + the signal number (130 for SIGINT, 143 for SIGTERM). A second signal exits at once.
 * - Tools are started under `setpriv --pdeathsig SIGKILL` where it exists (Linux, util-linux):
 *   the kernel kills them when dr dies, even by `kill -9`, so no pg_dump outlives its backup.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { DrError } from './errors.ts';

const children = new Set<ChildProcess>();
const cancellers = new Set<() => void>();
let interrupted: NodeJS.Signals | undefined;

/** The run was interrupted: say so in one line, exit 128 + signal. */
export class InterruptedError extends DrError {
  constructor(readonly signal: NodeJS.Signals) {
    super(
      `interrupted by ${signal}`,
      'stopped the PostgreSQL tools, removed temporary folders and staging databases; nothing was committed',
      exitCodeFor(signal),
    );
  }
}

export function exitCodeFor(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : signal === 'SIGHUP' ? 129 : 1;
}

/** The signal that interrupted this run, if any. */
export function interruption(): NodeJS.Signals | undefined {
  return interrupted;
}

/** A checkpoint: throws InterruptedError once a signal has arrived. */
export function throwIfInterrupted(): void {
  if (interrupted) throw new InterruptedError(interrupted);
}

/** Registers a started tool: stopped on a signal (at once if one has arrived). */
export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (interrupted) child.kill('SIGTERM');
}

/** Registers how to cancel a connection's running statement on a signal; returns the unregister function. */
export function trackCancel(cancel: () => void): () => void {
  cancellers.add(cancel);
  return () => cancellers.delete(cancel);
}

/**
 * Handles SIGINT and SIGTERM until the returned function is called. `onSignal` runs once, for
 * the first signal (e.g. to print that cleanup is under way).
 */
export function handleSignals(onSignal: (signal: NodeJS.Signals) => void = () => {}): () => void {
  const handler = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(exitCodeFor(interrupted));
    interrupted = signal;
    for (const child of children) child.kill('SIGTERM');
    // A statement waiting (on a lock) or running (a COPY) is cancelled; the cleanup queries that follow still run.
    for (const cancel of cancellers) cancel();
    onSignal(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

const SETPRIV = '/usr/bin/setpriv';
let pdeathsig: boolean | undefined;

/** The command and arguments that start `file` so that it dies with dr (see the module comment). */
export function diesWithParent(file: string, args: readonly string[]): { file: string; args: string[] } {
  pdeathsig ??= process.platform === 'linux' && existsSync(SETPRIV);
  return pdeathsig
    ? { file: SETPRIV, args: ['--pdeathsig', 'SIGKILL', '--', file, ...args] }
    : { file, args: [...args] };
}

/** setpriv's message when the tool itself could not be started (not installed). */
export function isSetprivExecFailure(stderr: string): boolean {
  return /^setpriv: failed to execute/m.test(stderr);
}
