/**
 * The TimescaleDB server of a test run: a throwaway cluster (test/support/cluster.ts) with the
 * extension preloaded, started once by global-setup.ts. A cluster of its own rather than the
 * machine's server: the machine's server keeps its configuration (no preload, no restart of a
 * server other work uses), and every run gets the same TimescaleDB settings.
 */
import { inject } from 'vitest';
import pg from 'pg';
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
