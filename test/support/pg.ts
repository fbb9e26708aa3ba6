import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The real PostgreSQL server of this machine (trust auth); PG* variables override it. */
export const PG_HOST = process.env.PGHOST ?? '127.0.0.1';
export const PG_PORT = Number(process.env.PGPORT ?? 5432);
export const PG_USER = process.env.PGUSER ?? 'root';

export function pgUrl(database: string): string {
  return `postgres://${encodeURIComponent(PG_USER)}@${PG_HOST}:${PG_PORT}/${encodeURIComponent(database)}`;
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export async function withClient<T>(database: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: pgUrl(database) });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createDatabase(name: string): Promise<string> {
  await withClient('postgres', (c) => c.query(`CREATE DATABASE "${name}"`));
  return pgUrl(name);
}

export async function dropDatabase(name: string): Promise<void> {
  await withClient('postgres', (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

export async function databaseExists(name: string): Promise<boolean> {
  return withClient('postgres', async (c) =>
    (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1);
}
