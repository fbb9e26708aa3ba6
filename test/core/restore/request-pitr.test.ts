/** Mode "pitr" of the restore state machine input: validation and the job's DR_ARGS. */
import { describe, expect, it } from 'vitest';
import { JOB_COMMANDS } from '../../../core/contract.ts';
import { InvalidRestoreRequest, parseRestoreRequest, restoreJobRequest } from '../../../core/restore/request.ts';

const databases = ['crypto_stock', 'market_ticks'];
const base = {
  database: 'crypto_stock',
  mode: 'pitr',
  at: '2026-01-15T14:30:00Z',
  target: { database: 'crypto_stock_at_1430' },
};

function problems(raw: unknown): readonly string[] {
  try {
    parseRestoreRequest(raw, { databases });
  } catch (err) {
    if (err instanceof InvalidRestoreRequest) return err.problems;
    throw err;
  }
  throw new Error('expected the request to be refused');
}

describe('restore request mode "pitr"', () => {
  it('restores a whole database at a time: --at only, no --backup (pgBackRest picks the base backup)', () => {
    const request = parseRestoreRequest(base, { databases });
    expect(restoreJobRequest(request)).toEqual({
      database: 'crypto_stock',
      targetDatabase: 'crypto_stock_at_1430',
      args: ['--at', '2026-01-15T14:30:00Z'],
    });
  });

  it('passes --overwrite for a whole-database restore into production only when asked', () => {
    const request = parseRestoreRequest(
      { ...base, target: { database: 'crypto_stock', overwrite: true, confirm: 'crypto_stock' } },
      { databases },
    );
    expect(restoreJobRequest(request).args).toEqual(['--at', '2026-01-15T14:30:00Z', '--overwrite']);
    expect(problems({ ...base, target: { database: 'market_ticks' } })).toEqual([
      'target.overwrite: target.database "market_ticks" is a production database and this restore restores the database (or the named tables, or a range of their rows) as it was at a point in time there; set "overwrite": true to do that deliberately, or restore into another name such as "crypto_stock_restored"',
    ]);
  });

  it('restores named tables, or a range of their rows, as they were at the time (a bare date is UTC midnight for since/until)', () => {
    const tables = parseRestoreRequest({ ...base, tables: ['candles', 'public.indicators'] }, { databases });
    expect(restoreJobRequest(tables).args).toEqual([
      '--at',
      '2026-01-15T14:30:00Z',
      '--tables',
      'candles,public.indicators',
    ]);
    const range = parseRestoreRequest(
      {
        ...base,
        at: '2026-01-16T00:00:00Z',
        tables: ['candles'],
        since: '2026-01-01',
        until: '2026-02-01T00:00:00Z',
        timeColumn: 'bucket',
      },
      { databases },
    );
    expect(restoreJobRequest(range).args).toEqual([
      '--at',
      '2026-01-16T00:00:00Z',
      '--tables',
      'candles',
      '--since',
      '2026-01-01T00:00:00Z',
      '--until',
      '2026-02-01T00:00:00Z',
      '--time-column',
      'bucket',
    ]);
    // Every flag is one the job allows; --pitr and --stanza never are (the task definition sets them).
    const allowed: readonly string[] = JOB_COMMANDS.restore;
    for (const flag of restoreJobRequest(range).args.filter((a) => a.startsWith('--'))) expect(allowed).toContain(flag);
    expect(allowed).not.toContain('--pitr');
    expect(allowed).not.toContain('--stanza');
  });

  it('refuses a request without "at", or with a malformed one, saying how to fix it', () => {
    expect(problems({ ...base, at: undefined })).toEqual([
      'at: required for mode "pitr" (it restores the database (or the named tables, or a range of their rows) as it was at a point in time); add e.g. "at": "2026-01-15T14:30:00Z"',
    ]);
    expect(problems({ ...base, at: '15.01.2026 14:30' })).toEqual([
      'at: must be an ISO 8601 time with a time zone, e.g. "2026-01-15T14:30:00Z"',
    ]);
    // A recovery target is an instant: a bare date is refused, as dr restore --at refuses it (core/time.ts).
    expect(problems({ ...base, at: '2026-01-16' })).toEqual([
      'at: must be an ISO 8601 time with a time zone, e.g. "2026-01-15T14:30:00Z"',
    ]);
  });

  it('refuses a time in the future, a range without tables or without both ends, and a backup id', () => {
    expect(problems({ ...base, at: '2999-01-01T00:00:00Z' })).toEqual([
      'at: 2999-01-01T00:00:00Z is in the future; recovery can only reach a time that has passed (and whose WAL is archived)',
    ]);
    expect(problems({ ...base, since: '2026-01-01T00:00:00Z', until: '2026-01-02T00:00:00Z' })).toEqual([
      'since: a range applies to named tables; add e.g. "tables": ["candles"], or remove since',
      'until: a range applies to named tables; add e.g. "tables": ["candles"], or remove until',
    ]);
    expect(problems({ ...base, tables: ['candles'], since: '2026-01-01T00:00:00Z' })).toEqual([
      'until: a range needs both since and until; add e.g. "until": "2026-01-12T00:00:00Z", or remove the other',
    ]);
    expect(problems({ ...base, backup: '20260110T020000Z-a1b2c3' })).toEqual([
      'backup: not used by mode "pitr" (pgBackRest picks the newest base backup before "at"); remove it',
    ]);
  });

  it('refuses "at" in the logical modes, pointing to mode "pitr"', () => {
    expect(
      problems({ database: 'crypto_stock', mode: 'full', at: '2026-01-15T14:30:00Z', target: { database: 'x' } }),
    ).toEqual(['at: not used by mode "full" (it restores the whole database); remove it, or use "mode": "pitr"']);
  });
});
