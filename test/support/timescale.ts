/**
 * Tests' access to the run's TimescaleDB server (started by global-setup.ts, see
 * timescale-server.ts): its URL, clients, databases, and the TimescaleDB sample backed up and
 * restored as a fixture.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { runBackup } from '../../core/backup/backup.ts';
import type { Manifest } from '../../core/backup/manifest.ts';
import { readManifest } from '../../core/repository/backups.ts';
import { openRepository, type Repository } from '../../core/repository/index.ts';
import { runRestore } from '../../core/restore/full.ts';
import { uniqueName } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { copyDatabaseOn } from '../../fixtures/timescale-server.ts';

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

/** CREATE DATABASE `copy` TEMPLATE `template` on the run's TimescaleDB server (see copyDatabaseOn). */
export const copyDatabase = (template: string, copy: string) => copyDatabaseOn(timescaleUrl(), template, copy);

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
