/**
 * What a signal does to dr's own connections (core/signals.ts, core/pg/connection.ts). A real
 * SIGTERM would end this test worker, so the signal is delivered as Node delivers one: by emitting
 * it to the handlers that handleSignals installed. The module's interrupted state then lasts for
 * this file, which is why these tests live alone.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../core/pg/connection.ts';
import { handleSignals, interruption } from '../../core/signals.ts';
import { pgUrl, withClient } from '../../fixtures/pg.ts';

const release = handleSignals();
afterAll(() => release());

describe('a signal', () => {
  // dr opens no connection after a signal: the second test's is opened before the first sends it.
  let timeoutClient: pg.Client;
  beforeAll(async () => {
    timeoutClient = await connect(pgUrl('postgres'));
  });
  afterAll(() => timeoutClient.end());

  it("cancels the statement running on dr's connections, and the cleanup after it still runs, even when a late cancel lands on it", async () => {
    const client = await connect(pgUrl('postgres'));
    try {
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const waiting = client.query('SELECT pg_sleep(30)');
      await eventuallyRunning(pid, 'pg_sleep(30)');
      process.emit('SIGTERM', 'SIGTERM');
      expect(interruption()).toBe('SIGTERM');
      await expect(waiting).rejects.toMatchObject({ code: '57014' });

      // A cleanup statement started after the signal, stopped by a cancel that arrived late (as a
      // CancelRequest does when the statement it was sent for has just ended): it runs once more.
      const cleanup = client.query<{ done: number }>('SELECT pg_sleep(0.5), 1 AS done');
      await eventuallyRunning(pid, 'pg_sleep(0.5)');
      await withClient('postgres', (c) => c.query('SELECT pg_cancel_backend($1)', [pid]));
      expect((await cleanup).rows[0]!.done).toBe(1);
    } finally {
      await client.end();
    }
  });

  it('does not run a cleanup statement again that failed to statement_timeout: it would only time out again', async () => {
    expect(interruption()).toBe('SIGTERM');
    const client = timeoutClient;
    // nextval is not rolled back: the sequence counts how many times the statement ran.
    await client.query('CREATE TEMP SEQUENCE runs');
    await client.query(`SET statement_timeout = '200ms'`);
    await expect(client.query('SELECT nextval($1), pg_sleep(5)', ['runs'])).rejects.toMatchObject({
      code: '57014',
      message: expect.stringContaining('statement timeout'),
    });
    await client.query('SET statement_timeout = 0');
    expect((await client.query<{ n: string }>(`SELECT last_value AS n FROM runs`)).rows[0]!.n).toBe('1');
  });
});

async function eventuallyRunning(pid: number, text: string): Promise<void> {
  for (;;) {
    const running = await withClient(
      'postgres',
      async (c) =>
        (
          await c.query(
            `SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND strpos(query, $2) > 0`,
            [pid, text],
          )
        ).rowCount,
    );
    if (running) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
