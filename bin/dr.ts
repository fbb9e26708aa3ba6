/**
 * The `dr` CLI: the same code runs on a laptop (`npx dr`) and in the Fargate job.
 * Progress goes to stderr; the result goes to stdout, as one JSON object on the last line with --json.
 */
import { parseArgs } from 'node:util';
import { DrError } from '../core/errors.ts';
import { useProgress, writeAbove } from '../core/progress.ts';
import { handleSignals, InterruptedError, interruption } from '../core/signals.ts';
import pkg from '../package.json' with { type: 'json' };
import { UsageError, usage, type Values } from './commands/args.ts';
import { type Command, parseArgsOptions } from './commands/command.ts';
import { COMMANDS } from './commands/index.ts';

const HELP = `dr: backups, restores and drills for PostgreSQL (crypto-stock-dr)

Usage: dr <command> [flags]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 2)}${c.summary}`)
  .join('\n')}

Repositories: file:///path/to/dir (or file://./backups) and s3://bucket/prefix
Connections:  postgres://user@host:5432/database; passwords come from PGPASSWORD or ~/.pgpass,
              and the other PG* variables (PGHOST, PGPORT, PGUSER, PGSSLMODE…) work as in libpq.
S3:           the standard AWS environment: AWS_REGION, AWS_PROFILE or keys, AWS_ENDPOINT_URL_S3.

Common flags:
  --json          print the result as one JSON object on the last stdout line: "ok" says the
                  command ran (false: "error" and "hint"); commands that judge something
                  (check, verify, drill) add "passed", and the exit status follows it
  -q, --quiet     no progress on stderr
  -h, --help      help for a command: dr <command> --help
  --version       dr's version (and the Node.js it needs)

Exit status: 0 success, 1 failure (one line on stderr says what and how to fix it), 2 bad usage,
             70 internal error (a bug in dr: its stack is printed).
`;

export interface MainIo {
  readonly stdout?: NodeJS.WritableStream;
  readonly stderr?: NodeJS.WritableStream;
  /**
   * The commands by name; tests give the remote commands mocked AWS clients this way.
   * @default - COMMANDS
   */
  readonly commands?: Readonly<Record<string, Command>>;
}

/** Runs one command; returns the exit status. Never throws for user errors. */
export async function main(argv: string[], io: MainIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const commands = io.commands ?? COMMANDS;
  // `dr help restore` is `dr restore --help`.
  if (argv[0] === 'help' && argv.length > 1) argv = [...argv.slice(1), '--help'];
  let [name, ...rest] = argv;
  // Two-word commands (`dr pitr config`) are registered under both words.
  if (name !== undefined && rest.length > 0 && commands[`${name} ${rest[0]}`])
    [name, ...rest] = [`${name} ${rest[0]}`, ...rest.slice(1)];
  if (name === '--version' || name === '-V') {
    stdout.write(`dr ${pkg.version} (${pkg.name}; Node.js ${pkg.engines.node}, running ${process.version})\n`);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    stdout.write(HELP);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  const json = rest.includes('--json');
  const fail = (err: DrError) => {
    // A usage error of a known command points at that command's help, not the global one.
    const hint = err instanceof UsageError && command ? `see dr ${name} --help` : err.hint;
    const line = new DrError(err.message, hint, err.exitCode).oneLine();
    stderr.write(`dr ${name}: error: ${line}\n`);
    if (json) stdout.write(`${JSON.stringify({ ok: false, error: err.message, hint: hint ?? null })}\n`);
    return err.exitCode;
  };
  if (!command) {
    // `dr pitr` or `dr remote --help`: a group's subcommands, with their summaries.
    const group = Object.entries(commands).filter(([n]) => n.startsWith(`${name} `));
    if (group.length > 0) {
      const subcommands = group.map(([n]) => n.slice(name.length + 1));
      const given = rest[0];
      if (given !== undefined && !given.startsWith('-')) {
        return fail(
          new DrError(
            `unknown subcommand "${name} ${given}"; use one of: ${subcommands.map((s) => `dr ${name} ${s}`).join(', ')}`,
            `see dr ${name} --help`,
            2,
          ),
        );
      }
      const lines = group.map(
        ([n, c]) => `  dr ${n.padEnd(Math.max(...group.map(([g]) => g.length)) + 2)}${c.summary}`,
      );
      stdout.write(`Usage: dr ${name} <${subcommands.join('|')}> [flags]\n\n${lines.join('\n')}\n`);
      return rest.includes('--help') || rest.includes('-h') ? 0 : 2;
    }
    const guess = closest(name, [...new Set(Object.keys(commands).map((n) => n.split(' ')[0]!))]);
    return fail(
      usage(
        `unknown command "${name}"${guess ? `; did you mean "${guess}"?` : ''}; commands: ${Object.keys(commands).join(', ')}`,
      ),
    );
  }
  let values: Values;
  try {
    const parsed = parseArgs({
      args: rest,
      options: parseArgsOptions(command.options),
      allowPositionals: command.positional !== undefined,
      strict: true,
    });
    values = parsed.values as Values;
    if (parsed.positionals.length > 1)
      throw new Error(`one ${command.positional} argument expected, got ${parsed.positionals.length}`);
    if (command.positional !== undefined && parsed.positionals.length === 1) {
      if (values[command.positional] !== undefined)
        throw new Error(`give ${command.positional} once: as an argument or as --${command.positional}`);
      values[command.positional] = parsed.positionals[0];
    }
    // An empty value (an unset shell variable) is never "not given": --tables '' must not mean every table.
    for (const [flag, value] of Object.entries(values)) {
      if (value === '' || (Array.isArray(value) && value.includes('')))
        throw new Error(`--${flag} is empty; give it a value, or leave the flag out`);
    }
  } catch (err) {
    const message = (err as Error).message.split('\n')[0]!;
    const unknown = /^Unknown option '(-{1,2}[^']+)'/.exec(message)?.[1];
    const guess = unknown && closest(unknown.replace(/^-+/, ''), Object.keys(command.options));
    return fail(usage(guess ? `unknown option ${unknown}; did you mean --${guess}?` : message));
  }
  if (values.help) {
    stdout.write(`${command.usage}\n`);
    return 0;
  }
  const quiet = values.quiet === true;
  // Ctrl-C / SIGTERM: the tools are stopped and the command unwinds through its cleanups (core/signals.ts).
  const release = handleSignals((signal) => {
    if (!quiet) stderr.write(`dr ${name}: ${signal}: stopping, cleaning up (again to exit at once)\n`);
  });
  // Bytes, files, rate and ETA of long phases on stderr: a bar on a terminal, else a line every 30 s.
  const releaseProgress = quiet ? () => {} : useProgress({ stream: stderr, prefix: `dr ${name}` });
  const log = (m: string) => {
    if (quiet) return;
    if (!writeAbove(`dr ${name}: ${m}`)) stderr.write(`dr ${name}: ${m}\n`);
  };
  try {
    const outcome = await command.execute(values, { log, stderr });
    releaseProgress();
    stdout.write(json ? `${JSON.stringify({ ok: true, ...outcome.result })}\n` : `${outcome.human()}\n`);
    // A command that ran but found a failure (e.g. verify) still prints its result, then exits non-zero.
    return outcome.exitCode;
  } catch (err) {
    releaseProgress();
    // Whatever failed after a signal failed because of it (a tool stopped, a checkpoint): one line.
    const signal = interruption();
    if (signal) return fail(err instanceof InterruptedError ? err : new InterruptedError(signal));
    if (err instanceof DrError) return fail(err);
    // Environment errors that reached here unmapped are still the environment's (exit 1), not bugs.
    const env = environmentError(err);
    if (env) return fail(env);
    stderr.write(`dr ${name}: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    if (json)
      stdout.write(
        `${JSON.stringify({ ok: false, error: String((err as Error)?.message ?? err), hint: 'this is a bug in dr; please report it with the output above' })}\n`,
      );
    return 70;
  } finally {
    releaseProgress();
    release();
  }
}

/** The candidate nearest to `input` by edit distance (at most 2, or a third of its length), if any. */
export function closest(input: string, candidates: readonly string[]): string | undefined {
  const distance = (a: string, b: string) => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let previous = row[0]!;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const current = row[j]!;
        row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
        previous = current;
      }
    }
    return row[b.length]!;
  };
  const limit = Math.max(2, Math.floor(input.length / 3));
  const ranked = candidates
    .map((c) => ({ c, d: distance(input.toLowerCase(), c.toLowerCase()) }))
    .filter((x) => x.d <= limit)
    .sort((a, b) => a.d - b.d);
  return ranked[0]?.c;
}

/** An OS error (errno code) or a PostgreSQL error (SQLSTATE) as a one-line DrError; undefined for anything else (a bug). */
function environmentError(err: unknown): DrError | undefined {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  if (typeof e?.code !== 'string' || typeof e.message !== 'string') return undefined;
  if (/^E[A-Z0-9]+$/.test(e.code))
    return new DrError(e.message, 'check the path, free space and permissions', 1, { cause: err });
  if (/^[0-9A-Z]{5}$/.test(e.code))
    return new DrError(`PostgreSQL error ${e.code}: ${e.message}`, 'see the PostgreSQL server log', 1, { cause: err });
  return undefined;
}
