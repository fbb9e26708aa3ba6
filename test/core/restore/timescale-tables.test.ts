/**
 * Table and date-range restores of a hypertable (compressed chunks included) on the real
 * TimescaleDB server: only the overlapping chunks' files are fetched, compression is kept, the
 * continuous aggregate follows, and every refusal or failure leaves the target as it was.
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
  fx = await timescaleBackupAndRestore('dr_tstr');
});

afterAll(async () => {
  await fx.cleanup();
});

const query = async <T>(database: string, sql: string): Promise<T[]> =>
  withTimescaleClient(database, async (c) => {
    await c.query(`SET TimeZone = 'UTC'`);
    return (await c.query(sql)).rows as T[];
  });

/** Rows of candles as text, in a stable order, for comparing sides. */
const candles = (database: string, where = 'true') =>
  query<{ r: string }>(
    database,
    `SELECT string_agg(c::text, '|' ORDER BY symbol_id, time) AS r FROM candles c WHERE ${where}`,
  ).then((rows) => rows[0]!.r);

const compressedNames = (database: string) =>
  query<{ n: string }>(
    database,
    `SELECT string_agg(chunk_name, ',' ORDER BY chunk_name) AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'candles' AND is_compressed`,
  ).then((r) => r[0]!.n);

/** State a refused or failed restore must leave as it was: every row, the chunk layout and compression, the other tables. */
const snapshot = async (database: string) => ({
  candles: await candles(database),
  compressed: await compressedNames(database),
  tables: await query<{ n: string }>(
    database,
    `SELECT string_agg(tablename, ',' ORDER BY tablename) AS n FROM pg_tables WHERE schemaname = 'public'`,
  ),
  symbols: await query(database, 'SELECT count(*)::int AS n FROM symbols'),
});

const restore = (target: string, extra: { tables?: string[]; since?: string; until?: string } = {}) =>
  runTableRestore({
    repository: fx.repo,
    backup: fx.manifest.id,
    target: timescaleUrl(target),
    tables: ['candles'],
    noOwner: true,
    ...extra,
  });

/** One day inside a compressed chunk, and one inside an uncompressed chunk. */
const COMPRESSED_DAY = { since: '2025-10-10T00:00:00Z', until: '2025-10-11T00:00:00Z' };
const RECENT_DAY = { since: '2026-01-20T00:00:00Z', until: '2026-01-21T00:00:00Z' };
const inRange = (r: { since: string; until: string }) => `time >= '${r.since}' AND time < '${r.until}'`;

describe('hypertable range restore', () => {
  it('restores one day inside a compressed chunk: that day as in the backup, the rest and other tables untouched, the chunk compressed again', async () => {
    // The target moved on: the day's rows were changed, and a row outside the day too.
    const target = await fx.clone(`
      UPDATE candles SET volume = 0 WHERE ${inRange(COMPRESSED_DAY)};
      UPDATE candles SET volume = 1 WHERE time >= '2025-10-12' AND time < '2025-10-13' AND symbol_id = 1;
      UPDATE symbols SET name = 'renamed' WHERE id = 1`);
    const outsideBefore = await candles(target, `NOT (${inRange(COMPRESSED_DAY)})`);
    const changedDay = await candles(target, inRange(COMPRESSED_DAY));

    const result = await restore(target, COMPRESSED_DAY);

    expect(await candles(target, inRange(COMPRESSED_DAY))).toBe(await candles(fx.source, inRange(COMPRESSED_DAY)));
    expect(await candles(target, `NOT (${inRange(COMPRESSED_DAY)})`)).toBe(outsideBefore);
    expect(await query(target, `SELECT name FROM symbols WHERE id = 1`)).toEqual([{ name: 'renamed' }]);
    // Compression is as before: the day's chunk (partly decompressed by the swap) compressed again.
    expect(await compressedNames(target)).toBe(await compressedNames(fx.restored));
    const partial = await query(
      target,
      `SELECT count(*)::int AS n FROM _timescaledb_catalog.chunk c JOIN timescaledb_information.chunks i ON i.chunk_name = c.table_name
                                          WHERE i.hypertable_name = 'candles' AND i.is_compressed AND c.status & 8 <> 0`,
    );
    expect(partial).toEqual([{ n: 0 }]);
    // The replaced rows are kept.
    const [table] = result.tables;
    expect(table).toMatchObject({ table: 'public.candles', rowsReplaced: 12, rowsRestored: 12 });
    const safety = table!.safetyTable!;
    expect(
      (
        await query<{ r: string }>(
          target,
          `SELECT string_agg(c::text, '|' ORDER BY symbol_id, time) AS r FROM ${safety} c`,
        )
      )[0]!.r,
    ).toBe(changedDay);
  });

  it("is not stopped by TimescaleDB's cap on rows decompressed per transaction (a day of a real table exceeds it)", async () => {
    const target = await fx.clone();
    // The cap, set low on the target database, as the default 100 000 stands to a production day.
    await withTimescaleClient('postgres', (c) =>
      c.query(`ALTER DATABASE "${target}" SET timescaledb.max_tuples_decompressed_per_dml_transaction = 5`),
    );
    await restore(target, COMPRESSED_DAY);
    expect(await candles(target, inRange(COMPRESSED_DAY))).toBe(await candles(fx.source, inRange(COMPRESSED_DAY)));
  });

  it("fetches only the overlapping chunk's data files (and the catalog), so the cost follows the range", async () => {
    const target = await fx.clone();
    const result = await restore(target, COMPRESSED_DAY);
    const candlesChunks = fx.manifest.timescale!.hypertables.find((h) => h.name === 'candles')!.chunks;
    const overlapping = candlesChunks.filter((c) => c.rangeStart! <= '2025-10-10' && c.rangeEnd! > '2025-10-10');
    expect(overlapping).toHaveLength(1);
    const chunkFiles = new Set(candlesChunks.flatMap((c) => c.dataFiles));
    const fetchedChunkFiles = result.files.filter((f) => chunkFiles.has(f));
    expect(fetchedChunkFiles.sort()).toEqual([...overlapping[0]!.dataFiles].sort());
    const allChunkBytes = fx.manifest.files.filter((f) => chunkFiles.has(f.path)).reduce((n, f) => n + f.size, 0);
    const fetchedBytes = fx.manifest.files
      .filter((f) => fetchedChunkFiles.includes(f.path))
      .reduce((n, f) => n + f.size, 0);
    expect(fetchedBytes).toBeLessThan(allChunkBytes / 10);
  });

  it('restores a day of an uncompressed chunk, which stays uncompressed, and refreshes the continuous aggregate over it', async () => {
    const target = await fx.clone(`UPDATE candles SET volume = volume + 1 WHERE ${inRange(RECENT_DAY)}`);
    const aggregate = (db: string) =>
      query<{ r: string }>(
        db,
        `SELECT string_agg(volume::text, ',' ORDER BY symbol_id) AS r FROM candles_daily WHERE bucket = '2026-01-20'`,
      ).then((r) => r[0]!.r);
    // The aggregate is refreshed in the clone first, so it shows the changed volumes.
    await withTimescaleClient(target, (c) =>
      c.query(`CALL refresh_continuous_aggregate('candles_daily', '2026-01-20', '2026-01-21', force => true)`),
    );
    expect(await aggregate(target)).not.toBe(await aggregate(fx.source));
    await restore(target, RECENT_DAY);
    expect(await candles(target, inRange(RECENT_DAY))).toBe(await candles(fx.source, inRange(RECENT_DAY)));
    expect(await compressedNames(target)).toBe(await compressedNames(fx.restored));
    expect(await aggregate(target)).toBe(await aggregate(fx.source));
  });

  it('a failure midway (a foreign key broken by the restored rows) rolls everything back', async () => {
    // The target lost symbol 12 (and its candles): the backup's rows for it break candles_symbol_fk.
    const target = await fx.clone(`DELETE FROM alerts WHERE symbol_id = 12; DELETE FROM candles WHERE symbol_id = 12;
      DELETE FROM indicators WHERE symbol_id = 12; DELETE FROM ml_features WHERE symbol_id = 12; DELETE FROM symbols WHERE id = 12`);
    const before = await snapshot(target);
    const err = await restore(target, COMPRESSED_DAY).catch((e) => e);
    expect(err).toBeInstanceOf(DrError);
    expect((err as DrError).oneLine()).toMatch(
      /would break foreign key candles_symbol_fk.*the target was rolled back and is unchanged/,
    );
    expect(await snapshot(target)).toEqual(before);
  });
});

describe('hypertable whole-table restore', () => {
  it("--tables candles restores the hypertable whole, with the backup's compression", async () => {
    const target = await fx.clone(
      `DELETE FROM candles WHERE time < '2025-09-01'; UPDATE candles SET volume = 0 WHERE time > '2026-01-25'`,
    );
    const result = await restore(target);
    expect(await candles(target)).toBe(await candles(fx.source));
    expect(await compressedNames(target)).not.toBe(null);
    const layout = (db: string) =>
      query<{ n: string }>(
        db,
        `SELECT string_agg(range_start::text || ':' || is_compressed, ',' ORDER BY range_start) AS n
      FROM timescaledb_information.chunks WHERE hypertable_name = 'candles'`,
      ).then((r) => r[0]!.n);
    expect(await layout(target)).toBe(await layout(fx.source));
    expect(result.tables[0]).toMatchObject({ rowsRestored: 3000 });
  });
});

describe('plain tables of a TimescaleDB database', () => {
  it('stream straight from the backup files, with no scratch database', async () => {
    const target = await fx.clone(`DELETE FROM alerts`);
    const logs: string[] = [];
    const result = await runTableRestore({
      repository: fx.repo,
      backup: fx.manifest.id,
      target: timescaleUrl(target),
      tables: ['alerts'],
      noOwner: true,
      log: (m) => logs.push(m),
    });
    expect(result.tables[0]).toMatchObject({ table: 'public.alerts', rowsRestored: 12 });
    expect(result.phases.stageMs).toBe(0);
    expect(logs.some((l) => /__dr_stage_/.test(l))).toBe(false);
    expect(await query(target, 'SELECT count(*)::int AS n FROM alerts')).toEqual([{ n: 12 }]);
  });
});

describe('hypertable restore refusals (target untouched)', () => {
  it('refuses a hypertable restore into a target where candles is a plain table', async () => {
    const target = await fx.clone(
      `ALTER TABLE candles RENAME TO candles_ht; CREATE TABLE candles (LIKE candles_ht INCLUDING ALL); INSERT INTO candles SELECT * FROM candles_ht`,
    );
    const before = await candles(target);
    const err = await restore(target, COMPRESSED_DAY).catch((e) => e);
    expect((err as DrError).oneLine()).toMatch(
      /public\.candles is a hypertable in the backup but a plain table in the target; make the target's public\.candles a hypertable/,
    );
    expect(await candles(target)).toBe(before);
  });

  it('refuses a plain table restore into a target where it is a hypertable', async () => {
    const target = await fx.clone(
      `ALTER TABLE audit_logs DROP CONSTRAINT audit_logs_pkey; SELECT create_hypertable('audit_logs', by_range('occurred_at'), migrate_data => true)`,
    );
    const err = await runTableRestore({
      repository: fx.repo,
      backup: fx.manifest.id,
      target: timescaleUrl(target),
      tables: ['audit_logs'],
      noOwner: true,
    }).catch((e) => e);
    expect((err as DrError).oneLine()).toMatch(
      /public\.audit_logs is a plain table in the backup but a hypertable in the target/,
    );
    expect(await query(target, `SELECT count(*)::int AS n FROM audit_logs`)).toEqual([{ n: 30 }]);
  });

  it('refuses a hypertable missing from the target, before anything runs', async () => {
    const target = await fx.clone(
      `DROP MATERIALIZED VIEW candles_daily; DROP VIEW latest_prices; DROP MATERIALIZED VIEW daily_volume; DROP TABLE candles`,
    );
    const err = await restore(target).catch((e) => e);
    expect((err as DrError).oneLine()).toMatch(
      /hypertable public\.candles is not in the target; create it as a hypertable first/,
    );
    expect(await query(target, `SELECT to_regclass('candles') AS r`)).toEqual([{ r: null }]);
  });
});
