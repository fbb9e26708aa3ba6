/**
 * The one grammar of the times a person gives dr: `dr restore --since/--until`, `dr restore --at`
 * (and `dr pitr restore-server --at`), and the restore state machine's request (`since`, `until`,
 * `at`, also built by `dr remote restore`). A request the state machine accepts is therefore one
 * its job's `dr restore` accepts, and the same text means the same instant everywhere.
 *
 *   2026-01-15T14:30:00Z   2026-01-15 14:30:00.123456+01:00   2026-01-15T14:30+0100   2026-01-15T14:30:00-05
 *
 * - ISO 8601 / RFC 3339: `YYYY-MM-DD`, then `T` (or a space, as psql prints it), then `HH:MM`
 *   with optional `:SS` and a fraction of 1 to 6 digits. T and Z may be lower case.
 * - A zone is required, directly after the time: `Z`, `±HH:MM`, `±HHMM` or `±HH` (psql prints
 *   `+00`). A time without one would be read in whichever zone the server or the shell has.
 * - At most 6 fractional digits: PostgreSQL keeps microseconds and would round a longer fraction
 *   silently, moving a recovery target or a range boundary.
 * - Only dates and times that exist (no 2026-02-30, no 24:00 or leap second 60).
 * - A bare date (`2026-01-10`) is UTC midnight, and only for a range's ends (since, until), where
 *   whole days are the common case. A recovery target (`at`) is an instant and needs a time.
 * - Surrounding whitespace is ignored.
 */

/** Why a text is not a time of this grammar. */
export type TimeProblem = 'format' | 'date' | 'time' | 'precision';

/** A time of this grammar. */
export interface GivenTime {
  /** Microseconds since the epoch, exact. */
  readonly micros: bigint;
  /** The text was a bare date (UTC midnight). */
  readonly dateOnly: boolean;
}

/** How a problem other than 'format' reads after the quoted value; 'format' is worded per path. */
export const TIME_PROBLEM_TEXT: Readonly<Record<Exclude<TimeProblem, 'format'>, string>> = {
  date: 'is not a date that exists',
  time: 'is not a valid time of day or zone offset',
  precision: 'has more than 6 fractional digits (PostgreSQL keeps microseconds)',
};

const GRAMMAR =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?([Zz]|([+-])(\d{2})(?::?(\d{2}))?))?$/;

/**
 * Reads `text` as a time of the grammar above. `dateOnly` says whether a bare date (UTC midnight)
 * is allowed; when it is not, a bare date is a 'format' problem.
 */
export function readTime(text: string, options: { readonly dateOnly: boolean }): GivenTime | TimeProblem {
  const m = GRAMMAR.exec(text.trim());
  if (!m) return 'format';
  const [, y, mo, d, h, mi, sec = '00', frac = '', zone, sign, zh = '00', zm = '00'] = m;
  const dateOnly = h === undefined;
  if (dateOnly && !options.dateOnly) return 'format';
  const day = new Date(0);
  day.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  if (day.getUTCFullYear() !== Number(y) || day.getUTCMonth() !== Number(mo) - 1 || day.getUTCDate() !== Number(d))
    return 'date';
  if (dateOnly) return { micros: BigInt(day.getTime()) * 1000n, dateOnly };
  if (Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59 || Number(zh) > 23 || Number(zm) > 59) return 'time';
  if (frac.length > 6) return 'precision';
  const offsetMinutes = zone?.toUpperCase() === 'Z' ? 0 : (sign === '-' ? -1 : 1) * (Number(zh) * 60 + Number(zm));
  const ms = day.getTime() + ((Number(h) * 60 + Number(mi) - offsetMinutes) * 60 + Number(sec)) * 1000;
  return { micros: BigInt(ms) * 1000n + BigInt(frac.padEnd(6, '0')), dateOnly };
}
