/**
 * The input of the restore state machine: one JSON document, typed at the Step Functions console
 * or built by `dr remote restore`. Both go through `parseRestoreRequest`, so a request the CLI
 * accepts is one the state machine's validate step accepts, with the same messages.
 *
 *   {"database":"crypto_stock","backup":"latest","mode":"range","tables":["candles"],
 *    "since":"2026-01-10T00:00:00Z","until":"2026-01-12T00:00:00Z",
 *    "target":{"database":"crypto_stock_restored","overwrite":false}}
 *
 * Production guard: a target named like a configured database (the source database itself, or any
 * other database the stack backs up) is production. Restoring into it replaces data there (the whole
 * database in mode full; the named tables' rows, or the range's rows, in table and range mode), so
 * it needs `"overwrite": true`. Any other name on the same server is a scratch target and needs no
 * flag; `overwrite: true` there lets a full restore replace an existing non-empty scratch database.
 * Table and range restores need an existing target and keep the rows they replace in safety tables.
 */
import { z } from 'zod';
import { JOB_COMMANDS } from '../contract.ts';
import { DrError } from '../errors.ts';
import { DATABASE_NAME, DATABASE_NAME_RULE } from '../names.ts';
import { isBackupId } from '../repository/layout.ts';
import { type GivenTime, readTime, TIME_PROBLEM_TEXT } from '../time.ts';

/**
 * What a request restores. Each mode is listed here and has one row in MODES (what it does, the
 * request fields it needs and forbids, the `dr restore` flags it takes, and the job's arguments);
 * adding a mode means adding its name here and its row there, which the compiler asks for.
 */
export const RESTORE_MODES = ['full', 'table', 'range', 'pitr'] as const;
export type RestoreMode = (typeof RESTORE_MODES)[number];

/** Where the README documents the input, for error hints. */
export const RESTORE_REQUEST_DOCS = 'README "Restores from the Step Functions console"';

/** A name passed to dr as a flag value: not empty, no comma (the list separator), not flag-like. */
const FLAG_VALUE = /^[^,\-\s][^,]*$/;

const databaseName = z
  .string({ error: 'must be a database name (a string) such as "crypto_stock"' })
  .regex(DATABASE_NAME, `must be a database name: ${DATABASE_NAME_RULE}`);

const RANGE_TIME_ERROR =
  'must be an ISO 8601 time with a time zone, e.g. "2026-01-10T00:00:00Z", or a date (UTC midnight)';
const AT_TIME_ERROR = 'must be an ISO 8601 time with a time zone, e.g. "2026-01-15T14:30:00Z"';

/**
 * A time as dr restore takes it (the grammar of core/time.ts), kept as given (trimmed) so the job
 * reads the same text; a bare date, where allowed, is made explicit as UTC midnight.
 */
const givenTime = (dateOnly: boolean) => {
  const error = dateOnly ? RANGE_TIME_ERROR : AT_TIME_ERROR;
  return z.string({ error }).transform((value, ctx) => {
    const time = readTime(value, { dateOnly });
    if (typeof time !== 'string') return time.dateOnly ? `${value.trim()}T00:00:00Z` : value.trim();
    ctx.addIssue({
      code: 'custom',
      message: time === 'format' ? error : `"${value}" ${TIME_PROBLEM_TEXT[time]}; ${error}`,
    });
    return z.NEVER;
  });
};
/** Microseconds of a time the schema accepted. */
const micros = (time: string) => (readTime(time, { dateOnly: false }) as GivenTime).micros;

const identifierList = (what: string) =>
  z
    .array(
      z
        .string()
        .max(127, `each ${what} name has at most 127 characters`)
        .regex(FLAG_VALUE, `each ${what} name must be non-empty, without commas, not starting with "-"`),
      {
        error: `must be a list of ${what} names, e.g. ["candles"]`,
      },
    )
    .min(1, `list at least one ${what}, e.g. ["candles"]`);

export const RestoreRequestSchema = z.strictObject(
  {
    /** Source database: a configured one, whose backups are under backups/<database>/. */
    database: databaseName,
    /** "latest" (falls back past a backup failing verification, and reports it) or a backup id. */
    backup: z
      .string({ error: 'must be "latest" or a backup id' })
      .refine(
        (v) => v === 'latest' || isBackupId(v),
        'must be "latest" or a backup id such as "20260110T020000Z-a1b2c3" (`dr list` shows them)',
      )
      .default('latest'),
    mode: z.enum(RESTORE_MODES, { error: `must be one of ${RESTORE_MODES.map((m) => `"${m}"`).join(', ')}` }),
    /** Tables to restore (mode table and range); schema-qualified names are allowed (public.candles). */
    tables: identifierList('table').optional(),
    /** Range start, inclusive (mode range). */
    since: givenTime(true).optional(),
    /** Range end, exclusive (mode range). */
    until: givenTime(true).optional(),
    /**
     * Mode pitr: the time to recover to, from the pgBackRest repository (the stack's PITR repository
     * and stanza, never from input). With `tables` (and `since`/`until`) only those rows are restored.
     */
    at: givenTime(false).optional(),
    /** Column the range applies to (mode range). @default - the one the backup's manifest recorded */
    timeColumn: z
      .string({ error: 'must be a column name (a string)' })
      .max(63, 'a column name has at most 63 characters')
      .regex(FLAG_VALUE, 'must be a column name, not empty and not starting with "-"')
      .optional(),
    target: z.strictObject(
      {
        /** Database restored into, on the source database's configured server. */
        database: databaseName,
        /** Must be true to restore into a configured (production) database name. @default false */
        overwrite: z.boolean({ error: 'must be true or false' }).default(false),
        /** A whole-database overwrite of a production database: its name again, typed deliberately. */
        confirm: z.string({ error: 'must be the target database name (a string)' }).optional(),
      },
      { error: 'must be an object {"database": "<name>", "overwrite": false}' },
    ),
  },
  {
    error:
      'must be a JSON object such as {"database":"crypto_stock","mode":"full","target":{"database":"crypto_stock_restored"}}',
  },
);

/** Databases a restore never targets: PostgreSQL's own and RDS's (replacing them breaks the server). */
export const SYSTEM_DATABASES: readonly string[] = ['postgres', 'template0', 'template1', 'rdsadmin'];

/** A request as given (before defaults). */
export type RestoreRequestInput = z.input<typeof RestoreRequestSchema>;
/** A validated request, defaults filled in. */
export type RestoreRequest = z.output<typeof RestoreRequestSchema>;

type OptionalField = 'tables' | 'since' | 'until' | 'timeColumn' | 'at';

/**
 * The mode a set of flags (or request fields) asks for: pitr with a recovery target, range with a
 * time range, table with tables, else full. `dr restore` and `dr remote restore` both derive it here.
 */
export function restoreModeOf(given: {
  readonly pointInTime: boolean;
  readonly range: boolean;
  readonly tables: boolean;
}): RestoreMode {
  return given.pointInTime ? 'pitr' : given.range ? 'range' : given.tables ? 'table' : 'full';
}

/**
 * The `dr restore` flags that apply to some modes only, in the order they are checked; any other
 * flag applies to every mode (or selects one).
 */
const MODE_FLAGS = [
  'stanza',
  'pg-server-bin',
  'repo',
  'with-globals',
  'backup',
  'since',
  'until',
  'time-column',
  'merge',
  'replace-newer',
  'overwrite',
  'hold-timescale-jobs',
  'lock-timeout',
] as const;
type ModeFlag = (typeof MODE_FLAGS)[number];

interface ModeRow {
  /** What the mode does, for messages. */
  readonly does: string;
  /** Request fields the mode needs, and those it refuses (the rest are optional). */
  readonly requires: readonly OptionalField[];
  readonly forbids: readonly OptionalField[];
  /** The flags of MODE_FLAGS that a local `dr restore` in this mode takes. */
  readonly flags: readonly ModeFlag[];
  /** The `dr restore` arguments the job runs a validated request of this mode with. */
  readonly jobArgs: (request: RestoreRequest) => string[];
}

const joined = (tables: readonly string[] | undefined) => tables!.join(',');

/** Every mode, one row each: the state machine's request and a local `dr restore` both follow it. */
const MODES: Readonly<Record<RestoreMode, ModeRow>> = {
  full: {
    does: 'restores the whole database',
    requires: [],
    forbids: ['tables', 'since', 'until', 'timeColumn', 'at'],
    flags: ['repo', 'backup', 'overwrite', 'with-globals', 'hold-timescale-jobs'],
    // Table and range restores always keep the replaced rows in safety tables; dr restore takes
    // --overwrite (replace a whole non-empty database) only here.
    jobArgs: (r) => ['--backup', r.backup, ...(r.target.overwrite ? ['--overwrite'] : [])],
  },
  table: {
    does: "replaces the named tables' rows",
    requires: ['tables'],
    forbids: ['since', 'until', 'timeColumn', 'at'],
    flags: ['repo', 'backup', 'merge', 'lock-timeout'],
    jobArgs: (r) => ['--backup', r.backup, '--tables', joined(r.tables)],
  },
  range: {
    does: 'replaces the rows of one time range',
    requires: ['tables', 'since', 'until'],
    forbids: ['at'],
    flags: ['repo', 'backup', 'since', 'until', 'time-column', 'merge', 'replace-newer', 'lock-timeout'],
    jobArgs: (r) => [
      '--backup',
      r.backup,
      '--tables',
      joined(r.tables),
      '--since',
      r.since!,
      '--until',
      r.until!,
      ...(r.timeColumn !== undefined ? ['--time-column', r.timeColumn] : []),
    ],
  },
  pitr: {
    does: 'restores the database (or the named tables, or a range of their rows) as it was at a point in time',
    // Tables and a range are optional here: checked in parseRestoreRequest.
    requires: ['at'],
    forbids: [],
    flags: ['stanza', 'pg-server-bin', 'since', 'until', 'time-column', 'overwrite'],
    // No --backup: pgBackRest picks the base backup. --pitr and --stanza are added by the job from
    // its task definition, never from input.
    jobArgs: (r) => [
      '--at',
      r.at!,
      ...(r.tables !== undefined ? ['--tables', joined(r.tables)] : r.target.overwrite ? ['--overwrite'] : []),
      ...(r.since !== undefined ? ['--since', r.since, '--until', r.until!] : []),
      ...(r.timeColumn !== undefined ? ['--time-column', r.timeColumn] : []),
    ],
  },
};

const OVERWRITE_TABLES =
  '--overwrite replaces a whole database and does not apply to --tables; drop it (a table restore keeps the replaced rows in a safety table)';

/** Why a flag does not apply to a mode: by mode where the reason differs, else `other`. */
const REFUSED: Readonly<Record<ModeFlag, Partial<Record<RestoreMode | 'other', string>>>> = {
  stanza: { other: '--stanza applies to point-in-time restores only; add --at and --pitr, or drop --stanza' },
  'pg-server-bin': {
    other: '--pg-server-bin applies to point-in-time restores only; add --at and --pitr, or drop --pg-server-bin',
  },
  repo: {
    pitr: '--repo names a repository of logical backups; a point-in-time restore reads the pgBackRest repository given by --pitr',
  },
  'with-globals': {
    pitr: '--with-globals applies to logical backups; a recovered cluster has the roles: create them on the target first, or pass --no-owner',
    other: '--with-globals applies to full restores only; drop it, or restore without --tables',
  },
  backup: {
    pitr: '--backup names a logical backup; a point-in-time restore uses the newest pgBackRest base backup before --at: drop --backup',
  },
  since: {},
  until: {},
  'time-column': {},
  merge: { full: '--merge applies to table restores only; add --tables, or drop --merge' },
  'replace-newer': {
    full: '--replace-newer applies to table restores only; add --tables, or drop --replace-newer',
    table: '--replace-newer applies to range restores (--since/--until) only; drop it',
  },
  overwrite: { other: OVERWRITE_TABLES },
  'hold-timescale-jobs': {
    pitr: '--hold-timescale-jobs applies to restores of logical backups only; drop it',
    other: "--hold-timescale-jobs applies to full restores only (a table restore keeps the target's jobs); drop it",
  },
  'lock-timeout': { full: '--lock-timeout applies to table restores (--tables) only; drop it' },
};

/**
 * The first flag rule a local `dr restore` breaks, as a usage message; undefined when none.
 * `given(flag)` says whether the flag was given (for --backup: a value other than latest).
 */
export function restoreFlagProblem(mode: RestoreMode, given: (flag: string) => boolean): string | undefined {
  const tables = given('tables');
  for (const flag of MODE_FLAGS) {
    if (!given(flag)) continue;
    // A range applies to named tables, in every mode; the first range flag given is named.
    if ((flag === 'since' || flag === 'until' || flag === 'time-column') && !tables)
      return `--${flag} needs --tables (a range restore applies to named tables)`;
    if (flag === 'overwrite' && tables) return OVERWRITE_TABLES;
    if (flag === 'merge' && given('replace-newer') && MODES[mode].flags.includes('merge'))
      return "--merge keeps the target's rows and --replace-newer replaces them: give one";
    if (!MODES[mode].flags.includes(flag)) {
      const reasons = REFUSED[flag];
      return reasons[mode] ?? reasons.other ?? `--${flag} does not apply to a ${mode} restore; drop it`;
    }
  }
  return undefined;
}

const EXAMPLES: Readonly<Record<OptionalField, string>> = {
  tables: '"tables": ["candles"]',
  since: '"since": "2026-01-10T00:00:00Z"',
  until: '"until": "2026-01-12T00:00:00Z"',
  timeColumn: '"timeColumn": "time"',
  at: '"at": "2026-01-15T14:30:00Z"',
};

/** A request that cannot run; `problems` are `<field>: <what is wrong>; <how to fix it>`. */
export class InvalidRestoreRequest extends DrError {
  /** The error name the validate Lambda fails with, and the state machine's Catch matches. */
  static readonly NAME = 'InvalidRestoreRequest';

  constructor(readonly problems: readonly string[]) {
    super(`invalid restore request: ${problems.join('; ')}`, `see the ${RESTORE_REQUEST_DOCS} section`, 2);
    // DrError fixes `name`; Lambda reports `name` as the errorType the state machine matches.
    Object.defineProperty(this, 'name', {
      value: InvalidRestoreRequest.NAME,
      enumerable: false,
      configurable: true,
      writable: false,
    });
  }
}

export interface ParseRestoreRequestOptions {
  /**
   * The databases the stack is configured with. When given, `database` must be one of them and a
   * target named like any of them is production. When absent (the CLI, which does not know the
   * configuration), only the source database's own name counts as production; the state machine
   * checks the rest.
   */
  readonly databases?: readonly string[];
  /**
   * Whether the deployment archives WAL (config pitr.enabled). When false, mode pitr is refused
   * here rather than by the job minutes later.
   * @default true
   */
  readonly pointInTimeRecovery?: boolean;
}

/** Validates a request; throws InvalidRestoreRequest listing every problem. */
export function parseRestoreRequest(raw: unknown, options: ParseRestoreRequestOptions = {}): RestoreRequest {
  const parsed = RestoreRequestSchema.safeParse(raw);
  if (!parsed.success) throw new InvalidRestoreRequest(parsed.error.issues.map((issue) => describeIssue(issue, raw)));
  const request = parsed.data;
  const problems: string[] = [];

  const configured = options.databases;
  if (configured && !configured.includes(request.database)) {
    problems.push(
      `database: "${request.database}" is not a configured database; use one of ${configured.map((d) => `"${d}"`).join(', ')}`,
    );
  }

  const rule = MODES[request.mode];
  for (const field of rule.requires) {
    if (request[field] === undefined)
      problems.push(`${field}: required for mode "${request.mode}" (it ${rule.does}); add e.g. ${EXAMPLES[field]}`);
  }
  for (const field of rule.forbids) {
    if (request[field] !== undefined) {
      const better = RESTORE_MODES.find((m) => MODES[m].requires.includes(field));
      problems.push(
        `${field}: not used by mode "${request.mode}" (it ${rule.does}); remove it${better ? `, or use "mode": "${better}"` : ''}`,
      );
    }
  }
  if (request.mode === 'pitr') {
    if (options.pointInTimeRecovery === false)
      problems.push(
        'mode: "pitr" needs WAL archiving, which this deployment does not have (config pitr.enabled is false); enable it and redeploy, or use "mode": "full", "table" or "range"',
      );
    problems.push(...pitrProblems(request, raw));
  }
  if (request.since !== undefined && request.until !== undefined && micros(request.since) >= micros(request.until)) {
    problems.push(
      `since: ${request.since} is not before until ${request.until}; the range is [since, until), so since must be earlier`,
    );
  }

  if (SYSTEM_DATABASES.includes(request.target.database.toLowerCase())) {
    problems.push(
      `target.database: "${request.target.database}" is a system database (${SYSTEM_DATABASES.join(', ')}); restore into another name such as "${request.database}_restored"`,
    );
  }
  const production = new Set([...(configured ?? []), request.database]);
  if (production.has(request.target.database) && !request.target.overwrite) {
    problems.push(
      `target.overwrite: target.database "${request.target.database}" is a production database and this restore ${rule.does} there; ` +
        `set "overwrite": true to do that deliberately, or restore into another name such as "${request.database}_restored"`,
    );
  }
  const wholeDatabase = request.mode === 'full' || (request.mode === 'pitr' && request.tables === undefined);
  if (
    production.has(request.target.database) &&
    request.target.overwrite &&
    wholeDatabase &&
    request.target.confirm !== request.target.database
  ) {
    problems.push(
      `target.confirm: replacing the whole production database "${request.target.database}" needs "confirm": "${request.target.database}" in target, typed deliberately`,
    );
  }
  if (problems.length > 0) throw new InvalidRestoreRequest(problems);
  return request;
}

/** Mode pitr's own rules: the optional range needs tables and both ends; no logical backup id. */
function pitrProblems(request: RestoreRequest, raw: unknown): string[] {
  const problems: string[] = [];
  if (request.tables === undefined) {
    for (const field of ['since', 'until', 'timeColumn'] as const) {
      if (request[field] !== undefined)
        problems.push(`${field}: a range applies to named tables; add e.g. ${EXAMPLES.tables}, or remove ${field}`);
    }
  }
  if ((request.since === undefined) !== (request.until === undefined)) {
    const missing = request.since === undefined ? 'since' : 'until';
    problems.push(`${missing}: a range needs both since and until; add e.g. ${EXAMPLES[missing]}, or remove the other`);
  }
  if (valueAt(raw, ['backup']) !== undefined && request.backup !== 'latest') {
    problems.push('backup: not used by mode "pitr" (pgBackRest picks the newest base backup before "at"); remove it');
  }
  if (request.at !== undefined && micros(request.at) > BigInt(Date.now()) * 1000n) {
    problems.push(
      `at: ${request.at} is in the future; recovery can only reach a time that has passed (and whose WAL is archived)`,
    );
  }
  return problems;
}

/** What the job needs to run a request (the container overrides). */
export interface RestoreJobRequest {
  /** DR_DATABASE: the source database (backup folder; its configured server and secret). */
  readonly database: string;
  /** DR_TARGET_DATABASE: restored into, on the same server. */
  readonly targetDatabase: string;
  /** DR_ARGS: extra `dr restore` flags, each allowed by JOB_COMMANDS.restore. */
  readonly args: string[];
}

/** The job's view of a validated request. */
export function restoreJobRequest(request: RestoreRequest): RestoreJobRequest {
  const args = MODES[request.mode].jobArgs(request);
  const allowed: readonly string[] = JOB_COMMANDS.restore;
  const flag = args.find((a) => a.startsWith('--') && !allowed.includes(a));
  // A programming error (the allow-list and this function disagree), not a user's.
  if (flag)
    throw new Error(`restoreJobRequest: ${flag} is not in JOB_COMMANDS.restore; add it there or stop passing it`);
  return { database: request.database, targetDatabase: request.target.database, args };
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const path = issue.path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
  if (issue.code === 'unrecognized_keys') {
    const allowed = path === 'target' ? ['database', 'overwrite', 'confirm'] : Object.keys(RestoreRequestSchema.shape);
    return `${path || '(input)'}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}; allowed: ${allowed.join(', ')}`;
  }
  if (issue.code === 'invalid_type' && issue.path.length > 0 && valueAt(raw, issue.path) === undefined) {
    return `${path}: required; ${issue.message}`;
  }
  return `${path || '(input)'}: ${issue.message}`;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}
