/**
 * The TimescaleDB server of a test run: a throwaway cluster (test/support/cluster.ts) with the
 * extension preloaded, started once by global-setup.ts. A cluster of its own rather than the
 * machine's server: the machine's server keeps its configuration (no preload, no restart of a
 * server other work uses), and every run gets the same TimescaleDB settings.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import pg from 'pg';
import { runBackup } from '../../core/backup.ts';
import { readManifest } from '../../core/backups.ts';
import type { Manifest } from '../../core/manifest.ts';
import { openRepository, type Repository } from '../../core/repository/index.ts';
import { runRestore } from '../../core/restore.ts';
import { createSampleDatabase } from '../../core/sample-database.ts';
import { freePort, initCluster } from './cluster.ts';
import { uniqueName } from './pg.ts';

export interface TimescaleServer {
  /** `postgres://postgres@127.0.0.1:<port>/<database>` (trust auth). */
  readonly url: (database?: string) => string;
  readonly stop: () => Promise<void>;
}

/** Server options every TimescaleDB test server runs with (telemetry off: no network here). */
export const TIMESCALE_SERVER_OPTIONS = `-c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off`;

export async function startTimescaleServer(): Promise<TimescaleServer> {
  const cluster = await initCluster('dr-timescale-');
  const port = await freePort();
  try {
    await cluster.start(`-p ${port} -k ${cluster.base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 ${TIMESCALE_SERVER_OPTIONS}`);
  } catch (err) {
    await cluster.stop();
    throw new Error(`the TimescaleDB test server did not start (${(err as Error).message}): run ../shared/timescaledb/install.sh`);
  }
  return {
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    stop: () => cluster.stop(),
  };
}

/** The run's TimescaleDB server URL for `database` (provided by global-setup). */
export function timescaleUrl(database = 'postgres'): string {
  const base = new URL(inject('timescaleUrl'));
  base.pathname = `/${encodeURIComponent(database)}`;
  return base.toString();
}

export async function withTimescaleClient<T>(database: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: timescaleUrl(database) });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A new empty database on the TimescaleDB server; returns its name. */
export async function createTimescaleDatabase(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  await withTimescaleClient('postgres', (c) => c.query(`CREATE DATABASE "${name}"`));
  return name;
}

export async function dropTimescaleDatabase(name: string): Promise<void> {
  await withTimescaleClient('postgres', (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

export interface TimescaleFixture {
  /** The TimescaleDB sample database (scale 'test'). */
  readonly source: string;
  readonly repo: Repository;
  readonly manifest: Manifest;
  /** A full restore of the backup (default jobs), left untouched. */
  readonly restored: string;
  /** A copy of `restored` (CREATE DATABASE … TEMPLATE), optionally damaged by `sql`; dropped by cleanup(). */
  readonly clone: (sql?: string) => Promise<string>;
  /** A new name on the server, dropped by cleanup(). */
  readonly name: (prefix: string) => string;
  readonly cleanup: () => Promise<void>;
}

/**
 * CREATE DATABASE … TEMPLATE, which needs the template free of connections: TimescaleDB's job
 * scheduler connects to every database with the extension, so it is disconnected first (it
 * comes back later on its own).
 */
export async function copyDatabase(template: string, copy: string): Promise<void> {
  await withTimescaleClient('postgres', async (c) => {
    for (let attempt = 1; ; attempt++) {
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [template]);
      try {
        await c.query(`CREATE DATABASE "${copy}" TEMPLATE "${template}"`);
        return;
      } catch (err) {
        if (attempt >= 10 || !/being accessed by other users/.test((err as Error).message)) throw err;
      }
    }
  });
}

/** The TimescaleDB sample, backed up to a file:// repository and restored with the real runBackup and runRestore. */
export async function timescaleBackupAndRestore(prefix: string): Promise<TimescaleFixture> {
  const databases: string[] = [];
  const name = (p: string) => {
    const n = uniqueName(p);
    databases.push(n);
    return n;
  };
  const source = name(`${prefix}_src`);
  await withTimescaleClient('postgres', (c) => c.query(`CREATE DATABASE "${source}"`));
  await createSampleDatabase(timescaleUrl(source), { scale: 'test', timescale: true });
  const dir = await mkdtemp(join(tmpdir(), 'dr-ts-repo-'));
  const repo = openRepository(`file://${dir}`);
  const backup = await runBackup({ db: timescaleUrl(source), repository: repo, jobs: 2 });
  const manifest = await readManifest(repo, source, backup.id);
  const restored = name(`${prefix}_restored`);
  await runRestore({ repository: repo, backup: backup.id, target: timescaleUrl(restored) });
  return {
    source,
    repo,
    manifest,
    restored,
    name,
    async clone(sql) {
      const copy = name(`${prefix}_copy`);
      await copyDatabase(restored, copy);
      if (sql) await withTimescaleClient(copy, (c) => c.query(sql));
      return copy;
    },
    async cleanup() {
      for (const db of databases) await dropTimescaleDatabase(db);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
