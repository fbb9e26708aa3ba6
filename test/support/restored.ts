/**
 * A sample database backed up to a file:// repository and restored with the real runBackup and
 * runRestore, for the verify tests. Each test that damages the restored copy works on its own
 * clone (CREATE DATABASE … TEMPLATE), which is the restored database byte for byte and far
 * quicker than restoring again.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { runBackup } from '../../core/backup/backup.ts';
import type { Manifest } from '../../core/backup/manifest.ts';
import { readManifest } from '../../core/repository/backups.ts';
import { openRepository } from '../../core/repository/index.ts';
import { runRestore } from '../../core/restore/full.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName, withClient } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';

export interface RestoredFixture {
  readonly source: string;
  readonly repoUrl: string;
  readonly manifest: Manifest;
  /** The restored database (left untouched by the tests). */
  readonly restored: string;
  /** A copy of the restored database with `damage` applied; dropped by cleanup(). */
  readonly clone: (damage?: (client: pg.Client) => Promise<unknown>) => Promise<string>;
  readonly cleanup: () => Promise<void>;
}

export async function backupAndRestore(prefix: string): Promise<RestoredFixture> {
  const source = uniqueName(`${prefix}_src`);
  const restored = uniqueName(`${prefix}_restored`);
  const databases = [source, restored];
  const dir = await mkdtemp(join(tmpdir(), 'dr-verify-repo-'));
  const repoUrl = `file://${dir}`;
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  const repository = openRepository(repoUrl);
  const backup = await runBackup({ db: pgUrl(source), repository, jobs: 2 });
  const manifest = await readManifest(repository, source, backup.id);
  await runRestore({ repository, backup: backup.id, target: pgUrl(restored), jobs: 2 });
  return {
    source,
    repoUrl,
    manifest,
    restored,
    async clone(damage) {
      const name = uniqueName(`${prefix}_copy`);
      databases.push(name);
      await withClient('postgres', (c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${restored}"`));
      if (damage) await withClient(name, damage);
      return name;
    },
    async cleanup() {
      for (const name of databases) await dropDatabase(name);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface HealthServer {
  /** Answers 200. */
  readonly ok: string;
  /** Answers 500. */
  readonly failing: string;
  /** Accepts the request and never answers. */
  readonly hanging: string;
  readonly close: () => Promise<void>;
}

/** A local HTTP server on 127.0.0.1 standing in for the application's health endpoints. */
export async function startHealthServer(): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    if (req.url === '/health') res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    else if (req.url === '/broken') res.writeHead(500).end('database unavailable');
    // /hang: never answered; closeAllConnections() below ends it.
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    ok: `${base}/health`,
    failing: `${base}/broken`,
    hanging: `${base}/hang`,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
