/**
 * The whole PITR flow against an S3-compatible store over TLS: a real s3rver with a self-signed
 * certificate (made here with openssl), real pgBackRest (stanza-create, archive-push, backup) on a
 * throwaway cluster configured by `dr pitr config`, then `dr pitr check`, `dr restore --at` into a
 * database and `dr pitr restore-server`. dr reads the endpoint from AWS_ENDPOINT_URL_S3 and the
 * keys from the standard AWS environment, and verifies the certificate with --ca-file.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asPostgres, chownPostgres, freePort, serverBinDir } from '../../../fixtures/cluster.ts';
import { dropDatabase, pgUrl, uniqueName, withClient } from '../../../fixtures/pg.ts';
import { type ArchivingCluster, startArchivingCluster } from '../../../fixtures/pitr.ts';
import { type S3rverProcess, startS3rver } from '../../../fixtures/s3rver.ts';
import { expectOneLineError, runDr } from '../../support/cli.ts';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BUCKET = 'dr-pitr-tls';

describe('PITR over an S3-compatible store with TLS (s3rver + real pgBackRest)', () => {
  let work: string;
  let s3: S3rverProcess;
  let endpoint: string;
  let caFile: string;
  let cluster: ArchivingCluster;
  let T: string;
  const targets: string[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'dr-pitr-s3-'));
    await chmod(work, 0o755);
    const key = join(work, 'key.pem');
    caFile = join(work, 'cert.pem');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      caFile,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
    ]);
    await chmod(key, 0o644);
    Object.assign(process.env, { S3RVER_TLS_KEY: key, S3RVER_TLS_CERT: caFile, S3RVER_BUCKETS: BUCKET });
    try {
      s3 = await startS3rver(join(work, 's3'));
    } finally {
      for (const k of ['S3RVER_TLS_KEY', 'S3RVER_TLS_CERT', 'S3RVER_BUCKETS']) delete process.env[k];
    }
    endpoint = `https://localhost:${new URL(s3.endpoint).port}`;
    env = {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
      AWS_CA_BUNDLE: '',
    };
    // The database host's pgbackrest.conf from dr pitr config (path-style URIs, the CA file); test keys in the file.
    cluster = await startArchivingCluster('crypto_stock', {
      s3: { url: `s3://${BUCKET}/pitr`, endpoint, caFile },
      extraGlobal: ['repo1-s3-key=S3RVER', 'repo1-s3-key-secret=S3RVER'],
    });
    await chownPostgres(work);
    await cluster.pgbackrest('stanza-create');
    await cluster.pgbackrest('check');
    await cluster.query('postgres', 'CREATE DATABASE app');
    await cluster.query('app', `CREATE TABLE trail (id serial PRIMARY KEY, label text NOT NULL)`);
    await cluster.pgbackrest('--type=full', 'backup');
    await sleep(1100);
    await cluster.query('app', `INSERT INTO trail (label) VALUES ('before T')`);
    await sleep(20);
    ({ T } = (
      await cluster.query<{ T: string }>(
        'postgres',
        `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "T"`,
      )
    )[0]!);
    await sleep(20);
    await cluster.query('app', `INSERT INTO trail (label) VALUES ('after T')`);
    await cluster.switchWalAndWait();
    await sleep(1100);
  }, 300_000);

  afterAll(async () => {
    for (const name of targets) await dropDatabase(name);
    await cluster?.stop();
    await s3?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('dr pitr config for an S3-compatible endpoint: endpoint, port, path-style URIs, CA file, shared keys from the environment', () => {
    const conf = cluster.config.pgbackrestConf.split('\n');
    for (const line of [
      'repo1-type=s3',
      `repo1-s3-bucket=${BUCKET}`,
      'repo1-s3-endpoint=localhost',
      `repo1-storage-port=${new URL(endpoint).port}`,
      'repo1-s3-uri-style=path',
      `repo1-storage-ca-file=${caFile}`,
      'repo1-s3-key-type=shared',
    ]) {
      expect(conf, line).toContain(line);
    }
    expect(cluster.config.pgbackrestConf).not.toMatch(/repo1-s3-key=|key-secret=/);
  });

  it('dr pitr check over TLS with the CA file: reachable, one backup, no gap', async () => {
    const out = await runDr(
      ['pitr', 'check', '--pitr', `s3://${BUCKET}/pitr`, '--stanza', 'crypto_stock', '--ca-file', caFile, '--json'],
      env,
    );
    expect(out.code, out.stderr + out.stdout).toBe(0);
    expect(out.json).toMatchObject({ ok: true, reachable: true, gaps: [] });
    expect(out.json.backups).toHaveLength(1);
    // Without the CA the certificate is refused, and said so.
    const untrusted = await runDr(
      ['pitr', 'check', '--pitr', `s3://${BUCKET}/pitr`, '--stanza', 'crypto_stock', '--json'],
      env,
    );
    expect(untrusted.code).toBe(1);
    expect(untrusted.json.reachable).toBe(false);
    expect(untrusted.json.error).toMatch(/not reachable|cannot read stanza/);
  });

  it('dr restore --at T from s3:// into a database: exactly the rows before T', async () => {
    const name = uniqueName('pitr_s3');
    targets.push(name);
    const out = await runDr(
      [
        'restore',
        '--at',
        T,
        '--pitr',
        `s3://${BUCKET}/pitr`,
        '--stanza',
        'crypto_stock',
        '--database',
        'app',
        '--target',
        pgUrl(name),
        '--ca-file',
        caFile,
        '--work-dir',
        work,
        '--json',
      ],
      env,
    );
    expect(out.code, out.stderr).toBe(0);
    expect(out.json).toMatchObject({ timeline: 1, at: T });
    const rows = await withClient(name, (c) => c.query<{ label: string }>('SELECT label FROM trail ORDER BY id'));
    expect(rows.rows.map((r) => r.label)).toEqual(['before T']);
  });

  it('dr pitr restore-server --latest from s3://: restore_command carries the endpoint; the server replays from S3 and promotes', async () => {
    const dataDir = join(work, 'server', 'data');
    const out = await runDr(
      [
        'pitr',
        'restore-server',
        '--pitr',
        `s3://${BUCKET}/pitr`,
        '--stanza',
        'crypto_stock',
        '--pg-path',
        dataDir,
        '--latest',
        '--ca-file',
        caFile,
        '--json',
      ],
      env,
    );
    expect(out.code, out.stderr).toBe(0);
    const conf = await readFile(join(dataDir, 'postgresql.auto.conf'), 'utf8');
    expect(conf).toContain('--repo1-s3-endpoint=localhost');
    expect(conf).toContain('--repo1-s3-uri-style=path');
    expect(conf).toContain(`--repo1-storage-ca-file=${caFile}`);
    expect(conf).not.toContain('amazonaws.com');
    expect(conf).not.toContain('S3RVER');
    const runDir = join(work, 'server');
    await chownPostgres(runDir);
    const port = await freePort();
    // The keys reach the server's restore_command through its environment, as the next steps say.
    await asPostgres(
      join(serverBinDir(), 'pg_ctl'),
      [
        '-D',
        dataDir,
        '-w',
        '-t',
        '120',
        '-l',
        join(runDir, 'log'),
        '-o',
        `-p ${port} -k ${runDir} -c archive_mode=off -c listen_addresses=127.0.0.1`,
        'start',
      ],
      {
        PGBACKREST_REPO1_S3_KEY_TYPE: 'shared',
        PGBACKREST_REPO1_S3_KEY: 'S3RVER',
        PGBACKREST_REPO1_S3_KEY_SECRET: 'S3RVER',
      },
    );
    try {
      const query = async (sql: string) => {
        const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/app` });
        await client.connect();
        try {
          return await client.query(sql);
        } finally {
          await client.end();
        }
      };
      for (let i = 0; i < 200 && (await query('SELECT pg_is_in_recovery() AS r')).rows[0].r; i++) await sleep(100);
      expect((await query('SELECT pg_is_in_recovery() AS r')).rows[0].r).toBe(false);
      expect((await query('SELECT label FROM trail ORDER BY id')).rows.map((r) => r.label)).toEqual([
        'before T',
        'after T',
      ]);
    } finally {
      await asPostgres(join(serverBinDir(), 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', 'stop']).catch(() => {});
    }
  });

  it('bad endpoints: one line each', async () => {
    const args = ['pitr', 'check', '--pitr', `s3://${BUCKET}/pitr`, '--stanza', 'crypto_stock'];
    expectOneLineError(
      await runDr([...args, '--endpoint', 'http://localhost:1'], env),
      /--endpoint "http:\/\/localhost:1" is not https: pgBackRest reaches S3 only over TLS/,
      2,
    );
    expectOneLineError(
      await runDr(args, { ...env, AWS_ENDPOINT_URL_S3: 'https://localhost:1/sub' }),
      /AWS_ENDPOINT_URL_S3 "https:\/\/localhost:1\/sub" has a path/,
      2,
    );
  });
});
