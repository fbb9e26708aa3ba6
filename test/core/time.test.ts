/**
 * One time grammar (core/time.ts) on every path a person gives a time: `dr restore --since/--until`
 * (parseTime), `--at` (parseAt) and the restore state machine's request (parseRestoreRequest, also
 * what `dr remote restore` builds). Each row is accepted or refused the same way on all of them;
 * refusals on the CLI are usage errors (exit 2). test/bin/usage-contract.test.ts runs the rows
 * the paths used to disagree on through the dr binary.
 */
import { describe, expect, it } from 'vitest';
import { DrError } from '../../core/errors.ts';
import { parseAt } from '../../core/pitr/pgbackrest.ts';
import { parseTime } from '../../core/restore/replace.ts';
import { InvalidRestoreRequest, parseRestoreRequest } from '../../core/restore/request.ts';
import { readTime } from '../../core/time.ts';
import { TIME_TABLE } from '../support/time-table.ts';

const rangeRequest = (since: string) => ({
  database: 'crypto_stock',
  mode: 'range',
  tables: ['candles'],
  since,
  until: '2026-01-12T00:00:00Z',
  target: { database: 'crypto_stock_restored' },
});
const atRequest = (at: string) => ({
  database: 'crypto_stock',
  mode: 'pitr',
  at,
  target: { database: 'crypto_stock_restored' },
});

function usageError(run: () => unknown): DrError {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(DrError);
    expect((e as DrError).exitCode).toBe(2);
    return e as DrError;
  }
  throw new Error('expected a usage error');
}

function refusal(raw: unknown, field: string): string {
  try {
    parseRestoreRequest(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidRestoreRequest);
    const problems = (e as InvalidRestoreRequest).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${field}: `));
    return problems[0]!;
  }
  throw new Error(`expected the request to be refused for ${field}`);
}

describe('one time grammar on every path', () => {
  for (const [input, instant, kind] of TIME_TABLE) {
    const dateOnly = kind === 'date';
    it(`${JSON.stringify(input)}: range ${instant ? 'accepts' : 'refuses'}, --at ${instant && !dateOnly ? 'accepts' : 'refuses'}`, () => {
      // A range's ends (dr restore --since/--until and the request's since/until).
      if (instant) {
        expect(parseTime(input, '--since')).toBe(instant);
        const since = parseRestoreRequest(rangeRequest(input)).since!;
        expect(since).toBe(dateOnly ? `${input.trim()}T00:00:00Z` : input.trim());
        // The job reads the request's text again with dr restore --since: the same instant.
        expect(parseTime(since, '--since')).toBe(instant);
      } else {
        expect(usageError(() => parseTime(input, '--since')).message).toMatch(/^--since ".*" /);
        expect(refusal(rangeRequest(input), 'since')).toContain('ISO 8601');
      }
      // A recovery target (dr restore --at, dr pitr restore-server --at, the request's at): no bare date.
      if (instant && !dateOnly) {
        const micros = readTime(input, { dateOnly: false });
        expect(parseAt(input).micros).toBe(typeof micros === 'string' ? undefined : micros.micros);
        expect(parseAt(input).iso.replace(/(\.\d{3})000Z$/, '$1Z')).toBe(instant);
        expect(parseRestoreRequest(atRequest(input)).at).toBe(input.trim());
      } else {
        expect(usageError(() => parseAt(input)).message).toMatch(/^--at ".*" /);
        expect(refusal(atRequest(input), 'at')).toContain('ISO 8601');
      }
    });
  }

  it('names the problem: a date that does not exist, a time of day, the precision', () => {
    expect(usageError(() => parseTime('2026-02-30', '--since')).message).toBe(
      '--since "2026-02-30" is not a date that exists',
    );
    expect(usageError(() => parseAt('2026-01-10T25:00:00Z')).message).toBe(
      '--at "2026-01-10T25:00:00Z" is not a valid time of day or zone offset',
    );
    expect(usageError(() => parseTime('2026-01-10T00:00:00.1234567Z', '--until')).message).toBe(
      '--until "2026-01-10T00:00:00.1234567Z" has more than 6 fractional digits (PostgreSQL keeps microseconds)',
    );
    expect(refusal(atRequest('2026-01-10T00:00:00.1234567Z'), 'at')).toBe(
      'at: "2026-01-10T00:00:00.1234567Z" has more than 6 fractional digits (PostgreSQL keeps microseconds); must be an ISO 8601 time with a time zone, e.g. "2026-01-15T14:30:00Z"',
    );
    expect(refusal(atRequest('2026-01-10'), 'at')).toBe(
      'at: must be an ISO 8601 time with a time zone, e.g. "2026-01-15T14:30:00Z"',
    );
  });
});
