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

export interface ArchivingClusterOptions {
  /** An s3:// repository instead of the file:// one under the cluster's folder. */
  readonly s3?: { readonly url: string; readonly endpoint: string; readonly caFile?: string; readonly verifyTls?: boolean };
  /** Lines added to [global] of the test's pgbackrest.conf (e.g. test S3 keys). */
  readonly extraGlobal?: string[];
  /** Preload TimescaleDB, as the platform's servers do. @default false */
  readonly timescale?: boolean;
}

export async function startArchivingCluster(stanza = 'crypto_stock', options: ArchivingClusterOptions = {}): Promise<ArchivingCluster> {
  const server = await initCluster('dr-pitr-cluster-');
  const { base, dataDir } = server;
  const repoPath = join(base, 'repo');
  for (const dir of ['repo', 'spool', 'log', 'lock', 'socket']) await mkdir(join(base, dir));
  const port = await freePort();
  const config = buildPitrConfig({
    repo: options.s3?.url ?? `file://${repoPath}`,
    ...(options.s3 ? { region: 'us-east-1', endpoint: options.s3.endpoint, caFile: options.s3.caFile, verifyTls: options.s3.verifyTls, keyType: 'shared' as const } : {}),
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
  await writeFile(config.configFile, config.pgbackrestConf.replace('[global]\n', `[global]\n${(options.extraGlobal ?? []).map((l) => `${l}\n`).join('')}`));
  await appendFile(join(dataDir, 'postgresql.conf'), [
    config.postgresqlConf,
    `port = ${port}`,
    `listen_addresses = '127.0.0.1'`,
    `unix_socket_directories = '${join(base, 'socket')}'`,
    // No background transactions: only the test's commits are in the WAL.
    'autovacuum = off',
    'fsync = off',
    // Tests read exact commit times (microseconds) with pg_xact_commit_timestamp.
    'track_commit_timestamp = on',
    ...(options.timescale ? ["shared_preload_libraries = 'timescaledb'", 'timescaledb.telemetry_level = off'] : []),
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
    repoUrl: options.s3?.url ?? `file://${repoPath}`,
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
