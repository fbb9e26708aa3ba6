/**
 * The TimescaleDB server of a test run (and of the TimescaleDB benchmark): a throwaway cluster
 * (cluster.ts) with the extension preloaded. A cluster of its own rather than the machine's
 * server: the machine's server keeps its configuration (no preload, no restart of a server other
 * work uses), and every run gets the same TimescaleDB settings. Free of vitest, so bench/ can use it.
 */
import pg from 'pg';
import { freePort, initCluster } from './cluster.ts';

export interface TimescaleServer {
  /** `postgres://postgres@127.0.0.1:<port>/<database>` (trust auth). */
  readonly url: (database?: string) => string;
  readonly stop: () => Promise<void>;
}

/** Server options every TimescaleDB test server runs with (telemetry off: no network here). */
export const TIMESCALE_SERVER_OPTIONS = `-c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off`;

/** `extraOptions`: more postgres options (the benchmark's memory settings). */
export async function startTimescaleServer(extraOptions = ''): Promise<TimescaleServer> {
  const cluster = await initCluster('dr-timescale-');
  const port = await freePort();
  try {
    await cluster.start(`-p ${port} -k ${cluster.base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 ${TIMESCALE_SERVER_OPTIONS} ${extraOptions}`);
  } catch (err) {
    await cluster.stop();
    throw new Error(`the TimescaleDB test server did not start (${(err as Error).message}): run ../shared/timescaledb/install.sh`);
  }
  return {
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    stop: () => cluster.stop(),
  };
}

/**
 * CREATE DATABASE … TEMPLATE on the server of `serverUrl` (any database on it), which needs the
 * template free of connections: TimescaleDB's job scheduler connects to every database with the
 * extension, so it is disconnected first (it comes back later on its own).
 */
export async function copyDatabaseOn(serverUrl: string, template: string, copy: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [template]);
      try {
        await client.query(`CREATE DATABASE "${copy}" TEMPLATE "${template}"`);
        return;
      } catch (err) {
        if (attempt >= 10 || !/being accessed by other users/.test((err as Error).message)) throw err;
      }
    }
  } finally {
    await client.end();
  }
}
