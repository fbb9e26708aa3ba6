import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CANDLE_PARTITIONS, createSampleDatabase, sampleSize } from '../../core/sample-database.ts';
import { compareDatabases } from '../support/compare.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName, withClient } from '../support/pg.ts';

const source = uniqueName('dr_sample');
const copies: string[] = [];

/** A byte-for-byte copy of the source, made by the server (the source must have no connections). */
async function copyOfSource(): Promise<string> {
  const name = uniqueName('dr_sample_copy');
  copies.push(name);
  await withClient('postgres', (c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${source}"`));
  return name;
}

const scalar = async (sql: string, database = source) =>
  withClient(database, async (c) => Object.values((await c.query(sql)).rows[0] as object)[0]);

describe('createSampleDatabase', () => {
  beforeAll(async () => {
    await createDatabase(source);
    await createSampleDatabase(pgUrl(source), { scale: 'test' });
  });
  afterAll(async () => {
    for (const name of [source, ...copies]) await dropDatabase(name);
  });

  it('creates the enum types', async () => {
    const enums = await withClient(source, async (c) => (await c.query(`
      SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text AS labels
      FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname ORDER BY 1`)).rows);
    expect(enums).toEqual([
      { typname: 'alert_severity', labels: '{info,warning,critical}' },
      { typname: 'asset_class', labels: '{crypto,stock,etf}' },
    ]);
  });

  it('partitions candles by month with a default partition, every one holding rows', async () => {
    const partitions = await withClient(source, async (c) => (await c.query(`
      SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound, (xpath('/row/n/text()',
             query_to_xml(format('SELECT count(*) AS n FROM %I', c.relname), false, true, '')))[1]::text::int AS rows
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'candles'::regclass ORDER BY 1`)).rows);
    expect(partitions.map((p) => p.relname)).toEqual([...CANDLE_PARTITIONS, 'candles_default'].sort());
    expect(partitions.find((p) => p.relname === 'candles_default')?.bound).toBe('DEFAULT');
    for (const p of partitions) expect(p.rows, p.relname).toBeGreaterThan(0);
    expect(await scalar('SELECT count(*)::int FROM candles')).toBe(sampleSize('test').candles);
  });

  it('has the FK, partial index, CHECK constraint and audit trigger', async () => {
    expect(await scalar(`SELECT count(*)::int FROM pg_constraint WHERE conrelid = 'candles'::regclass AND contype = 'f'`)).toBe(1);
    expect(await scalar(`SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'alerts_unacknowledged'::regclass`))
      .toBe('(NOT acknowledged)');
    expect(await scalar(`SELECT count(*)::int FROM pg_constraint WHERE conrelid = 'alerts'::regclass AND contype = 'c'`)).toBe(1);
    expect(await scalar(`SELECT tgfoid::regproc::text FROM pg_trigger WHERE tgrelid = 'alerts'::regclass AND NOT tgisinternal`))
      .toBe('audit_alert_change');
    // The trigger wrote one row per alert insert and per acknowledgement.
    expect(await scalar(`SELECT count(*)::int FROM audit_logs WHERE action LIKE '% alert'`))
      .toBe(await scalar(`SELECT (count(*) + count(*) FILTER (WHERE acknowledged))::int FROM alerts`));
  });

  it('has a view, a populated materialized view and the quoted mixed-case table', async () => {
    expect(await scalar(`SELECT count(*)::int FROM pg_views WHERE viewname = 'latest_prices'`)).toBe(1);
    expect(await scalar(`SELECT ispopulated FROM pg_matviews WHERE matviewname = 'daily_volume'`)).toBe(true);
    expect(await scalar('SELECT count(*)::int FROM daily_volume')).toBeGreaterThan(0);
    expect(await scalar(`SELECT count(*)::int FROM "Reporting"."Daily Summary"`)).toBeGreaterThan(0);
  });

  it('uses jsonb, array and unicode data, and advanced sequences', async () => {
    const types = await withClient(source, async (c) => (await c.query(`
      SELECT table_name || '.' || column_name AS col, data_type FROM information_schema.columns
      WHERE table_name IN ('ml_features', 'indicators') AND data_type IN ('jsonb', 'ARRAY') ORDER BY 1`)).rows);
    expect(types).toEqual([
      { col: 'indicators.params', data_type: 'jsonb' },
      { col: 'ml_features.embedding', data_type: 'ARRAY' },
      { col: 'ml_features.features', data_type: 'jsonb' },
      { col: 'ml_features.tags', data_type: 'ARRAY' },
    ]);
    expect(await scalar(`SELECT array_agg(name ORDER BY name)::text FROM symbols WHERE name IN ('Bitcoin ₿', '比特币', 'Société Générale')`))
      .toBe('{"Bitcoin ₿","Société Générale",比特币}');
    expect(await scalar(`SELECT min(last_value)::int FROM pg_sequences WHERE schemaname = 'public'`)).toBeGreaterThan(1);
  });

  it('is deterministic: a second database gets the same content', async () => {
    const again = uniqueName('dr_sample_again');
    copies.push(again);
    await createSampleDatabase(await createDatabase(again), { scale: 'test' });
    expect(await compareDatabases(pgUrl(source), pgUrl(again))).toEqual({ identical: true, differences: [] });
  });

  it('compareDatabases finds a database identical to itself and to a template copy', async () => {
    expect(await compareDatabases(pgUrl(source), pgUrl(source))).toEqual({ identical: true, differences: [] });
    const copy = await copyOfSource();
    expect((await compareDatabases(pgUrl(source), pgUrl(copy))).identical).toBe(true);
  });

  it('compareDatabases names the table of a deleted row and a sequence that moved', async () => {
    const copy = await copyOfSource();
    await withClient(copy, (c) => c.query(`
      DELETE FROM "Reporting"."Daily Summary" WHERE ctid = (SELECT min(ctid) FROM "Reporting"."Daily Summary");
      SELECT nextval('order_ref_seq')`));
    const { identical, differences } = await compareDatabases(pgUrl(source), pgUrl(copy));
    expect(identical).toBe(false);
    expect(differences).toHaveLength(2);
    expect(differences[0]).toMatch(/^table "Reporting"\."Daily Summary": source rows=(\d+) md5=\w+, target rows=(\d+)/);
    expect(differences[1]).toMatch(/^sequence public\.order_ref_seq: source last_value=\d+, target last_value=\d+/);
  });

  it('compareDatabases reports a schema difference and a changed value in a partition', async () => {
    const copy = await copyOfSource();
    await withClient(copy, (c) => c.query(`
      ALTER TABLE alerts ADD COLUMN note text;
      UPDATE candles SET volume = volume + 1 WHERE (symbol_id, time) = (SELECT symbol_id, max(time) FROM candles WHERE symbol_id = 1 GROUP BY 1)`));
    const { differences } = await compareDatabases(pgUrl(source), pgUrl(copy));
    expect(differences.some((d) => d.startsWith('schema line ') && d.includes('note text'))).toBe(true);
    expect(differences).toContainEqual(expect.stringMatching(/^table public\.candles_2026_01: source rows=\d+ md5=\w+, target rows=\d+ md5=\w+$/));
    expect(differences.some((d) => d.startsWith('table public.candles:'))).toBe(false);
  });
});
