/**
 * A throwaway PostgreSQL cluster that archives its WAL with pgBackRest into a posix (file://)
 * repository, for the RPO watch tests: real initdb, real archive_command, real backups.
 * Everything runs as the `postgres` OS user (PostgreSQL and pgBackRest refuse root).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { asPostgres, chownPostgres, initCluster, serverBinDir } from '../../fixtures/cluster.ts';

export interface ArchivingCluster {
  readonly stanza: string;
  /** The pgBackRest repo1-path, i.e. the repository is file://<repoPath>. */
  readonly repoPath: string;
  /** Runs pgbackrest with this cluster's config and stanza, as postgres. */
  pgbackrest(...args: string[]): Promise<string>;
  /** Runs SQL through psql over the cluster's private socket, as postgres; returns stdout. */
  psql(sql: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startArchivingCluster(stanza = 'rpo_test'): Promise<ArchivingCluster> {
  const server = await initCluster('dr-pgbackrest-');
  const { base, dataDir } = server;
  const repoPath = join(base, 'repo');
  const spool = join(base, 'spool');
  const config = join(base, 'pgbackrest.conf');
  await mkdir(repoPath);
  await mkdir(spool);
  await writeFile(
    config,
    [
      '[global]',
      `repo1-path=${repoPath}`,
      'repo1-retention-full=2',
      `lock-path=${spool}`,
      `spool-path=${spool}`,
      'log-level-console=warn',
      'log-level-file=off',
      'start-fast=y',
      `[${stanza}]`,
      `pg1-path=${dataDir}`,
      `pg1-socket-path=${base}`,
      'pg1-port=5432',
      '',
    ].join('\n'),
  );
  await chownPostgres(base);
  // Socket only (no TCP port to collide with); pg1-port just names the socket file.
  const options = [
    `-c unix_socket_directories=${base}`,
    "-c listen_addresses=''",
    '-c fsync=off',
    '-c wal_level=replica',
    '-c archive_mode=on',
    `-c archive_command='pgbackrest --config=${config} --stanza=${stanza} archive-push %p'`,
  ].join(' ');
  await server.start(options);
  const cluster: ArchivingCluster = {
    stanza,
    repoPath,
    pgbackrest: (...args) => asPostgres('pgbackrest', [`--config=${config}`, `--stanza=${stanza}`, ...args]),
    psql: (sql) =>
      asPostgres(join(serverBinDir(), 'psql'), [
        '-h',
        base,
        '-U',
        'postgres',
        '-d',
        'postgres',
        '-XAtq',
        '-v',
        'ON_ERROR_STOP=1',
        '-c',
        sql,
      ]),
    stop: () => server.stop(),
  };
  try {
    await cluster.pgbackrest('stanza-create');
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
