import { describe, expect, it } from 'vitest';
import { JOB_COMMANDS } from '../../../core/contract.ts';
import { DrError } from '../../../core/errors.ts';
import { InvalidRestoreRequest, parseRestoreRequest, restoreJobRequest } from '../../../core/restore/request.ts';

const databases = ['crypto_stock', 'analytics'];
const base = { database: 'crypto_stock', target: { database: 'crypto_stock_restored' } };
const range = {
  ...base,
  mode: 'range',
  tables: ['candles'],
  since: '2026-01-10T00:00:00Z',
  until: '2026-01-12T00:00:00Z',
};

/** The problems a request is rejected with. */
function problems(raw: unknown, options = { databases }): readonly string[] {
  try {
    parseRestoreRequest(raw, options);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRestoreRequest);
    return (err as InvalidRestoreRequest).problems;
  }
  throw new Error('the request was accepted');
}

describe('parseRestoreRequest', () => {
  it('fills in defaults: backup latest, overwrite false', () => {
    expect(parseRestoreRequest({ ...base, mode: 'full' }, { databases })).toEqual({
      database: 'crypto_stock',
      backup: 'latest',
      mode: 'full',
      target: { database: 'crypto_stock_restored', overwrite: false },
    });
  });

  it('accepts the README examples', () => {
    expect(
      parseRestoreRequest({ ...base, mode: 'table', tables: ['candles', 'public.alerts'] }, { databases }).tables,
    ).toEqual(['candles', 'public.alerts']);
    expect(
      parseRestoreRequest({ ...range, timeColumn: 'time', backup: '20260110T020000Z-a1b2c3' }, { databases })
        .timeColumn,
    ).toBe('time');
  });

  it('is an InvalidRestoreRequest (a DrError, exit 2) named for the state machine Catch', () => {
    try {
      parseRestoreRequest({}, { databases });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DrError);
      expect((err as DrError).name).toBe('InvalidRestoreRequest');
      expect((err as DrError).exitCode).toBe(2);
      expect((err as DrError).oneLine()).toMatch(
        /^invalid restore request: .*; see the README "Restores from the Step Functions console" section$/,
      );
    }
  });

  it('names missing and mistyped fields with an example', () => {
    expect(problems({ mode: 'sideways', target: 'x' })).toEqual([
      'database: required; must be a database name (a string) such as "crypto_stock"',
      'mode: must be one of "full", "table", "range", "pitr"',
      'target: must be an object {"database": "<name>", "overwrite": false}',
    ]);
    expect(problems('restore please')).toEqual([
      expect.stringContaining('(input): must be a JSON object such as {"database":"crypto_stock"'),
    ]);
  });

  it('rejects unknown fields, listing the allowed ones (a typo must not be ignored)', () => {
    expect(problems({ ...base, mode: 'full', table: ['candles'] })).toEqual([
      '(input): unknown field "table"; allowed: database, backup, mode, tables, since, until, at, timeColumn, target',
    ]);
    expect(problems({ ...base, mode: 'full', target: { database: 'x', overWrite: true } })).toEqual([
      'target: unknown field "overWrite"; allowed: database, overwrite, confirm',
    ]);
  });

  it('requires tables for table and range mode, and since/until for range', () => {
    expect(problems({ ...base, mode: 'table' })).toEqual([
      'tables: required for mode "table" (it replaces the named tables\' rows); add e.g. "tables": ["candles"]',
    ]);
    expect(problems({ ...base, mode: 'range', tables: ['candles'] })).toEqual([
      'since: required for mode "range" (it replaces the rows of one time range); add e.g. "since": "2026-01-10T00:00:00Z"',
      'until: required for mode "range" (it replaces the rows of one time range); add e.g. "until": "2026-01-12T00:00:00Z"',
    ]);
    expect(problems({ ...base, mode: 'range', tables: [] })).toContain(
      'tables: list at least one table, e.g. ["candles"]',
    );
  });

  it('rejects fields the mode does not use, suggesting the mode that does', () => {
    expect(problems({ ...base, mode: 'full', tables: ['candles'] })).toEqual([
      'tables: not used by mode "full" (it restores the whole database); remove it, or use "mode": "table"',
    ]);
    expect(problems({ ...base, mode: 'table', tables: ['candles'], since: '2026-01-10T00:00:00Z' })).toEqual([
      'since: not used by mode "table" (it replaces the named tables\' rows); remove it, or use "mode": "range"',
    ]);
  });

  it('requires since before until, both ISO times with a zone', () => {
    expect(problems({ ...range, since: range.until, until: range.since })).toEqual([
      'since: 2026-01-12T00:00:00Z is not before until 2026-01-10T00:00:00Z; the range is [since, until), so since must be earlier',
    ]);
    expect(problems({ ...range, until: range.since })).toHaveLength(1);
    expect(problems({ ...range, since: '10/01/2026' })).toEqual([
      'since: must be an ISO 8601 time with a time zone, e.g. "2026-01-10T00:00:00Z", or a date (UTC midnight)',
    ]);
    expect(problems({ ...range, since: '2026-01-10T00:00:00' })).toHaveLength(1);
    // A bare date is UTC midnight, as dr restore reads it, made explicit for the job.
    expect(parseRestoreRequest({ ...range, since: '2026-01-10', until: '2026-01-11' }, { databases })).toMatchObject({
      since: '2026-01-10T00:00:00Z',
      until: '2026-01-11T00:00:00Z',
    });
    // Offsets count: 01:00+02:00 is 23:00Z the day before, which is before until.
    expect(parseRestoreRequest({ ...range, since: '2026-01-12T01:00:00+02:00' }, { databases }).since).toBe(
      '2026-01-12T01:00:00+02:00',
    );
  });

  it('rejects a backup that is neither latest nor an id, and names that could become flags', () => {
    expect(problems({ ...base, mode: 'full', backup: 'yesterday' })).toEqual([
      expect.stringContaining('backup: must be "latest" or a backup id such as "20260110T020000Z-a1b2c3"'),
    ]);
    expect(problems({ ...base, mode: 'table', tables: ['--overwrite'] })).toEqual([
      expect.stringContaining('each table name must be non-empty, without commas, not starting with "-"'),
    ]);
    expect(problems({ ...base, mode: 'table', tables: ['a,b'] })).toHaveLength(1);
    expect(problems({ ...range, timeColumn: '-x' })).toEqual([
      'timeColumn: must be a column name, not empty and not starting with "-"',
    ]);
    expect(problems({ ...base, mode: 'full', target: { database: 'x; drop' } })).toEqual([
      expect.stringContaining('target.database: must be a database name'),
    ]);
  });

  it('accepts only configured source databases', () => {
    expect(problems({ ...base, database: 'crypto', mode: 'full' })).toEqual([
      'database: "crypto" is not a configured database; use one of "crypto_stock", "analytics"',
    ]);
  });

  it('refuses the system databases postgres, template0, template1 and rdsadmin as targets, whatever the flags', () => {
    for (const name of ['postgres', 'template0', 'template1', 'rdsadmin']) {
      expect(problems({ ...base, mode: 'full', target: { database: name, overwrite: true, confirm: name } })).toEqual([
        `target.database: "${name}" is a system database (postgres, template0, template1, rdsadmin); restore into another name such as "crypto_stock_restored"`,
      ]);
    }
  });

  it('needs overwrite: true to restore into a production (configured) database, in every mode', () => {
    for (const request of [{ ...base, mode: 'full' }, { ...range }]) {
      expect(problems({ ...request, target: { database: 'crypto_stock' } })).toEqual([
        expect.stringMatching(
          /^target\.overwrite: target\.database "crypto_stock" is a production database and this restore .* there; set "overwrite": true to do that deliberately, or restore into another name such as "crypto_stock_restored"$/,
        ),
      ]);
      expect(
        parseRestoreRequest(
          { ...request, target: { database: 'crypto_stock', overwrite: true, confirm: 'crypto_stock' } },
          { databases },
        ).target.overwrite,
      ).toBe(true);
    }
    // Replacing the whole production database also needs its name typed in confirm; a range does not.
    expect(problems({ ...base, mode: 'full', target: { database: 'crypto_stock', overwrite: true } })).toEqual([
      'target.confirm: replacing the whole production database "crypto_stock" needs "confirm": "crypto_stock" in target, typed deliberately',
    ]);
    expect(
      problems({ ...base, mode: 'full', target: { database: 'crypto_stock', overwrite: true, confirm: 'analytics' } }),
    ).toHaveLength(1);
    expect(
      parseRestoreRequest({ ...range, target: { database: 'crypto_stock', overwrite: true } }, { databases }).target
        .overwrite,
    ).toBe(true);
    // Another configured database is production too.
    expect(problems({ ...base, mode: 'full', target: { database: 'analytics', overwrite: false } })).toHaveLength(1);
    // A scratch name on the same server is not.
    expect(
      parseRestoreRequest({ ...base, mode: 'full', target: { database: 'scratch' } }, { databases }).target.overwrite,
    ).toBe(false);
  });

  it('without the configured list (the CLI), still guards the source database itself', () => {
    expect(problems({ ...base, mode: 'full', target: { database: 'crypto_stock' } }, {} as never)).toHaveLength(1);
    expect(parseRestoreRequest({ ...base, database: 'anything', mode: 'full' }).database).toBe('anything');
  });

  it('lists every problem at once', () => {
    expect(
      problems({ ...range, database: 'nope', since: range.until, target: { database: 'analytics' } }),
    ).toHaveLength(3);
  });
});

describe('restoreJobRequest', () => {
  const job = (raw: unknown) => restoreJobRequest(parseRestoreRequest(raw, { databases }));

  it('full: backup only; overwrite when asked', () => {
    expect(job({ ...base, mode: 'full' })).toEqual({
      database: 'crypto_stock',
      targetDatabase: 'crypto_stock_restored',
      args: ['--backup', 'latest'],
    });
    expect(
      job({
        ...base,
        mode: 'full',
        backup: '20260110T020000Z-a1b2c3',
        target: { database: 'crypto_stock', overwrite: true, confirm: 'crypto_stock' },
      }),
    ).toEqual({
      database: 'crypto_stock',
      targetDatabase: 'crypto_stock',
      args: ['--backup', '20260110T020000Z-a1b2c3', '--overwrite'],
    });
  });

  it('table and range: the dr restore flags; never --overwrite (dr refuses it with --tables; replaced rows go to safety tables)', () => {
    expect(
      job({ ...base, mode: 'table', tables: ['candles'], target: { database: 'crypto_stock', overwrite: true } }).args,
    ).toEqual(['--backup', 'latest', '--tables', 'candles']);
    expect(job({ ...base, mode: 'table', tables: ['candles', 'alerts'] }).args).toEqual([
      '--backup',
      'latest',
      '--tables',
      'candles,alerts',
    ]);
    expect(job({ ...range, timeColumn: 'time' }).args).toEqual([
      '--backup',
      'latest',
      '--tables',
      'candles',
      '--since',
      '2026-01-10T00:00:00Z',
      '--until',
      '2026-01-12T00:00:00Z',
      '--time-column',
      'time',
    ]);
  });

  it('passes only flags the job allows for restore', () => {
    const args = job({ ...range, timeColumn: 'time', target: { database: 'crypto_stock', overwrite: true } }).args;
    const allowed: readonly string[] = JOB_COMMANDS.restore;
    expect(args.filter((a) => a.startsWith('--')).every((f) => allowed.includes(f))).toBe(true);
  });
});
