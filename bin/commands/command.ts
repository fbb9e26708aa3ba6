/**
 * What a `dr` command is: its flags (each with the help line `--help` prints for it), a run function
 * and the renderers of its result. `defineCommand<R>()` ties the renderers to the result type the
 * command returns, and generates the help text from the flags that parseArgs is given, so the two
 * cannot drift.
 */
import type { ParseArgsConfig } from 'node:util';
import type { Io, Values } from './args.ts';

/** One flag: what parseArgs needs, and how `--help` shows it. */
export interface Flag {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** Repeatable: parseArgs gives a string[]. @default false */
  readonly multiple?: boolean;
  readonly default?: string | boolean;
  /** The value's placeholder in the help (URL, NAME). @default - none: a boolean flag, or one described as a pair */
  readonly arg?: string;
  /** What the flag does; a newline starts a continuation line. */
  readonly help: string;
  /** A heading (and a blank line) printed before this flag, starting a group of flags. @default - none */
  readonly section?: string;
}

export type Flags = Readonly<Record<string, Flag>>;

/** Flags every command takes: listed on one line at the end of each help. */
const TRAILING = ['json', 'quiet'];

export interface CommandSpec<R extends object> {
  readonly summary: string;
  /** The synopsis after `Usage: dr ` (e.g. `backup --db URL --repo URL [flags]`). */
  readonly synopsis: string;
  /** Paragraphs between the synopsis and the flags. @default - none */
  readonly description?: string;
  readonly flags: Flags;
  /** Paragraphs after the flags (exit status, what a check covers). @default - none */
  readonly notes?: string;
  /**
   * The flag one positional argument fills (`dr remote status <arn>` = `--execution <arn>`).
   * @default - no positional arguments
   */
  readonly positional?: string;
  readonly run: (values: Values, io: Io) => Promise<R>;
  /** The result for people (without --json). */
  readonly human: (result: R) => string;
  /** Exit status for a result that ran to completion but failed (e.g. a verification). @default - 0 */
  readonly exitCode?: (result: R) => number;
}

/** A command's result, rendered either way (the JSON object, or `human()` for people) with its exit status. */
export interface Outcome {
  readonly result: object;
  readonly human: () => string;
  readonly exitCode: number;
}

/** A command as dr.ts runs it: the result type is closed over, so no caller needs to know it. */
export interface Command {
  readonly summary: string;
  /** The `--help` text, generated from the flags. */
  readonly usage: string;
  readonly options: Flags;
  readonly positional?: string;
  readonly execute: (values: Values, io: Io) => Promise<Outcome>;
}

export function defineCommand<R extends object>(spec: CommandSpec<R>): Command {
  return {
    summary: spec.summary,
    usage: renderHelp(spec),
    options: spec.flags,
    positional: spec.positional,
    async execute(values, io) {
      const result = await spec.run(values, io);
      return { result, human: () => spec.human(result), exitCode: spec.exitCode?.(result) ?? 0 };
    },
  };
}

/** The flags as parseArgs takes them. */
export function parseArgsOptions(flags: Flags): NonNullable<ParseArgsConfig['options']> {
  return Object.fromEntries(
    Object.entries(flags).map(([name, f]) => [
      name,
      {
        type: f.type,
        ...(f.short !== undefined ? { short: f.short } : {}),
        ...(f.multiple ? { multiple: true } : {}),
        ...(f.default !== undefined ? { default: f.default } : {}),
      },
    ]),
  );
}

/** Widest flag column before the description starts; longer flags push their first line right. */
const MAX_LEAD = 22;

function renderHelp(spec: Pick<CommandSpec<object>, 'synopsis' | 'description' | 'flags' | 'notes'>): string {
  const entries = Object.entries(spec.flags).filter(([name]) => name !== 'help' && !TRAILING.includes(name));
  const lead = (name: string, f: Flag) => `${f.short ? `-${f.short}, ` : ''}--${name}${f.arg ? ` ${f.arg}` : ''}`;
  const width = Math.min(MAX_LEAD, Math.max(0, ...entries.map(([n, f]) => lead(n, f).length)));
  const lines: string[] = [];
  for (const [name, f] of entries) {
    if (f.section) lines.push('', f.section);
    const [first, ...rest] = f.help.split('\n');
    lines.push(`  ${lead(name, f).padEnd(width)}  ${first}`.trimEnd());
    for (const line of rest) lines.push(`  ${' '.repeat(width)}  ${line}`);
  }
  const trailing = TRAILING.filter((n) => n in spec.flags).map((n) => `--${n}`);
  if (trailing.length > 0) lines.push(`  ${trailing.join(', ')}`);
  return [`Usage: dr ${spec.synopsis}`, spec.description, lines.join('\n'), spec.notes]
    .filter((part) => part !== undefined && part !== '')
    .join('\n\n');
}
