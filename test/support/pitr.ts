/**
 * A throwaway PostgreSQL cluster that archives its WAL to a pgBackRest file:// repository, set up
 * with the configuration `dr pitr config` generates (so the test proves that configuration works).
 * Everything runs as the `postgres` OS user (PostgreSQL refuses root) on a loopback port.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { buildPitrConfig, type PitrConfig } from '../../core/pitr/config.ts';
import { asPostgres, chownPostgres, freePort, initCluster } from './cluster.ts';

export interface ArchivingCluster {
  readonly base: string;
  readonly port: number;
  readonly dataDir: string;
  readonly stanza: string;
  /** file:// URL of the pgBackRest repository. */
  readonly repoUrl: string;
  readonly repoPath: string;
  readonly config: PitrConfig;
  /** Superuser `postgres`, trust over loopback. */
  url(database?: string): string;
  query<T extends pg.QueryResultRow>(database: string, sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs `pgbackrest <args>` with the generated config, as postgres. */
  pgbackrest(...args: string[]): Promise<string>;
  /** Closes the current WAL segment and waits until it is in the repository. */
  switchWalAndWait(): Promise<string>;
  stop(): Promise<void>;
}

export async function startArchivingCluster(stanza = 'crypto_stock'): Promise<ArchivingCluster> {
  const server = await initCluster('dr-pitr-cluster-');
  const { base, dataDir } = server;
  const repoPath = join(base, 'repo');
  for (const dir of ['repo', 'spool', 'log', 'lock', 'socket']) await mkdir(join(base, dir));
  const port = await freePort();
  const config = buildPitrConfig({
    repo: `file://${repoPath}`,
    stanza,
    pgPath: dataDir,
    pgPort: port,
    pgSocketPath: join(base, 'socket'),
    configFile: join(base, 'pgbackrest.conf'),
    spoolPath: join(base, 'spool'),
    logPath: join(base, 'log'),
    lockPath: join(base, 'lock'),
    // Only explicit pg_switch_wal closes segments: the archive ends exactly where the test says.
    rpoSeconds: 3600,
    processMax: 2,
  });
  await writeFile(config.configFile, config.pgbackrestConf);
  await appendFile(join(dataDir, 'postgresql.conf'), [
    config.postgresqlConf,
    `port = ${port}`,
    `listen_addresses = '127.0.0.1'`,
    `unix_socket_directories = '${join(base, 'socket')}'`,
    // No background transactions: only the test's commits are in the WAL.
    'autovacuum = off',
    'fsync = off',
    '',
  ].join('\n'));
  await chownPostgres(base);
  await server.start();
  const pgbackrestArgs = (args: string[]) => [`--config=${config.configFile}`, `--stanza=${stanza}`, ...args];
  const cluster: ArchivingCluster = {
    base,
    port,
    dataDir,
    stanza,
    repoUrl: `file://${repoPath}`,
    repoPath,
    config,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async query<T extends pg.QueryResultRow>(database: string, sql: string, params: unknown[] = []) {
      const client = new pg.Client({ connectionString: cluster.url(database) });
      await client.connect();
      try {
        return (await client.query<T>(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    pgbackrest: (...args: string[]) => asPostgres('pgbackrest', pgbackrestArgs(args)),
    async switchWalAndWait() {
      const [{ walfile }] = await cluster.query<{ walfile: string }>('postgres', 'SELECT pg_walfile_name(pg_switch_wal()) AS walfile');
      for (let i = 0; i < 300; i++) {
        const [{ last }] = await cluster.query<{ last: string | null }>('postgres', 'SELECT last_archived_wal AS last FROM pg_stat_archiver');
        if (last !== null && last >= walfile) return walfile;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`WAL segment ${walfile} was not archived within 30 s; see ${base}/server.log`);
    },
    stop: () => server.stop(),
  };
  return cluster;
}
