/**
 * Ctrl-C and SIGTERM with real signals, mid-run (each run is held at a known point by a real lock
 * another session holds, so the signal lands mid-run without any timing): pg_dump/pg_restore
 * stopped, temporary folders and staging databases removed, the target as it was, one line, exit
 * 130/143. A kill -9 of dr takes its pg_dump with it; the next restore drops leftover staging
 * databases older than an hour.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../core/backup/backup.ts';
import { FileRepository } from '../../core/repository/index.ts';
import { leftoverSuffix } from '../../core/restore/leftovers.ts';
import { createDatabase, databaseExists, dropDatabase, pgUrl, uniqueName, withClient } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { errorLines, runDr } from '../support/cli.ts';
import {
  type TimescaleFixture,
  timescaleBackupAndRestore,
  timescaleUrl,
  withTimescaleClient,
} from '../support/timescale.ts';

const DR = join(import.meta.dirname, '..', '..', 'bin', 'dr.mjs');
const source = uniqueName('dr_sig_src');
const databases: string[] = [source];
const dirs: string[] = [];
let repo: string;

async function tempDir(prefix = 'dr-sig-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

interface Running {
  readonly pid: number;
  kill(signal: NodeJS.Signals): void;
  /** Resolves once stderr has a line matching `pattern`. */
  waitFor(pattern: RegExp): Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

function startDr(args: string[]): Running {
  const child = spawn(process.execPath, [DR, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    for (const w of [...waiters])
      if (w.pattern.test(stderr)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (resolve) => {
      child.once('close', (code, signal) => {
        for (const w of waiters) w.resolve();
        resolve({ code, signal, stdout, stderr });
      });
    },
  );
  return {
    pid: child.pid!,
    kill: (signal) => child.kill(signal),
    waitFor: (pattern) =>
      new Promise((resolve) => (pattern.test(stderr) ? resolve() : waiters.push({ pattern, resolve }))),
    exited,
  };
}

/** Polls until `check` holds (state that settles asynchronously, e.g. a server noticing a closed socket). */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 100));
}

/** A session of another application holding `sql`'s locks until release(). */
async function holdLock(url: string, sql: string): Promise<{ release: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: url, application_name: 'lock-holder' });
  client.on('error', () => {});
  await client.connect();
  await client.query('BEGIN');
  await client.query(sql);
  return {
    release: async () => {
      await client.query('ROLLBACK');
      await client.end();
    },
  };
}

/** Waits until a session of `application` on `database` waits for a lock. */
const waitingOnLock = (database: string, application: string) =>
  eventually(async () =>
    withClient(
      'postgres',
      async (c) =>
        (
          await c.query(
            `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = $2 AND wait_event_type = 'Lock'`,
            [database, application],
          )
        ).rowCount! > 0,
    ),
  );

/** OS processes whose command line mentions `marker` (a unique work folder). */
async function processesMentioning(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(marker)) pids.push(Number(entry));
  }
  return pids;
}

const databasesLike = (pattern: string) =>
  withClient('postgres', async (c) =>
    (await c.query<{ d: string }>(`SELECT datname AS d FROM pg_database WHERE datname LIKE $1`, [pattern])).rows.map(
      (r) => r.d,
    ),
  );

async function copyOfSource(): Promise<string> {
  const name = uniqueName('dr_sig_tgt');
  databases.push(name);
  await withClient('postgres', (c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${source}"`));
  return name;
}

const countCandles = (db: string) =>
  withClient(db, async (c) => Number((await c.query('SELECT count(*) AS n FROM candles')).rows[0].n));

/** A PostgreSQL server the tests reach: URLs of its databases and a client on one. */
interface Server {
  readonly url: (database: string) => string;
  readonly withClient: <T>(database: string, fn: (client: pg.Client) => Promise<T>) => Promise<T>;
}

/**
 * SIGTERM to `dr restore --overwrite` of `repo`'s latest backup into `name` on `server`, held at
 * the swap: exit 143 with one line, the target's candles as they were, this run's staging database
 * dropped and its work folder empty.
 */
async function sigtermAtSwap(server: Server, repo: string, name: string): Promise<void> {
  const countCandles = () =>
    server.withClient(name, async (c) => Number((await c.query('SELECT count(*) AS n FROM candles')).rows[0].n));
  const before = await countCandles();
  const work = await tempDir('dr-sig-work-');
  // RENAME DATABASE waits for this session's lock on the database object (it is connected elsewhere).
  const lock = await holdLock(server.url('postgres'), `COMMENT ON DATABASE "${name}" IS 'held by the test'`);
  let released = false;
  try {
    const run = startDr(['restore', '--repo', repo, '--target', server.url(name), '--overwrite', '--work-dir', work]);
    await run.waitFor(/restoring into/);
    await eventually(async () =>
      server.withClient(
        'postgres',
        async (c) =>
          (
            await c.query(
              // This run's rename: other test files' restores rename databases on the same server.
              `SELECT 1 FROM pg_stat_activity WHERE application_name = 'dr' AND wait_event_type = 'Lock' AND query LIKE 'ALTER DATABASE%RENAME%' AND strpos(query, $1) > 0`,
              [name],
            )
          ).rowCount! > 0,
      ),
    );
    run.kill('SIGTERM');
    const out = await run.exited;
    expect(out.code, out.stderr).toBe(143);
    expect(errorLines({ ...out, code: out.code ?? 1, json: {} })).toHaveLength(1);
    await lock.release();
    released = true;
    expect(await countCandles()).toBe(before);
    // Only this run's staging database: other test files restore into the same server at the same time.
    const staging = await server.withClient('postgres', async (c) =>
      (
        await c.query<{ d: string }>('SELECT datname AS d FROM pg_database WHERE datname LIKE $1', [
          `${name.slice(0, 20)}%__dr_restore_%`,
        ])
      ).rows.map((r) => r.d),
    );
    expect(staging).toEqual([]);
    expect(await readdir(work)).toEqual([]);
  } finally {
    if (!released) await lock.release();
  }
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

describe('a signal mid-run', () => {
  it('SIGTERM during a backup stops pg_dump, removes the work folder, records nothing: exit 143, one line', async () => {
    const work = await tempDir('dr-sig-work-');
    const target = await tempDir('dr-sig-repo-');
    const lock = await holdLock(pgUrl(source), 'LOCK TABLE candles IN ACCESS EXCLUSIVE MODE');
    try {
      const run = startDr([
        'backup',
        '--db',
        pgUrl(source),
        '--repo',
        `file://${target}`,
        '--work-dir',
        work,
        '-j',
        '2',
      ]);
      await waitingOnLock(source, 'pg_dump');
      run.kill('SIGTERM');
      const out = await run.exited;
      expect(out.code, out.stderr).toBe(143);
      expect(errorLines({ ...out, code: out.code ?? 1, json: {} })).toEqual([
        expect.stringMatching(/^dr backup: error: interrupted by SIGTERM; stopped the PostgreSQL tools/),
      ]);
      expect(await readdir(work)).toEqual([]);
      expect(await processesMentioning(work)).toEqual([]);
      const stored = await readdir(join(target, 'backups', source)).catch(() => []);
      expect(stored.filter((n) => n.endsWith('.manifest.json'))).toEqual([]);
    } finally {
      await lock.release();
    }
  });

  it('SIGINT during a range restore rolls back, drops the scratch database and the work folder: exit 130', async () => {
    const name = await copyOfSource();
    await withClient(name, (c) => c.query(`DELETE FROM candles WHERE time >= '2026-01-10' AND time < '2026-01-11'`));
    const before = await countCandles(name);
    const work = await tempDir('dr-sig-work-');
    // The restore's transaction waits for this lock after staging: the signal lands there.
    const lock = await holdLock(pgUrl(name), 'LOCK TABLE candles IN ACCESS EXCLUSIVE MODE');
    let released = false;
    try {
      const run = startDr([
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
        '--replace-newer',
        '--work-dir',
        work,
      ]);
      await run.waitFor(/staging \d+ table data files/);
      await waitingOnLock(name, 'dr');
      run.kill('SIGINT');
      const out = await run.exited;
      expect(out.code, out.stderr).toBe(130);
      expect(out.stderr).toMatch(/^dr restore: error: interrupted by SIGINT/m);
      await lock.release();
      released = true;
      expect(await countCandles(name)).toBe(before);
      expect(await databasesLike(`${name.slice(0, 20)}%__dr_stage_%`)).toEqual([]);
      expect(await readdir(work)).toEqual([]);
      const saved = await withClient(
        name,
        async (c) => (await c.query(`SELECT 1 FROM pg_tables WHERE tablename LIKE 'candles__dr_saved_%'`)).rowCount,
      );
      expect(saved).toBe(0);
    } finally {
      if (!released) await lock.release();
    }
  });

  it('SIGTERM during a full restore (at the swap) drops the staging database and leaves the target as it was', async () => {
    const name = await copyOfSource();
    await withClient(name, (c) => c.query(`DELETE FROM candles WHERE symbol_id = 1`));
    await sigtermAtSwap({ url: pgUrl, withClient }, repo, name);
  });
});

describe('a signal mid-run, TimescaleDB', () => {
  let fx: TimescaleFixture;
  beforeAll(async () => {
    fx = await timescaleBackupAndRestore('dr_sig_ts');
  }, 180_000);
  afterAll(async () => fx?.cleanup());

  it('SIGTERM during a full restore of a TimescaleDB backup (at the swap) drops the staging database and leaves the hypertable target as it was', async () => {
    const name = await fx.clone('DELETE FROM candles WHERE symbol_id = 1');
    await sigtermAtSwap({ url: timescaleUrl, withClient: withTimescaleClient }, fx.repo.url, name);
  });
});

describe('kill -9', () => {
  it("takes pg_dump with dr (no dump outlives it), and the next backup removes the dead run's work folder", async () => {
    const target = await tempDir('dr-sig-repo-');
    const work = await tempDir('dr-sig-work-');
    const lock = await holdLock(pgUrl(source), 'LOCK TABLE candles IN ACCESS EXCLUSIVE MODE');
    try {
      const run = startDr([
        'backup',
        '--db',
        pgUrl(source),
        '--repo',
        `file://${target}`,
        '--work-dir',
        work,
        '-j',
        '2',
      ]);
      await waitingOnLock(source, 'pg_dump');
      const dumps = async () =>
        (
          await Promise.all(
            (await processesMentioning(work)).map((pid) => readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')),
          )
        ).filter((c) => /(^|\/)pg_dump\0/.test(c));
      expect(await dumps()).toHaveLength(1);
      run.kill('SIGKILL');
      await run.exited;
      // The kernel kills pg_dump with dr (setpriv --pdeathsig): no process works on that folder.
      await eventually(async () => (await processesMentioning(work)).length === 0);
      expect(await readdir(work)).toEqual([expect.stringMatching(new RegExp(`^dr-backup-${run.pid}-`))]);
    } finally {
      await lock.release();
    }
    const next = await runDr([
      'backup',
      '--db',
      pgUrl(source),
      '--repo',
      `file://${target}`,
      '--work-dir',
      work,
      '-j',
      '2',
      '-q',
    ]);
    expect(next.code, next.stderr).toBe(0);
    expect(await readdir(work)).toEqual([]);
  });

  it('the next restore drops leftover staging databases older than an hour, and says so', async () => {
    const old = `dr_sig_left${leftoverSuffix('__dr_stage_', 'ab', new Date(Date.now() - 2 * 3_600_000))}`;
    const fresh = `dr_sig_left${leftoverSuffix('__dr_restore_', '', new Date())}`;
    databases.push(old, fresh);
    await createDatabase(old);
    await createDatabase(fresh);
    const target = uniqueName('dr_sig_new');
    databases.push(target);
    const run = await runDr(['restore', '--repo', repo, '--target', pgUrl(target), '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`dropped ${old}`);
    expect(run.json.warnings).toEqual(
      expect.arrayContaining([expect.stringMatching(new RegExp(`^dropped ${old}, left by an interrupted dr run`))]),
    );
    expect(await databaseExists(old)).toBe(false);
    expect(await databaseExists(fresh)).toBe(true);
  });
});
