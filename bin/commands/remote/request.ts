/** The restore request `dr remote restore`'s flags describe, validated as the state machine validates it. */
import { randomBytes } from 'node:crypto';
import { DrError } from '../../../core/errors.ts';
import {
  InvalidRestoreRequest,
  parseRestoreRequest,
  type RestoreRequest,
  type RestoreRequestInput,
  restoreFlagProblem,
  restoreModeOf,
} from '../../../core/restore/request.ts';
import { splitTableList } from '../../../core/restore/tables.ts';
import { optionalString, required, usage, type Values } from '../args.ts';

/** Request field → the flag that sets it, so validation messages speak in flags. */
const FLAG_OF: Readonly<Record<string, string>> = {
  'target.overwrite': '--overwrite',
  'target.confirm': '--confirm',
  'target.database': '--target-database',
  timeColumn: '--time-column',
  database: '--database',
  backup: '--backup',
  tables: '--tables',
  since: '--since',
  until: '--until',
  at: '--at',
};

/** The request the flags describe; the mode follows from them (pitr with --at, range with --since/--until, table with --tables, else full). */
export function requestFromFlags(v: Values): RestoreRequest {
  const tables = optionalString(v, 'tables');
  const since = optionalString(v, 'since');
  const until = optionalString(v, 'until');
  const timeColumn = optionalString(v, 'time-column');
  const at = optionalString(v, 'at');
  const mode = restoreModeOf({
    pointInTime: at !== undefined,
    range: !!(since || until),
    tables: tables !== undefined,
  });
  // The range flags follow dr restore's rules, word for word; the request schema checks the rest.
  const rangeFlags: Readonly<Record<string, string | undefined>> = { tables, since, until, 'time-column': timeColumn };
  const problem = restoreFlagProblem(mode, (flag) => rangeFlags[flag] !== undefined);
  if (problem) throw usage(problem);
  const raw: RestoreRequestInput = {
    database: required(v, 'database'),
    backup: optionalString(v, 'backup') ?? 'latest',
    mode,
    // The same quoting-aware split as dr restore --tables (a "Schema"."a,b" name keeps its comma).
    ...(tables ? { tables: splitTableList(tables) } : {}),
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
    ...(timeColumn ? { timeColumn } : {}),
    ...(at ? { at } : {}),
    target: {
      database: required(v, 'target-database'),
      overwrite: v.overwrite === true,
      ...(typeof v.confirm === 'string' ? { confirm: v.confirm } : {}),
    },
  };
  try {
    return parseRestoreRequest(raw);
  } catch (err) {
    if (!(err instanceof InvalidRestoreRequest)) throw err;
    const problems = err.problems.map((p) => {
      const field = Object.keys(FLAG_OF).find((f) => p.startsWith(`${f}:`));
      const text = field ? `${FLAG_OF[field]}${p.slice(field.length)}` : p;
      return text
        .replace('set "overwrite": true', 'pass --overwrite')
        .replace(/needs "confirm": "([^"]+)" in target/, 'needs --confirm $1')
        .replace('target.database "', '--target-database "');
    });
    throw new DrError(`invalid restore: ${problems.join('; ')}`, 'see dr remote restore --help', 2);
  }
}

/** The execution name: readable in the console, unique, within Step Functions' 80 characters. */
export function executionName(request: RestoreRequest, now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const suffix = `-${stamp}-${randomBytes(3).toString('hex')}`;
  return `restore-${request.mode}-${request.database}`.slice(0, 80 - suffix.length) + suffix;
}
