/**
 * Range restores that reach past the backup on the TimescaleDB sample: refused by default with the
 * count of newer rows, --merge inserts the missing rows (also inside a compressed chunk, which
 * stays compressed) and keeps every target row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrError } from '../../../core/errors.ts';
import { runTableRestore } from '../../../core/restore/tables.ts';
import {
  type TimescaleFixture,
  timescaleBackupAndRestore,
  timescaleUrl,
  withTimescaleClient,
} from '../../support/timescale.ts';

let fx: TimescaleFixture;

beforeAll(async () => {
  fx = await timescaleBackupAndRestore('dr_tsmerge');
});

afterAll(async () => {
  await fx.cleanup();
});

const count = (database: string, where = 'true') =>
  withTimescaleClient(database, async (c) =>
    Number((await c.query(`SELECT count(*) AS n FROM candles WHERE ${where}`)).rows[0].n),
  );

const restore = (target: string, extra: { since: string; until: string; merge?: boolean; replaceNewer?: boolean }) =>
  runTableRestore({
    repository: fx.repo,
    backup: fx.manifest.id,
    target: timescaleUrl(target),
    tables: ['candles'],
    noOwner: true,
    ...extra,
  });

const COMPRESSED_DAY = { since: '2025-10-10T00:00:00Z', until: '2025-10-11T00:00:00Z' };
const inRange = (r: { since: string; until: string }) => `time >= '${r.since}' AND time < '${r.until}'`;

describe('hypertable range restore past the backup', () => {
  it('refuses a range holding newer target rows, then --merge inserts only what is missing and keeps them', async () => {
    const max = await withTimescaleClient(
      fx.source,
      async (c) => (await c.query<{ t: Date }>('SELECT max(time) AS t FROM candles')).rows[0]!.t,
    );
    const day = new Date(Date.UTC(max.getUTCFullYear(), max.getUTCMonth(), max.getUTCDate()));
    const range = { since: day.toISOString(), until: new Date(day.getTime() + 2 * 86_400_000).toISOString() };
    const target = await fx.clone(`
      INSERT INTO candles (symbol_id, time, open, high, low, close, volume)
        SELECT 1, '${max.toISOString()}'::timestamptz + g * interval '1 second', 1, 2, 1, 1.5, 10 FROM generate_series(1, 1000) g;
      DELETE FROM candles WHERE ${inRange(range)} AND volume <> 10 AND symbol_id = 2`);
    const before = await count(target);
    const err = await restore(target, range).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DrError);
    expect((err as DrError).message).toMatch(/^1000 rows of public\.candles in .* are newer than backup/);
    expect(await count(target)).toBe(before);

    const merged = await restore(target, { ...range, merge: true });
    expect(merged.tables[0]).toMatchObject({ rowsReplaced: 0, safetyTable: null });
    expect(await count(target, inRange(range))).toBe((await count(fx.source, inRange(range))) + 1000);
    expect(merged.tables[0]!.rowsKept + merged.tables[0]!.rowsRestored).toBe(await count(target, inRange(range)));
  });

  it('--merge inside a compressed chunk puts back the deleted rows and the chunk stays compressed', async () => {
    const target = await fx.clone(`DELETE FROM candles WHERE ${inRange(COMPRESSED_DAY)} AND symbol_id = 1`);
    const lost = (await count(fx.source, inRange(COMPRESSED_DAY))) - (await count(target, inRange(COMPRESSED_DAY)));
    expect(lost).toBeGreaterThan(0);
    const result = await restore(target, { ...COMPRESSED_DAY, merge: true });
    expect(result.tables[0]).toMatchObject({ rowsRestored: lost, rowsReplaced: 0 });
    expect(await count(target, inRange(COMPRESSED_DAY))).toBe(await count(fx.source, inRange(COMPRESSED_DAY)));
    const uncompressed = await withTimescaleClient(
      target,
      async (c) =>
        (
          await c.query(`
      SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'candles'
         AND range_start <= '${COMPRESSED_DAY.since}' AND range_end > '${COMPRESSED_DAY.since}' AND NOT is_compressed`)
        ).rows[0].n,
    );
    expect(uncompressed).toBe(0);
  });
});
