/**
 * The restore state machine's summary, built from the job's recorded `dr restore --json` result for
 * each mode, and the one-line reasons a failed restore is alerted with.
 */
import { describe, expect, it } from 'vitest';
import { parseRestoreRequest } from '../../../core/restore/request.ts';
import { summarizeRestore } from '../../../core/restore/summary.ts';

const common = {
  executionName: 'exec-1',
  executionStartedAt: '2026-11-25T10:00:00.000Z',
  resultKey: 'results/restores/exec-1.json',
  now: new Date('2026-11-25T10:01:30.000Z'),
};
const record = (result: Record<string, unknown> | null, exitCode = 0) => ({
  command: 'restore',
  exitCode,
  finishedAt: '2026-11-25T10:01:29Z',
  result,
});

describe('summarizeRestore', () => {
  it('a full restore: backup, fallback, checksums, rows and durations', () => {
    const request = parseRestoreRequest({
      database: 'crypto_stock',
      backup: 'latest',
      mode: 'full',
      target: { database: 'crypto_stock_restored' },
    });
    const outcome = summarizeRestore({
      ...common,
      request,
      exitCode: 0,
      record: record({
        ok: true,
        backup: {
          id: '20261125T020000Z-aaaaaa',
          database: 'crypto_stock',
          tier: 'daily',
          startedAt: '2026-11-25T02:00:00Z',
        },
        fallbacks: [{ id: '20261126T020000Z-bbbbbb', reason: 'checksum mismatch for data/toc.dat' }],
        target: 'crypto_stock_restored',
        replaced: false,
        files: 12,
        bytes: 4096,
        tables: 9,
        rows: 1234,
        durationMs: 61_234,
        phases: {
          checkTargetMs: 120,
          fallbackMs: 900,
          downloadMs: 4000,
          verifyMs: 0,
          restoreMs: 55_000,
          swapMs: 200,
          otherMs: 1014,
        },
        warnings: [],
      }),
    });
    expect(outcome.ok).toBe(true);
    expect(outcome.summary).toMatchObject({
      mode: 'full',
      backup: { id: '20261125T020000Z-aaaaaa', tier: 'daily' },
      fallback: {
        used: true,
        note: 'the newest backup 20261126T020000Z-bbbbbb failed verification; restored 20261125T020000Z-aaaaaa instead',
      },
      checksums: { verified: true, files: 12, bytes: 4096 },
      rows: 1234,
      pointInTime: null,
      restoreSeconds: 61.2,
      executionSeconds: 90,
    });
  });

  it('a point-in-time table restore: the target time, where recovery stopped, and rows per table', () => {
    const request = parseRestoreRequest(
      {
        database: 'crypto_stock',
        mode: 'pitr',
        at: '2026-11-20T14:30:00Z',
        tables: ['candles'],
        target: { database: 'crypto_stock_pitr' },
      },
      { databases: ['crypto_stock'] },
    );
    const outcome = summarizeRestore({
      ...common,
      request,
      exitCode: 0,
      record: record({
        ok: true,
        mode: 'tables',
        at: '2026-11-20T14:30:00.000Z',
        recovery: { kind: 'time', value: '2026-11-20T14:30:00.000Z' },
        timeline: 1,
        stopRecord: 'recovery stopping before commit of transaction 1234, time 2026-11-20 14:30:01.004+00',
        stanza: 'crypto_stock',
        backup: '20261119-020000F',
        database: 'crypto_stock',
        target: 'crypto_stock_pitr',
        lastCommit: '2026-11-20T14:29:58.120Z',
        stoppedBefore: '2026-11-20T14:30:01.004Z',
        replaced: false,
        tables: [
          {
            table: 'public.candles',
            rowsReplaced: 10,
            rowsRestored: 12,
            rowsKept: 0,
            safetyTable: 'candles__dr_saved_20261125t100000z',
            created: false,
            sequencesAdvanced: [],
          },
        ],
        durationMs: 20_000,
        phases: { physicalMs: 1, recoveryMs: 1, transferMs: 1 },
        warnings: [],
      }),
    });
    expect(outcome).toMatchObject({
      ok: true,
      summary: {
        mode: 'pitr',
        backup: { id: '20261119-020000F', tier: 'pgbackrest' },
        pointInTime: {
          at: '2026-11-20T14:30:00.000Z',
          lastCommit: '2026-11-20T14:29:58.120Z',
          stoppedBefore: '2026-11-20T14:30:01.004Z',
        },
        rows: 12,
        rowsReplaced: 10,
        tables: [{ table: 'public.candles', safetyTable: 'candles__dr_saved_20261125t100000z' }],
        checksums: { note: expect.stringContaining('pgBackRest verified base backup 20261119-020000F') },
      },
    });
  });

  it('failures become one-line reasons for the alert', () => {
    const request = parseRestoreRequest({ database: 'crypto_stock', mode: 'full', target: { database: 'x' } });
    expect(
      summarizeRestore({
        ...common,
        request,
        exitCode: 1,
        record: record({ ok: false, error: 'no backup passed verification', hint: 'restore from the offsite copy' }, 1),
      }),
    ).toEqual({
      ok: false,
      summary: null,
      reason: 'dr restore exited with code 1: no backup passed verification; restore from the offsite copy',
    });
    expect(summarizeRestore({ ...common, request, exitCode: undefined, record: undefined }).reason).toMatch(
      /stopped without an exit code/,
    );
    expect(summarizeRestore({ ...common, request, exitCode: 0, record: undefined }).reason).toMatch(
      /exited 0 but recorded no result at results\/restores\/exec-1\.json/,
    );
    const pitr = parseRestoreRequest({
      database: 'crypto_stock',
      mode: 'pitr',
      at: '2026-11-20T14:30:00Z',
      target: { database: 'y' },
    });
    expect(
      summarizeRestore({ ...common, request: pitr, exitCode: 0, record: record({ ok: true, backup: { id: 'x' } }) })
        .reason,
    ).toMatch(/is not a point-in-time restore result \(mode: /);
  });
});
