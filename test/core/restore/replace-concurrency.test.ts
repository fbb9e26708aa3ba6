/**
 * replaceTables against a target that is being written to (market data keeps arriving): a row
 * committed by another session while a restore runs is either saved in the safety table or waits
 * for the restore to commit; it is never deleted unsaved, nor left inside a restored range.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReplaceTablesResult, replaceTablesFromSource } from '../../../core/restore/replace.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName, withClient } from '../../../fixtures/pg.ts';

const source = uniqueName('dr_csrc');
const databases: string[] = [source];

const TABLE = `CREATE TABLE ticks (id int NOT NULL, time timestamptz NOT NULL, price numeric NOT NULL)`;

beforeAll(async () => {
  await createDatabase(source);
  await withClient(source, (c) =>
    c.query(`${TABLE};
    INSERT INTO ticks SELECT g, '2026-01-10T00:00:00Z'::timestamptz + g * interval '1 hour', g FROM generate_series(1, 48) g`),
  );
});

afterAll(async () => {
  for (const name of databases) await dropDatabase(name);
});

async function target(): Promise<string> {
  const name = uniqueName('dr_ctgt');
  databases.push(name);
  await withClient('postgres', (c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${source}"`));
  // The target's rows differ from the source's, so the restore has something to replace.
  await withClient(name, (c) => c.query('UPDATE ticks SET price = price + 1000'));
  return name;
}

/**
 * Runs `restore` while another session holds an uncommitted insert of tick 99 (at `time`), and
 * commits that insert as soon as the restore waits for a lock (or has finished without waiting).
 */
async function restoreWhileWriting(
  db: string,
  time: string,
  restore: () => Promise<ReplaceTablesResult>,
): Promise<ReplaceTablesResult> {
  const writer = new pg.Client({ connectionString: pgUrl(db) });
  await writer.connect();
  try {
    await writer.query('BEGIN');
    await writer.query(`INSERT INTO ticks VALUES (99, $1, 99)`, [time]);
    let settled = false;
    const running = restore().finally(() => {
      settled = true;
    });
    running.catch(() => {});
    for (;;) {
      const waiting = await withClient('postgres', (c) =>
        c.query<{ n: string }>(
          `SELECT count(*) AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE NOT l.granted AND d.datname = $1`,
          [db],
        ),
      );
      if (settled || Number(waiting.rows[0]!.n) > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await writer.query('COMMIT');
    return await running;
  } finally {
    await writer.end();
  }
}

const ids = (db: string, sql: string) =>
  withClient(db, async (c) => (await c.query<{ id: number }>(sql)).rows.map((r) => r.id));

describe('replaceTables with a concurrent writer on the target', () => {
  it('whole table: a row committed while the restore runs ends up in the safety table, not deleted unsaved', async () => {
    const db = await target();
    const result = await restoreWhileWriting(db, '2026-01-11T00:30:00Z', () =>
      replaceTablesFromSource({
        sourceUrl: pgUrl(source),
        targetUrl: pgUrl(db),
        tables: [{ schema: 'public', name: 'ticks' }],
      }),
    );
    const safety = result.tables[0]!.safetyTable!;
    expect(await ids(db, `SELECT id FROM ${safety} WHERE id = 99`)).toEqual([99]);
    expect(result.tables[0]!.rowsReplaced).toBe(49);
    expect(await ids(db, 'SELECT count(*)::int AS id FROM ticks')).toEqual([48]);
  });

  it("range: a row committed into the range while the restore runs is saved, and the range equals the backup's", async () => {
    const db = await target();
    const range = { since: '2026-01-11T00:00:00Z', until: '2026-01-12T00:00:00Z' };
    const result = await restoreWhileWriting(db, '2026-01-11T00:30:00Z', () =>
      replaceTablesFromSource({
        sourceUrl: pgUrl(source),
        targetUrl: pgUrl(db),
        tables: [{ schema: 'public', name: 'ticks', timeColumn: 'time' }],
        range,
      }),
    );
    const inRange = `SELECT id FROM ticks WHERE time >= '${range.since}' AND time < '${range.until}' ORDER BY id`;
    expect(await ids(db, inRange)).toEqual(await ids(source, inRange));
    expect(await ids(db, `SELECT id FROM ${result.tables[0]!.safetyTable!} WHERE id = 99`)).toEqual([99]);
  });
});
