/** Small helpers of the benchmark: running a timed process, peak RSS, statistics, sizes. */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcessResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  /** Peak resident set (VmHWM) of the spawned process itself, in bytes; 0 unless sampled. */
  readonly peakRss: number;
  /**
   * CPU time of the process and every child it waited for (pg_dump under dr), from this
   * process's cutime+cstime in /proc/self/stat; the bench runs one measured command at a time.
   */
  readonly treeCpuMs: number;
  /** CPU time of the whole machine meanwhile (/proc/stat): the server's backends and the rest included. */
  readonly machineCpuMs: number;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const TICKS_PER_S = 100;

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces): field 3 onwards. */
function statFields(path: string): string[] {
  const stat = readFileSync(path, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime of a running process (a service the bench started, such as s3rver), in ms; 0 where /proc is missing. */
export function processCpuMs(pid: number): number {
  try {
    const fields = statFields(`/proc/${pid}/stat`);
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
  } catch {
    return 0;
  }
}

/** [cutime + cstime of this process, busy time of the machine], in ms; zeros where /proc is missing. */
function cpuCounters(): [tree: number, machine: number] {
  try {
    const fields = statFields('/proc/self/stat');
    const tree = Number(fields[13]) + Number(fields[14]);
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    const busy = cpu.slice(0, 8).reduce((n, v, i) => (i === 3 || i === 4 ? n : n + v), 0);
    return [(tree * 1000) / TICKS_PER_S, (busy * 1000) / TICKS_PER_S];
  } catch {
    return [0, 0];
  }
}

export class ProcessFailed extends Error {
  constructor(
    readonly command: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`${command} exited with ${code}: ${stderr.trim().split('\n').slice(-5).join('\n')}`);
  }
}

/**
 * Runs a command to completion, timing it from spawn to exit. With `sampleRss`, polls the
 * process's own VmHWM every 100 ms: VmHWM is the kernel's high-water mark, so the last sample
 * before exit is the peak, whatever happened between samples (children are not counted).
 */
export function runProcess(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; sampleRss?: boolean; timeoutMs?: number } = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const [tree0, machine0] = cpuCounters();
    const child = spawn(command, args, { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peakRss = 0;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const sample = () => {
      peakRss = Math.max(peakRss, readVmHwm(child.pid));
    };
    const timer = options.sampleRss ? setInterval(sample, 100) : undefined;
    if (options.sampleRss) sample();
    // A hung process must not stall the whole bench: kill it and report it as failed.
    let timedOut = false;
    const deadline =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGTERM');
          }, options.timeoutMs);
    child.on('error', (err) => {
      clearInterval(timer);
      clearTimeout(deadline);
      reject(err);
    });
    child.on('close', (code) => {
      clearInterval(timer);
      clearTimeout(deadline);
      if (timedOut) stderr += `\ntimed out after ${options.timeoutMs! / 1000} s (killed)`;
      const ms = performance.now() - started;
      const [tree1, machine1] = cpuCounters();
      const cpu = { treeCpuMs: tree1 - tree0, machineCpuMs: machine1 - machine0 };
      if (code === 0) resolve({ stdout, stderr, ms, peakRss, ...cpu });
      else reject(new ProcessFailed([command, ...args].join(' '), code, stderr || stdout));
    });
  });
}

/** A bash pipeline with pipefail, so a failing pg_dump is not hidden by a succeeding gzip. */
export function runShell(script: string, env: NodeJS.ProcessEnv = {}): Promise<ProcessResult> {
  return runProcess('bash', ['-o', 'pipefail', '-c', script], { env });
}

function readVmHwm(pid: number | undefined): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0; // Already exited: the previous sample stands.
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** "12.3 s (11.9–13.0)" for a series of milliseconds. */
export function formatSeconds(values: number[]): string {
  if (values.length === 0) return 'n/a';
  const s = (ms: number) => (ms / 1000).toFixed(1);
  return `${s(median(values))} s (${s(Math.min(...values))}–${s(Math.max(...values))})`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
}

/** Total size of the files under a path (a file or a directory tree). */
export function pathSize(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, entry) => sum + pathSize(join(path, entry)), 0);
}

/**
 * dr as shipped: the esbuild bundle of the sources as they are now (scripts/build-cli.mjs), built
 * into `dir`. bin/dr.mjs would fall back to tsx while files change, timing the loader too.
 */
export async function buildDr(dir: string): Promise<string[]> {
  const root = new URL('..', import.meta.url).pathname;
  await runProcess(process.execPath, [join(root, 'scripts/build-cli.mjs'), join(dir, 'cli')]);
  return [join(dir, 'cli', 'dr.mjs')];
}
