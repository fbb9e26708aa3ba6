/**
 * verifyAgainstManifest against a real backup, restored into the real PostgreSQL: the restored
 * copy passes, and each kind of damage fails the check that names the damaged object.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrError } from '../../../core/errors.ts';
import {
  describeFailure,
  type VerifyCheck,
  type VerifyResult,
  verifyAgainstManifest,
} from '../../../core/verify/verify.ts';
import { pgUrl } from '../../../fixtures/pg.ts';
import {
  backupAndRestore,
  type HealthServer,
  type RestoredFixture,
  startHealthServer,
} from '../../support/restored.ts';

let fx: RestoredFixture;
let health: HealthServer;

beforeAll(async () => {
  fx = await backupAndRestore('dr_verify');
  health = await startHealthServer();
});

afterAll(async () => {
  await health?.close();
  await fx?.cleanup();
});

const failures = (r: VerifyResult): VerifyCheck[] => r.checks.filter((c) => !c.passed);
const verify = (database: string, healthUrls?: string[], healthTimeoutMs?: number) =>
  verifyAgainstManifest({ manifest: fx.manifest, target: pgUrl(database), healthUrls, healthTimeoutMs });

describe('verifyAgainstManifest', () => {
  it('passes for the restored copy, with a check for every table, index, constraint, sequence and extension', async () => {
    const result = await verify(fx.restored);
    expect(failures(result)).toEqual([]);
    expect(result).toMatchObject({
      passed: true,
      backupId: fx.manifest.id,
      database: fx.source,
      target: expect.stringContaining(`/${fx.restored}`),
    });
    expect(result.totals).toEqual({ checks: result.checks.length, failed: 0 });
    const objects = (name: string) => result.checks.filter((c) => c.name === name).map((c) => c.object);
    const tables = fx.manifest.tables;
    expect(objects('table-present')).toHaveLength(tables.length);
    // Quoted identifiers are written as SQL needs them; partitioned parents and the matview are checked too.
    expect(objects('row-count')).toEqual(
      expect.arrayContaining([
        '"Reporting"."Daily Summary"',
        'public.candles',
        'public.candles_2025_09',
        'public.daily_volume',
      ]),
    );
    const candles = result.checks.find((c) => c.name === 'row-count' && c.object === 'public.candles')!;
    expect(candles.actual).toBe(tables.filter((t) => t.parent === 'public.candles').reduce((n, t) => n + t.rows, 0));
    expect(objects('freshness')).toContain('public.candles.time');
    expect(objects('index')).toHaveLength(tables.reduce((n, t) => n + t.indexes.length, 0));
    expect(
      new Set(result.checks.filter((c) => c.name === 'constraint').map((c) => String(c.expected).split(' ')[0])),
    ).toEqual(new Set(['PRIMARY', 'FOREIGN', 'UNIQUE', 'CHECK']));
    expect(objects('sequence')).toHaveLength(fx.manifest.sequences.length);
    expect(objects('extension')).toContain('plpgsql');
  });

  it('catches rows deleted from one table and names it, in a quoted schema too', async () => {
    const copy = await fx.clone((c) =>
      c.query(
        `DELETE FROM "Reporting"."Daily Summary" WHERE ctid IN (SELECT ctid FROM "Reporting"."Daily Summary" LIMIT 3)`,
      ),
    );
    const result = await verify(copy);
    expect(result.passed).toBe(false);
    const expected = fx.manifest.tables.find((t) => t.name === 'Daily Summary')!.rows;
    expect(failures(result).filter((c) => c.name === 'row-count')).toEqual([
      { name: 'row-count', object: '"Reporting"."Daily Summary"', expected, actual: expected - 3, passed: false },
    ]);
    expect(failures(result).map(describeFailure)).toContain(
      `table "Reporting"."Daily Summary": ${expected - 3} rows, expected ${expected}`,
    );
  });

  it('catches rows deleted from a partition: the partition and its parent (the sum) both fail, and freshness', async () => {
    const copy = await fx.clone((c) => c.query(`DELETE FROM candles_2026_01 WHERE time >= '2026-01-31'`));
    const failed = failures(await verify(copy));
    expect(
      failed
        .filter((c) => c.name === 'row-count')
        .map((c) => c.object)
        .sort(),
    ).toEqual(['public.candles', 'public.candles_2026_01']);
    expect(failed.filter((c) => c.name === 'freshness').map((c) => c.object)).toContain('public.candles.time');
  });

  it('catches a dropped index and names it', async () => {
    const index = fx.manifest.tables
      .find((t) => t.name === 'indicators')!
      .indexes.find((i) => i.name === 'indicators_symbol_name_time')!;
    const copy = await fx.clone((c) => c.query('DROP INDEX indicators_symbol_name_time'));
    const failed = failures(await verify(copy));
    expect(failed).toEqual([
      {
        name: 'index',
        object: 'public.indicators_symbol_name_time',
        expected: index.definition,
        actual: null,
        passed: false,
      },
    ]);
    expect(describeFailure(failed[0]!)).toMatch(/^index public\.indicators_symbol_name_time is missing/);
  });

  it('catches an index whose definition differs', async () => {
    const copy = await fx.clone((c) =>
      c.query(
        'DROP INDEX audit_logs_occurred_at; CREATE INDEX audit_logs_occurred_at ON audit_logs (occurred_at DESC)',
      ),
    );
    const failed = failures(await verify(copy));
    expect(failed).toEqual([
      expect.objectContaining({
        name: 'index',
        object: 'public.audit_logs_occurred_at',
        actual: expect.stringMatching(/occurred_at DESC/),
      }),
    ]);
  });

  it('catches a dropped foreign key and a dropped check constraint, naming each with its table', async () => {
    const alerts = fx.manifest.tables.find((t) => t.name === 'alerts')!;
    const fk = alerts.constraints.find((c) => c.type === 'f')!;
    const chk = alerts.constraints.find((c) => c.type === 'c')!;
    const copy = await fx.clone((c) =>
      c.query(`ALTER TABLE alerts DROP CONSTRAINT "${fk.name}", DROP CONSTRAINT "${chk.name}"`),
    );
    const failed = failures(await verify(copy));
    expect(failed).toEqual(
      expect.arrayContaining([
        {
          name: 'constraint',
          object: `public.alerts.${fk.name}`,
          expected: fk.definition,
          actual: null,
          passed: false,
        },
        {
          name: 'constraint',
          object: `public.alerts.${chk.name}`,
          expected: chk.definition,
          actual: null,
          passed: false,
        },
      ]),
    );
    expect(failed).toHaveLength(2);
  });

  it('catches a sequence behind its recorded value, and accepts one ahead', async () => {
    const used = fx.manifest.sequences.filter((s) => s.lastValue !== null && BigInt(s.lastValue) > 1n);
    expect(used.length).toBeGreaterThanOrEqual(2);
    const behind = used[0]!;
    const ahead = used[1]!;
    const copy = await fx.clone((c) =>
      c.query(
        `SELECT setval('"${behind.schema}"."${behind.name}"', 1), setval('"${ahead.schema}"."${ahead.name}"', ${ahead.lastValue} + 100)`,
      ),
    );
    const failed = failures(await verify(copy));
    expect(failed).toEqual([
      {
        name: 'sequence',
        object: `${behind.schema}.${behind.name}`,
        expected: behind.lastValue,
        actual: '1',
        passed: false,
      },
    ]);
  });

  it('catches an unexpected table and an unexpected extension', async () => {
    const copy = await fx.clone((c) => c.query('CREATE TABLE public."Stray Table" (id int); CREATE EXTENSION pg_trgm'));
    const failed = failures(await verify(copy));
    expect(failed).toEqual(
      expect.arrayContaining([
        { name: 'unexpected-table', object: 'public."Stray Table"', expected: null, actual: 'table', passed: false },
        expect.objectContaining({ name: 'extension', object: 'pg_trgm', expected: null }),
        expect.objectContaining({
          name: 'table-count',
          expected: fx.manifest.tables.length,
          actual: fx.manifest.tables.length + 1,
        }),
      ]),
    );
  });

  it('catches a missing table once, without a failure for each of its indexes (its owned sequence went with it)', async () => {
    const copy = await fx.clone((c) => c.query('DROP TABLE ml_features'));
    const failed = failures(await verify(copy));
    expect(failed.map((c) => `${c.name} ${c.object}`).sort()).toEqual([
      'sequence public.ml_features_id_seq',
      `table-count ${fx.source}`,
      'table-present public.ml_features',
    ]);
  });

  it('passes a health URL answering 200, fails one answering 500 and one that never answers, naming each', async () => {
    const result = await verify(fx.restored, [health.ok, health.failing, health.hanging], 500);
    expect(result.passed).toBe(false);
    expect(result.checks.filter((c) => c.name === 'health-url')).toEqual([
      { name: 'health-url', object: health.ok, expected: '2xx', actual: 200, passed: true },
      { name: 'health-url', object: health.failing, expected: '2xx', actual: 500, passed: false },
      { name: 'health-url', object: health.hanging, expected: '2xx', actual: 'no answer within 500 ms', passed: false },
    ]);
    expect(failures(result).map(describeFailure)).toEqual([
      `health URL ${health.failing} answered 500, expected 2xx`,
      `health URL ${health.hanging} answered no answer within 500 ms, expected 2xx`,
    ]);
  });

  it('passes with a health URL answering 2xx', async () => {
    const result = await verify(fx.restored, [health.ok]);
    expect(result.passed).toBe(true);
  });

  it('a health URL nothing listens on fails with the connection error', async () => {
    // A port that was just free: nothing listens there now.
    const closed = createServer().listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as AddressInfo;
    closed.close();
    await once(closed, 'close');
    const result = await verify(fx.restored, [`http://127.0.0.1:${port}/health`], 2000);
    expect(result.checks.at(-1)).toMatchObject({ name: 'health-url', passed: false, actual: 'ECONNREFUSED' });
  });

  it('refuses a health URL that is not http(s) before connecting', async () => {
    await expect(verify(fx.restored, ['ftp://example.com/health'])).rejects.toThrow(DrError);
    await expect(verify(fx.restored, ['not a url'])).rejects.toThrow(/health URL "not a url" is not a URL/);
  });

  it('an unpopulated materialized view (a restore that stopped part-way) is an error naming it', async () => {
    const copy = await fx.clone((c) => c.query('REFRESH MATERIALIZED VIEW daily_volume WITH NO DATA'));
    await expect(verify(copy)).rejects.toThrow(/materialized view public\.daily_volume is not populated/);
  });

  it('a target that does not exist is an error, not a failed check', async () => {
    await expect(verify('dr_verify_no_such_database')).rejects.toThrow(/does not exist/);
  });
});
