/**
 * Point-in-time recovery with real PostgreSQL 15 and real pgBackRest: a throwaway cluster archives
 * its WAL to a file:// pgBackRest repository set up with the configuration `dr pitr config`
 * generates; every restore runs the real `dr` CLI. Batch A is committed before the recorded time
 * T, batch B after it; the restores must contain exactly A.
 *
 * s3:// repositories are not exercised here: pgBackRest's S3 client speaks only TLS and s3rver
 * serves plain HTTP (the s3:// configuration is checked as text).
 */
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePitrRepo } from '../../../core/pitr/config.ts';
import { repoArgs, s3CredentialEnv } from '../../../core/pitr/pgbackrest.ts';
import { asPostgres, chownPostgres, freePort, serverBinDir } from '../../../fixtures/cluster.ts';
import { databaseExists, dropDatabase, pgUrl, uniqueName, withClient } from '../../../fixtures/pg.ts';
import { type ArchivingCluster, startArchivingCluster } from '../../../fixtures/pitr.ts';
import { createSampleDatabase } from '../../../fixtures/sample-database.ts';
import { errorLines, runDr } from '../../support/cli.ts';
import { compareDatabases } from '../../support/compare.ts';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('dr pitr config', () => {
  const s3 = [
    'pitr',
    'config',
    '--repo',
    's3://crypto-dr-vault/pitr',
    '--stanza',
    'crypto_stock',
    '--pg-path',
    '/var/lib/postgresql/data',
    '--region',
    'eu-west-1',
  ];

  it('s3://: IAM-role credentials, SSE-KMS, retention for weekly full + daily diff, zstd, async archiving, fast start', async () => {
    const out = await runDr([...s3, '--kms-key-id', 'arn:aws:kms:eu-west-1:111122223333:key/k1', '--json']);
    expect(out.code).toBe(0);
    const conf = out.json.pgbackrestConf as string;
    for (const line of [
      '[global]',
      'repo1-type=s3',
      'repo1-s3-bucket=crypto-dr-vault',
      'repo1-path=/pitr',
      'repo1-s3-region=eu-west-1',
      'repo1-s3-endpoint=s3.eu-west-1.amazonaws.com',
      'repo1-s3-key-type=auto',
      'repo1-s3-kms-key-id=arn:aws:kms:eu-west-1:111122223333:key/k1',
      'repo1-retention-full-type=count',
      'repo1-retention-full=2',
      'compress-type=zst',
      'process-max=4',
      'archive-async=y',
      'spool-path=/var/spool/pgbackrest',
      'start-fast=y',
      '[global:archive-push]',
      '[crypto_stock]',
      'pg1-path=/var/lib/postgresql/data',
      'pg1-port=5432',
    ])
      expect(conf.split('\n'), line).toContain(line);
    expect(conf).not.toMatch(/repo1-s3-key=|key-secret/);
    expect((out.json.postgresqlConf as string).split('\n')).toEqual(
      expect.arrayContaining([
        'wal_level = replica',
        'archive_mode = on',
        "archive_command = 'pgbackrest --stanza=crypto_stock archive-push %p'",
        'archive_timeout = 60',
        'max_wal_senders = 10',
      ]),
    );
    expect(out.json.commands).toEqual({
      stanzaCreate: 'pgbackrest --stanza=crypto_stock stanza-create',
      check: 'pgbackrest --stanza=crypto_stock check',
      fullBackup: 'pgbackrest --stanza=crypto_stock --type=full backup',
      diffBackup: 'pgbackrest --stanza=crypto_stock --type=diff backup',
      info: 'pgbackrest --stanza=crypto_stock info',
    });
    expect(out.json.cron).toContain('0 1 * * 0   pgbackrest --stanza=crypto_stock --type=full backup');
    expect(out.json.cron).toContain('0 1 * * 1-6 pgbackrest --stanza=crypto_stock --type=diff backup');
    expect(out.json.compose).toMatch(/pgbackrest:\n\s+image: timescale\/timescaledb-ha:pg15/);
    expect(out.json.compose).toContain('--type=$$type backup');
    expect(out.json.compose).toContain('- pgdata:/var/lib/postgresql/data');
    expect(out.json.rpo).toMatch(/^RPO ≤ 60 s/);
  });

  it('prints every piece with where it goes; --rpo-seconds sets archive_timeout; ALTER SYSTEM form for containers', async () => {
    const out = await runDr([...s3, '--rpo-seconds', '30']);
    expect(out.code).toBe(0);
    for (const heading of [
      '# ---- /etc/pgbackrest/pgbackrest.conf',
      '# ---- postgresql.conf',
      '# ---- once, as the postgres OS user',
      '# ---- base-backup schedule (cron)',
      '# ---- or the same schedule as a docker-compose service',
      '# ---- RPO',
    ]) {
      expect(out.stdout).toContain(heading);
    }
    expect(out.stdout).toContain('archive_timeout = 30');
    expect(out.stdout).toContain(
      "ALTER SYSTEM SET archive_command = 'pgbackrest --stanza=crypto_stock archive-push %p';",
    );
    expect(out.stdout).toContain('RPO ≤ 30 s');
  });

  it('file:// is a posix repository; a non-default config file is passed to every command', async () => {
    const out = await runDr([
      'pitr',
      'config',
      '--repo',
      'file:///srv/pitr',
      '--stanza',
      'crypto_stock',
      '--pg-path',
      '/data',
      '--config-file',
      '/etc/dr/pgbackrest.conf',
      '--json',
    ]);
    expect(out.code).toBe(0);
    expect(out.json.pgbackrestConf).toContain('repo1-type=posix\nrepo1-path=/srv/pitr\n');
    expect(out.json.pgbackrestConf).not.toContain('s3');
    expect(out.json.postgresqlConf).toContain(
      "archive_command = 'pgbackrest --config=/etc/dr/pgbackrest.conf --stanza=crypto_stock archive-push %p'",
    );
  });

  it('bad input: one line each, exit status, nothing printed to stdout', async () => {
    const cases: [string[], RegExp][] = [
      [['pitr', 'config', '--repo', 's3://b-1/p', '--pg-path', '/d'], /--stanza is required/],
      [
        [
          'pitr',
          'config',
          '--repo',
          's3://crypto-dr-vault/p',
          '--stanza',
          's',
          '--pg-path',
          'relative/dir',
          '--region',
          'eu-west-1',
        ],
        /--pg-path "relative\/dir" is not an absolute path/,
      ],
      [
        ['pitr', 'config', '--repo', 's3://crypto-dr-vault/p', '--stanza', 's', '--pg-path', '/d'],
        /needs its region; pass --region/,
      ],
      [
        ['pitr', 'config', '--repo', 'file:///r', '--stanza', 's', '--pg-path', '/d', '--kms-key-id', 'k'],
        /--kms-key-id applies to s3:\/\/ repositories only/,
      ],
      [
        ['pitr', 'config', '--repo', 'ftp://x', '--stanza', 's', '--pg-path', '/d'],
        /is not a pgBackRest repository URL/,
      ],
      [
        ['pitr', 'config', '--repo', 'file:///r', '--stanza', 'bad stanza', '--pg-path', '/d'],
        /--stanza "bad stanza" is not a valid stanza name/,
      ],
      [
        ['pitr', 'config', '--repo', 'file:///r', '--stanza', 's', '--pg-path', '/d', '--rpo-seconds', '0'],
        /--rpo-seconds must be a whole number/,
      ],
    ];
    for (const [args, message] of cases) {
      const out = await runDr(args, { AWS_REGION: '', AWS_DEFAULT_REGION: '' });
      expect(out.code, args.join(' ')).not.toBe(0);
      expect(errorLines(out), args.join(' ')).toHaveLength(1);
      expect(errorLines(out)[0], args.join(' ')).toMatch(message);
      expect(out.stdout).toBe('');
    }
  });
});

describe('pgBackRest S3 credentials', () => {
  const repo = parsePitrRepo('s3://crypto-dr-vault/pitr');
  it('keys from the AWS default chain (here: the environment) go to pgBackRest as PGBACKREST_* variables, never as arguments', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'secret/test',
      AWS_SESSION_TOKEN: 'token',
      AWS_REGION: 'eu-west-1',
    });
    for (const k of ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL', 'AWS_CA_BUNDLE']) delete process.env[k];
    const repo = parsePitrRepo('s3://crypto-dr-vault/pitr');
    try {
      const env = await s3CredentialEnv(repo);
      expect(env).toEqual({
        PGBACKREST_REPO1_S3_KEY_TYPE: 'shared',
        PGBACKREST_REPO1_S3_KEY: 'AKIDTEST',
        PGBACKREST_REPO1_S3_KEY_SECRET: 'secret/test',
        PGBACKREST_REPO1_S3_TOKEN: 'token',
      });
      const args = repoArgs(repo, env);
      expect(args).toEqual([
        '--repo1-type=s3',
        '--repo1-s3-bucket=crypto-dr-vault',
        '--repo1-path=/pitr',
        '--repo1-s3-region=eu-west-1',
        '--repo1-s3-endpoint=s3.eu-west-1.amazonaws.com',
      ]);
    } finally {
      process.env = saved;
    }
  });

  it('without credentials in the environment: key-type=auto (EC2 instance role), and nothing at all for file://', async () => {
    const saved = { ...process.env };
    for (const k of [
      'AWS_ACCESS_KEY_ID',
      'AWS_PROFILE',
      'AWS_WEB_IDENTITY_TOKEN_FILE',
      'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
      'AWS_CONTAINER_CREDENTIALS_FULL_URI',
    ])
      delete process.env[k];
    process.env.AWS_REGION = 'eu-west-1';
    try {
      expect(await s3CredentialEnv(repo)).toEqual({});
      expect(repoArgs(repo, {})).toContain('--repo1-s3-key-type=auto');
      expect(await s3CredentialEnv(parsePitrRepo('file:///srv/pitr'))).toEqual({});
    } finally {
      process.env = saved;
    }
  });
});

interface Fingerprint {
  readonly alerts: string[];
  readonly january: string;
  readonly december: string;
}

describe('point-in-time recovery (real PostgreSQL + pgBackRest, file:// repository)', () => {
  let cluster: ArchivingCluster;
  let workDir: string;
  let repo: string;
  /** Between batch A and batch B. */
  let T: string;
  /** After batch B (its segment archived), before a last commit C in a later segment. */
  let afterB: string;
  /** After everything archived: no commit after it in the archive. */
  let beyond: string;
  let backupStart: Date;
  let atT: Fingerprint;
  let afterBPrint: Fingerprint;
  /** The segment holding batches A and B. */
  let segmentAB: string;
  const targets: string[] = [];
  const target = (prefix: string) => {
    const name = uniqueName(prefix);
    targets.push(name);
    return name;
  };

  async function fingerprint(url: {
    query: (sql: string) => Promise<{ rows: Record<string, unknown>[] }>;
  }): Promise<Fingerprint> {
    const hash = async (where: string) =>
      String(
        (
          await url.query(
            `SELECT count(*) || ':' || coalesce(md5(string_agg(c::text, ',' ORDER BY symbol_id, time)), '') AS h FROM candles c WHERE ${where}`,
          )
        ).rows[0]!.h,
      );
    return {
      alerts: (await url.query(`SELECT message FROM alerts WHERE message LIKE 'batch %' ORDER BY message`)).rows.map(
        (r) => String(r.message),
      ),
      january: await hash(`time >= '2026-01-01' AND time < '2026-02-01'`),
      december: await hash(`time >= '2025-12-01' AND time < '2026-01-01'`),
    };
  }
  const onCluster = (database: string) => ({
    query: async (sql: string) => ({ rows: await cluster.query(database, sql) }),
  });
  const onMain = (database: string) => ({ query: (sql: string) => withClient(database, (c) => c.query(sql)) });
  const serverNow = async () =>
    (
      await cluster.query<{ t: string }>(
        'postgres',
        `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS t`,
      )
    )[0]!.t;
  /** The dr-pitr-* scratch directories left in the work dir (must be none after every run). */
  const leftovers = async () => (await readdir(workDir)).filter((n) => n.startsWith('dr-pitr-'));

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'dr-pitr-test-'));
    // The scratch clusters inside belong to the postgres OS user, which must reach them.
    await chmod(workDir, 0o755);
    cluster = await startArchivingCluster('crypto_stock');
    repo = cluster.repoUrl;
    await cluster.pgbackrest('stanza-create');
    await cluster.pgbackrest('check');
    await cluster.query('postgres', 'CREATE DATABASE crypto_stock');
    await createSampleDatabase(cluster.url('crypto_stock'), { scale: 'test' });
    backupStart = new Date(Date.now() - 1000);
    await cluster.pgbackrest('--type=full', 'backup');
    // pgBackRest records whole seconds: a target counts as after the backup one second past its stop.
    await sleep(1100);

    await cluster.query(
      'crypto_stock',
      `INSERT INTO alerts (symbol_id, severity, message, threshold, created_at)
      SELECT 1, 'info', 'batch A ' || g, 1, '2026-01-20T00:00:00Z' FROM generate_series(1, 5) g`,
    );
    await cluster.query(
      'crypto_stock',
      `UPDATE candles SET close = close + 1 WHERE time >= '2026-01-10' AND time < '2026-01-11'`,
    );
    await sleep(50);
    T = await serverNow();
    atT = await fingerprint(onCluster('crypto_stock'));
    // A copy of the database as of T, to compare restores with (its CREATE commits after T).
    await cluster.query('postgres', 'CREATE DATABASE expected_at_t TEMPLATE crypto_stock');
    await sleep(50);

    await cluster.query(
      'crypto_stock',
      `INSERT INTO alerts (symbol_id, severity, message, threshold, created_at)
      SELECT 1, 'warning', 'batch B ' || g, 1, '2026-01-21T00:00:00Z' FROM generate_series(1, 7) g`,
    );
    await cluster.query('crypto_stock', `DELETE FROM candles WHERE time >= '2026-01-01' AND time < '2026-01-15'`);
    await cluster.query(
      'crypto_stock',
      `UPDATE candles SET volume = volume + 1 WHERE time >= '2025-12-01' AND time < '2025-12-02'`,
    );
    await sleep(50);
    afterB = await serverNow();
    afterBPrint = await fingerprint(onCluster('crypto_stock'));
    segmentAB = await cluster.switchWalAndWait();
    // Commit C in the next segment, so removing segmentAB leaves a gap rather than a shorter archive.
    await cluster.query('postgres', 'CREATE TABLE marker_c (id int)');
    await cluster.switchWalAndWait();
    await sleep(50);
    beyond = await serverNow();
    await sleep(1100);
    expect(atT.alerts).toHaveLength(5);
    expect(afterBPrint.alerts).toHaveLength(12);
    expect(afterBPrint.january).not.toBe(atT.january);
    expect(afterBPrint.december).not.toBe(atT.december);
  }, 300_000);

  afterAll(async () => {
    for (const name of targets) await dropDatabase(name);
    await cluster?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('restore --at T into a new database: exactly the data as of T (A present, B absent); the temporary cluster is removed', async () => {
    const name = target('pitr_full');
    const out = await runDr([
      'restore',
      '--at',
      T,
      '--pitr',
      repo,
      '--stanza',
      'crypto_stock',
      '--database',
      'crypto_stock',
      '--target',
      pgUrl(name),
      '--work-dir',
      workDir,
      '--json',
    ]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.json).toMatchObject({
      ok: true,
      mode: 'full',
      stanza: 'crypto_stock',
      database: 'crypto_stock',
      replaced: false,
    });
    expect(Date.parse(out.json.stoppedBefore as string)).toBeGreaterThan(Date.parse(T));
    expect(Date.parse(out.json.lastCommit as string)).toBeLessThanOrEqual(Date.parse(T));
    expect(await fingerprint(onMain(name))).toEqual(atT);
    // Every table's rows and the whole schema equal the database as it was at T. Sequences are
    // WAL-logged up to 32 values ahead, so a recovered sequence may be ahead of the live one.
    const comparison = await compareDatabases(cluster.url('expected_at_t'), pgUrl(name));
    expect(comparison.differences.filter((d) => !d.startsWith('sequence '))).toEqual([]);
    expect(await leftovers()).toEqual([]);
    const { stdout } = await run('ps', ['-eo', 'args']);
    expect(stdout).not.toContain(join(workDir, 'dr-pitr-'));
  });

  it('PITR range restore of one table: January candles as they were at T, everything else as it is now', async () => {
    // The "damaged" database: the cluster's current state (after B) on the main server.
    const name = target('pitr_range');
    const dump = join(workDir, 'current.dump');
    await run('pg_dump', ['-Fc', '-f', dump, `--dbname=${cluster.url('crypto_stock')}`]);
    await withClient('postgres', (c) => c.query(`CREATE DATABASE "${name}"`));
    await run('pg_restore', ['--exit-on-error', `--dbname=${pgUrl(name)}`, dump]);
    await rm(dump);
    expect(await fingerprint(onMain(name))).toEqual(afterBPrint);

    const out = await runDr([
      'restore',
      '--at',
      T,
      '--pitr',
      repo,
      '--stanza',
      'crypto_stock',
      '--database',
      'crypto_stock',
      '--target',
      pgUrl(name),
      '--tables',
      'public.candles',
      '--since',
      '2026-01-01T00:00:00Z',
      '--until',
      '2026-02-01T00:00:00Z',
      '--work-dir',
      workDir,
      '--json',
    ]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.json).toMatchObject({ ok: true, mode: 'tables' });
    const now = await fingerprint(onMain(name));
    expect(now.january).toBe(atT.january);
    expect(now.december).toBe(afterBPrint.december);
    expect(now.alerts).toEqual(afterBPrint.alerts);
    expect(await leftovers()).toEqual([]);
  });

  it('--at before the oldest base backup: refused before anything is restored', async () => {
    const name = target('pitr_early');
    const early = new Date(backupStart.getTime() - 60_000).toISOString();
    const out = await runDr([
      'restore',
      '--at',
      early,
      '--pitr',
      repo,
      '--stanza',
      'crypto_stock',
      '--database',
      'crypto_stock',
      '--target',
      pgUrl(name),
      '--work-dir',
      workDir,
    ]);
    expect(out.code).toBe(1);
    expect(errorLines(out)).toHaveLength(1);
    expect(errorLines(out)[0]).toMatch(
      /--at .* is before the oldest base backup of stanza crypto_stock \(\d{8}-\d{6}F, finished .*\): no backup can be recovered to that point; choose an --at after/,
    );
    expect(await databaseExists(name)).toBe(false);
    expect(await leftovers()).toEqual([]);
  });

  it('--at beyond the archived WAL: recovery cannot prove it reached the target, so nothing is promoted or restored', async () => {
    const name = target('pitr_beyond');
    const out = await runDr([
      'restore',
      '--at',
      beyond,
      '--pitr',
      repo,
      '--stanza',
      'crypto_stock',
      '--database',
      'crypto_stock',
      '--target',
      pgUrl(name),
      '--work-dir',
      workDir,
    ]);
    expect(out.code).toBe(1);
    expect(errorLines(out)).toHaveLength(1);
    expect(errorLines(out)[0]).toMatch(
      /recovery to .* is not possible: the archived WAL ends before it; the last transaction it holds committed at .*; choose an --at at or before that time/,
    );
    expect(await databaseExists(name)).toBe(false);
    expect(await leftovers()).toEqual([]);
  });

  it('a WAL segment missing from the archive: a clear error naming it', async () => {
    const copy = join(workDir, 'gap-repo');
    await cp(cluster.repoPath, copy, { recursive: true });
    const archiveDir = join(copy, 'archive', 'crypto_stock', '15-1', segmentAB.slice(0, 16));
    const removed = (await readdir(archiveDir)).filter((f) => f.startsWith(segmentAB));
    expect(removed).toHaveLength(1);
    await rm(join(archiveDir, removed[0]!));
    await chownPostgres(copy);
    const name = target('pitr_gap');
    const out = await runDr([
      'restore',
      '--at',
      afterB,
      '--pitr',
      `file://${copy}`,
      '--stanza',
      'crypto_stock',
      '--database',
      'crypto_stock',
      '--target',
      pgUrl(name),
      '--work-dir',
      workDir,
    ]);
    expect(out.code).toBe(1);
    expect(errorLines(out)).toHaveLength(1);
    expect(errorLines(out)[0]).toContain(`WAL segment ${segmentAB} is missing from the archive`);
    expect(await databaseExists(name)).toBe(false);
    await rm(copy, { recursive: true, force: true });
  });

  it('version mismatch (stand-in server binaries that report PostgreSQL 14): an error naming both versions', async () => {
    const fake = join(workDir, 'fake-pg14-bin');
    await mkdir(fake);
    await writeFile(join(fake, 'postgres'), '#!/bin/sh\necho "postgres (PostgreSQL) 14.11"\n');
    await chmod(fake, 0o755);
    await chmod(join(fake, 'postgres'), 0o755);
    for (const args of [
      [
        'restore',
        '--at',
        T,
        '--pitr',
        repo,
        '--stanza',
        'crypto_stock',
        '--database',
        'crypto_stock',
        '--target',
        pgUrl(target('pitr_v14')),
        '--pg-server-bin',
        fake,
      ],
      [
        'pitr',
        'restore-server',
        '--pitr',
        repo,
        '--stanza',
        'crypto_stock',
        '--pg-path',
        join(workDir, 'v14-data'),
        '--latest',
        '--pg-server-bin',
        fake,
      ],
    ]) {
      const out = await runDr(args);
      expect(out.code, args[0]).toBe(1);
      expect(errorLines(out)).toHaveLength(1);
      expect(errorLines(out)[0]).toContain(
        `stanza crypto_stock holds PostgreSQL 15 backups, but the local server binaries are PostgreSQL 14.11 (${fake}); install the PostgreSQL 15 server`,
      );
    }
    await rm(fake, { recursive: true });
  });

  it('bad input: one line each, nothing touched', async () => {
    const base = [
      'restore',
      '--pitr',
      repo,
      '--stanza',
      'crypto_stock',
      '--database',
      'crypto_stock',
      '--target',
      pgUrl('pitr_never'),
    ];
    const cases: [string[], RegExp][] = [
      [
        ['restore', '--at', T, '--pitr', repo, '--database', 'crypto_stock', '--target', pgUrl('pitr_never')],
        /--stanza is required/,
      ],
      [[...base], /say where recovery stops; pass --at/],
      [[...base, '--at', 'yesterday'], /--at "yesterday" is not a time with a zone; use ISO 8601/],
      [[...base, '--at', '2026-01-15T14:30:00'], /is not a time with a zone/],
      [[...base, '--at', '2999-01-01T00:00:00Z'], /--at 2999-01-01T00:00:00.000Z is in the future/],
      [[...base, '--at', T, '--with-globals'], /--with-globals/],
      [
        [...base, '--at', T, '--since', '2026-01-01T00:00:00Z', '--until', '2026-02-01T00:00:00Z'],
        /--since needs --tables/,
      ],
      [
        [
          'restore',
          '--at',
          T,
          '--pitr',
          'ftp://x',
          '--stanza',
          's',
          '--database',
          'd',
          '--target',
          pgUrl('pitr_never'),
        ],
        /--pitr "ftp:\/\/x" is not a pgBackRest repository URL/,
      ],
      [
        [
          'restore',
          '--at',
          T,
          '--pitr',
          repo,
          '--stanza',
          'no_such_stanza',
          '--database',
          'crypto_stock',
          '--target',
          pgUrl('pitr_never'),
        ],
        /stanza no_such_stanza does not exist in file:\/\//,
      ],
      [
        ['pitr', 'restore-server', '--pitr', repo, '--stanza', 'crypto_stock', '--pg-path', join(workDir, 'x')],
        /say where recovery stops; pass --at/,
      ],
      [
        ['pitr', 'restore-server', '--pitr', repo, '--stanza', 'crypto_stock', '--pg-path', 'rel', '--latest'],
        /--pg-path "rel" is not an absolute path/,
      ],
    ];
    for (const [args, message] of cases) {
      const out = await runDr(args);
      expect(out.code, args.join(' ')).not.toBe(0);
      expect(errorLines(out), args.join(' ')).toHaveLength(1);
      expect(errorLines(out)[0], args.join(' ')).toMatch(message);
    }
    expect(await databaseExists('pitr_never')).toBe(false);
  });

  it('restore-server --at T into an empty directory: the server starts, promotes at T and holds the data as of T', async () => {
    const dataDir = join(workDir, 'replacement', 'data');
    const out = await runDr([
      'pitr',
      'restore-server',
      '--pitr',
      repo,
      '--stanza',
      'crypto_stock',
      '--pg-path',
      dataDir,
      '--at',
      T,
      '--json',
    ]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.json).toMatchObject({
      ok: true,
      pgPath: dataDir,
      stanza: 'crypto_stock',
      at: new Date(T).toISOString().replace('Z', '000Z'),
      timeline: 1,
    });
    expect((out.json.nextSteps as string[])[0]).toContain(`pg_ctl -D ${dataDir}`);

    // Started as the next steps say, on a free port and without archiving into the shared test repository.
    const port = await freePort();
    const socketDir = join(workDir, 'replacement');
    await chownPostgres(socketDir);
    await asPostgres(join(serverBinDir(), 'pg_ctl'), [
      '-D',
      dataDir,
      '-w',
      '-l',
      join(socketDir, 'log'),
      '-o',
      `-p ${port} -k ${socketDir} -c archive_mode=off -c listen_addresses=127.0.0.1`,
      'start',
    ]);
    try {
      const url = `postgres://postgres@127.0.0.1:${port}/crypto_stock`;
      const query = async (sql: string) => {
        const { default: pg } = await import('pg');
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          return await client.query(sql);
        } finally {
          await client.end();
        }
      };
      for (let i = 0; i < 100 && (await query('SELECT pg_is_in_recovery() AS r')).rows[0].r; i++) await sleep(100);
      expect((await query('SELECT pg_is_in_recovery() AS r')).rows[0].r).toBe(false);
      expect(await fingerprint({ query })).toEqual(atT);
    } finally {
      await asPostgres(join(serverBinDir(), 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', 'stop']).catch(() => {});
    }

    // A non-empty directory is refused without --delta/--force.
    const again = await runDr([
      'pitr',
      'restore-server',
      '--pitr',
      repo,
      '--stanza',
      'crypto_stock',
      '--pg-path',
      dataDir,
      '--latest',
    ]);
    expect(again.code).toBe(1);
    expect(errorLines(again)[0]).toMatch(/--pg-path .* is not empty; .*--delta .*--force/);
    await rm(join(workDir, 'replacement'), { recursive: true, force: true });
  });

  // Last in this block: it changes the cluster's configuration and adds a newer base backup.
  it('a source cluster in a whole-hour time zone (stop record printed as +03): recovery is checked and promoted at T', async () => {
    await cluster.query('postgres', `ALTER SYSTEM SET timezone = 'Etc/GMT-3'`);
    await cluster.query('postgres', 'SELECT pg_reload_conf()');
    await cluster.pgbackrest('--type=full', 'backup');
    await sleep(1100);
    await cluster.query(
      'crypto_stock',
      `INSERT INTO alerts (symbol_id, severity, message, threshold, created_at) VALUES (1, 'info', 'zone K', 1, '2026-01-22T00:00:00Z')`,
    );
    await sleep(50);
    const at = await serverNow();
    await sleep(50);
    await cluster.query(
      'crypto_stock',
      `INSERT INTO alerts (symbol_id, severity, message, threshold, created_at) VALUES (1, 'info', 'zone L', 1, '2026-01-22T00:00:00Z')`,
    );
    await cluster.switchWalAndWait();
    await sleep(1100);

    const name = target('pitr_zone');
    const out = await runDr([
      'restore',
      '--at',
      at,
      '--pitr',
      repo,
      '--stanza',
      'crypto_stock',
      '--database',
      'crypto_stock',
      '--target',
      pgUrl(name),
      '--work-dir',
      workDir,
      '--json',
    ]);
    expect(out.code, out.stderr).toBe(0);
    expect(Date.parse(out.json.stoppedBefore as string)).toBeGreaterThan(Date.parse(at));
    const zone = await withClient(name, (c) =>
      c.query<{ message: string }>(`SELECT message FROM alerts WHERE message LIKE 'zone %' ORDER BY 1`),
    );
    expect(zone.rows.map((r) => r.message)).toEqual(['zone K']);
  });
});
