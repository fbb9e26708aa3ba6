/**
 * Progress of long work on stderr: bytes (and files) done of the total, rate and ETA.
 *
 * - On a terminal: one bar (cli-progress) per phase, redrawn in place.
 * - Otherwise (CI, Fargate): one line when a phase starts, then one line every 30 s while it runs.
 * - `--quiet` (or no sink): nothing.
 *
 * The CLI installs a sink for the command's duration (useProgress); core code marks phases
 * (`phase`) and every byte that is hashed on its way to or from a repository counts (hashing.ts
 * calls `advance`), so backup, restore, check and the table/range paths report without each
 * passing a callback around.
 */
import cliProgress from 'cli-progress';
import { formatBytes, formatEstimate } from './format.ts';

export interface PhaseTotals {
  /** Bytes the phase will move, when known (a manifest's). */
  readonly bytes?: number;
  readonly files?: number;
}

interface Sink {
  phase(name: string, totals: PhaseTotals): void;
  advance(bytes: number, files: number): void;
  end(): void;
  /** Writes a log line without breaking a bar on screen. */
  above(line: string): void;
}

let sink: Sink | undefined;

/** Starts a phase (ending the previous one). */
export function phase(name: string, totals: PhaseTotals = {}): void {
  sink?.phase(name, totals);
}

/** Counts bytes (and finished files) of the current phase. */
export function advance(bytes: number, files = 0): void {
  sink?.advance(bytes, files);
}

/** A log line (the CLI's stderr messages) printed above a bar, if one is shown; false without a sink. */
export function writeAbove(line: string): boolean {
  if (!sink) return false;
  sink.above(line);
  return true;
}

export interface ProgressOptions {
  readonly stream: NodeJS.WriteStream | NodeJS.WritableStream;
  /** Prefix of the line-mode lines, e.g. `dr backup`. */
  readonly prefix: string;
  /** @default - stream.isTTY */
  readonly tty?: boolean;
  /** Line mode: a line every this often while a phase runs. @default 30 s */
  readonly intervalMs?: number;
}

/** Installs a sink until the returned function is called. */
export function useProgress(options: ProgressOptions): () => void {
  const tty = options.tty ?? (options.stream as NodeJS.WriteStream).isTTY === true;
  sink = tty ? barSink(options) : lineSink(options);
  return () => {
    sink?.end();
    sink = undefined;
  };
}

interface State {
  name: string;
  totals: PhaseTotals;
  bytes: number;
  files: number;
  started: number;
}

/** `upload: 12.3 MiB of 260.3 MiB, 4 of 17 files, 5.1 MiB/s, ETA 48 s` */
export function describe(s: State, now = Date.now()): string {
  const elapsed = Math.max(0.001, (now - s.started) / 1000);
  const rate = s.bytes / elapsed;
  if (s.bytes === 0 && !s.totals.bytes) return `${s.name}: ${formatEstimate(elapsed)} elapsed`;
  const parts = [`${formatBytes(s.bytes)}${s.totals.bytes ? ` of ${formatBytes(s.totals.bytes)}` : ''}`];
  if (s.totals.files || s.files) parts.push(`${s.files}${s.totals.files ? ` of ${s.totals.files}` : ''} files`);
  parts.push(`${formatBytes(rate)}/s`);
  if (s.totals.bytes && rate > 0) parts.push(`ETA ${formatEstimate(Math.max(0, s.totals.bytes - s.bytes) / rate)}`);
  return `${s.name}: ${parts.join(', ')}`;
}

function lineSink(options: ProgressOptions): Sink {
  let state: State | undefined;
  let timer: NodeJS.Timeout | undefined;
  const write = (line: string) => options.stream.write(`${options.prefix}: ${line}\n`);
  const stop = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };
  return {
    phase(name, totals) {
      stop();
      state = { name, totals, bytes: 0, files: 0, started: Date.now() };
      const size = [
        totals.bytes ? formatBytes(totals.bytes) : undefined,
        totals.files ? `${totals.files} files` : undefined,
      ]
        .filter(Boolean)
        .join(', ');
      write(`${name}${size ? ` (${size})` : ''}`);
      timer = setInterval(
        () => state && write(describe(state)),
        options.intervalMs ?? (Number(process.env.DR_PROGRESS_INTERVAL_MS) || 30_000),
      );
      timer.unref();
    },
    advance(bytes, files) {
      if (!state) return;
      state.bytes += bytes;
      state.files += files;
    },
    end: stop,
    above: (line) => options.stream.write(`${line}\n`),
  };
}

function barSink(options: ProgressOptions): Sink {
  let bar: cliProgress.SingleBar | undefined;
  let state: State | undefined;
  const stop = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    phase(name, totals) {
      stop();
      state = { name, totals, bytes: 0, files: 0, started: Date.now() };
      const s = state;
      bar = new cliProgress.SingleBar({
        stream: options.stream as NodeJS.WriteStream,
        format: (opts, params) => {
          const width = opts.barsize ?? 30;
          const done = s.totals.bytes
            ? Math.min(width, Math.round((params.value / Math.max(1, params.total)) * width))
            : 0;
          const gauge = s.totals.bytes ? `[${'='.repeat(done)}${' '.repeat(width - done)}] ` : '';
          return `${options.prefix}: ${gauge}${describe(s)}`;
        },
        hideCursor: true,
        clearOnComplete: false,
        fps: 5,
        noTTYOutput: false,
      });
      bar.start(totals.bytes ?? 0, 0);
    },
    advance(bytes, files) {
      if (!state) return;
      state.bytes += bytes;
      state.files += files;
      bar?.update(state.bytes);
    },
    end: stop,
    above(line) {
      // Clear the bar's line, print, and let the bar draw itself again below.
      options.stream.write(`\r\x1b[2K${line}\n`);
      if (bar && state) bar.update(state.bytes);
    },
  };
}
