/**
 * Connections as libpq takes them: keyword/value strings, `?host=` URIs (a Unix socket), and with
 * no PGSSLMODE the `prefer` behaviour of libpq, so a server that accepts only TLS works for dr's own
 * queries as it does for pg_dump in the same run (a real TLS-only throwaway cluster).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTls } from '../../core/pg/secret-connection.ts';
import { chownPostgres, freePort, type InitializedCluster, initCluster } from '../../fixtures/cluster.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { expectOneLineError, runDr } from '../support/cli.ts';

const source = uniqueName('dr_conn_src');
const dirs: string[] = [];
let tls: InitializedCluster;
let tlsPort: number;

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dr-conn-'));
  dirs.push(dir);
  return dir;
}

/** The defaults are under test: no PGSSLMODE may reach dr. */
function noSslEnv(): Record<string, string> {
  expect(process.env.PGSSLMODE).toBeUndefined();
  return {};
}

beforeAll(async () => {
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  // A server that refuses plain-text TCP connections: hostssl only.
  tls = await initCluster('dr-tls-');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      // Node matches an IP address against the subjectAltName only (verify-full).
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(tls.dataDir, 'server.key'),
      '-out',
      join(tls.dataDir, 'server.crt'),
    ],
    { stdio: 'ignore' },
  );
  await writeFile(
    join(tls.dataDir, 'pg_hba.conf'),
    'local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n',
  );
  await chownPostgres(tls.base);
  execFileSync('chmod', ['600', join(tls.dataDir, 'server.key')]);
  tlsPort = await freePort();
  await tls.start(`-p ${tlsPort} -k ${tls.base} -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on`);
});

afterAll(async () => {
  await dropDatabase(source);
  await tls?.stop();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('libpq-compatible connections', () => {
  it('takes a keyword/value string and a ?host= socket URI for --db', async () => {
    const repo = `file://${await tempDir()}`;
    const keywords = await runDr(
      [
        'backup',
        '--db',
        `host=127.0.0.1 port=5432 user=root dbname='${source}'`,
        '--repo',
        repo,
        '--json',
        '-q',
        '-j',
        '2',
      ],
      noSslEnv(),
    );
    expect(keywords.code, keywords.stderr).toBe(0);
    expect(keywords.json).toMatchObject({ database: source });
    const socket = await runDr(
      [
        'backup',
        '--db',
        `postgres:///${source}?host=/var/run/postgresql&user=root`,
        '--repo',
        repo,
        '--json',
        '-q',
        '-j',
        '2',
      ],
      noSslEnv(),
    );
    expect(socket.code, socket.stderr).toBe(0);
    expect(socket.json).toMatchObject({ database: source });
  });

  it('with no PGSSLMODE, behaves as libpq prefer: a TLS-only server works for dr as for pg_dump', async () => {
    const repo = `file://${await tempDir()}`;
    const run = await runDr(
      ['backup', '--db', `postgres://postgres@127.0.0.1:${tlsPort}/postgres`, '--repo', repo, '--json', '-q'],
      noSslEnv(),
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.json).toMatchObject({ database: 'postgres' });
    // sslmode=disable is still honoured, and the refusal is the server's, in one line.
    const off = await runDr(
      ['backup', '--db', `postgres://postgres@127.0.0.1:${tlsPort}/postgres?sslmode=disable`, '--repo', repo, '-q'],
      noSslEnv(),
    );
    expectOneLineError(off, /127\.0\.0\.1:\d+\/postgres/, 1);
  });

  it('takes every libpq sslmode against a TLS-only server, on the CLI and the Lambdas alike (core/pg/tls.ts)', async () => {
    const repo = `file://${await tempDir()}`;
    const url = (mode: string) => `postgres://postgres@127.0.0.1:${tlsPort}/postgres?sslmode=${mode}`;
    const ca = { PGSSLROOTCERT: join(tls.dataDir, 'server.crt') };
    // allow (plain text first) moves to TLS when the server refuses plain text, as libpq does.
    for (const [mode, env] of [
      ['allow', {}],
      ['prefer', {}],
      ['require', {}],
      ['verify-ca', ca],
      ['verify-full', ca],
    ] as const) {
      const run = await runDr(['backup', '--db', url(mode), '--repo', repo, '--json', '-q'], env);
      expect(run.code, `${mode}: ${run.stderr}`).toBe(0);
    }
    // A verifying mode without the CA that signed the server's certificate is refused, in one line.
    expectOneLineError(await runDr(['backup', '--db', url('verify-full'), '--repo', repo, '-q']), /certificate/i, 1);
    // The Lambdas' path (verify, drill-cleanup): the same modes through connectTls.
    const config = { host: '127.0.0.1', port: tlsPort, user: 'postgres', database: 'postgres' };
    const caFile = join(tls.dataDir, 'server.crt');
    for (const mode of ['allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const) {
      const client = await connectTls(config, mode, caFile, 'tls-only');
      expect((await client.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows).toEqual([
        { ssl: true },
      ]);
      await client.end();
    }
    await expect(connectTls(config, 'disable', undefined, 'tls-only')).rejects.toThrow(/no encryption/);
  });

  it('a malformed connection string is a usage error (exit 2)', async () => {
    const repo = `file://${await tempDir()}`;
    expectOneLineError(
      await runDr(['backup', '--db', 'not a url', '--repo', repo]),
      /--db "not a url" is not a connection URL/,
      2,
    );
    expectOneLineError(await runDr(['backup', '--db', 'mysql://x@y/z', '--repo', repo]), /is not a PostgreSQL URL/, 2);
  });
});
