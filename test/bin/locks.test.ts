/**
 * Lock waits are bounded and explained: with another session holding ACCESS EXCLUSIVE on candles
 * (a real lock, held for the whole test), a backup and a table restore fail after --lock-timeout
 * naming the table and the session (pid, application, query start), instead of waiting silently.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../core/backup/backup.ts';
import { JobExit } from '../../core/contract.ts';
import { FileRepository } from '../../core/repository/index.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName, withClient } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { expectOneLineError, runDr } from '../support/cli.ts';

const source = uniqueName('dr_lock_src');
const databases: string[] = [source];
const dirs: string[] = [];
let repo: string;

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dr-lock-'));
  dirs.push(dir);
  return dir;
}

async function holdLock(database: string): Promise<{ pid: number; release: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: pgUrl(database), application_name: 'nightly-etl' });
  client.on('error', () => {});
  await client.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE candles IN ACCESS EXCLUSIVE MODE');
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  return {
    pid,
    release: async () => {
      await client.query('ROLLBACK');
      await client.end();
    },
  };
}

beforeAll(async () => {
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  const dir = await tempDir();
  repo = `file://${dir}`;
  await runBackup({ db: pgUrl(source), repository: new FileRepository(dir), jobs: 2 });
});

afterAll(async () => {
  for (const db of databases) await dropDatabase(db);
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('--lock-timeout', () => {
  it('a backup fails naming the table and the session holding the lock; nothing recorded', async () => {
    const lock = await holdLock(source);
    try {
      const target = await tempDir();
      const run = await runDr([
        'backup',
        '--db',
        pgUrl(source),
        '--repo',
        `file://${target}`,
        '--lock-timeout',
        '2s',
        '-q',
      ]);
      expectOneLineError(
        run,
        new RegExp(
          `(pg_dump|the backup) waited 2 s for a lock on (public\\.)?candles: session pid ${lock.pid} \\(application nightly-etl, idle in transaction, query started \\S+\\) holds ACCESS EXCLUSIVE; wait for that session`,
        ),
        JobExit.lockTimeout,
      );
      const stored = await readdir(join(target, 'backups', source)).catch(() => []);
      expect(stored.filter((n) => n.endsWith('.manifest.json'))).toEqual([]);
    } finally {
      await lock.release();
    }
  });

  it('a table restore fails the same way and leaves the target as it was', async () => {
    const name = uniqueName('dr_lock_tgt');
    databases.push(name);
    await withClient('postgres', (c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${source}"`));
    const lock = await holdLock(name);
    try {
      const whole = await runDr([
        'restore',
        '--repo',
        repo,
        '--target',
        pgUrl(name),
        '--tables',
        'candles',
        '--lock-timeout',
        '1s',
      ]);
      expectOneLineError(
        whole,
        new RegExp(
          `restoring public\\.candles waited 1 s for a lock on "public"\\."candles": session pid ${lock.pid} \\(application nightly-etl`,
        ),
        JobExit.lockTimeout,
      );
      const range = await runDr([
        'restore',
        '--repo',
        repo,
        '--target',
        pgUrl(name),
        '--tables',
        'candles',
        '--since',
        '2026-01-10',
        '--until',
        '2026-01-11',
        '--lock-timeout',
        '1s',
      ]);
      expectOneLineError(
        range,
        new RegExp(`waited 1 s for a lock on .*candles.*: session pid ${lock.pid}`),
        JobExit.lockTimeout,
      );
    } finally {
      await lock.release();
    }
    const saved = await withClient(
      name,
      async (c) => (await c.query(`SELECT 1 FROM pg_tables WHERE tablename LIKE 'candles__dr_saved_%'`)).rowCount,
    );
    expect(saved).toBe(0);
    expectOneLineError(
      await runDr([
        'restore',
        '--repo',
        repo,
        '--target',
        pgUrl(name),
        '--tables',
        'candles',
        '--lock-timeout',
        'soon',
      ]),
      /--lock-timeout must be a duration/,
      2,
    );
  });
});
