/**
 * The verify Lambda's real handler against the real PostgreSQL and a real file:// vault, with
 * only Secrets Manager GetSecretValue mocked (no local equivalent). TLS is exercised against a
 * throwaway cluster that refuses plain-text connections.
 */
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runBackup } from '../../core/backup/backup.ts';
import type { Manifest } from '../../core/backup/manifest.ts';
import { VerifyEnv } from '../../core/contract.ts';
import { readManifest } from '../../core/repository/backups.ts';
import { openRepository } from '../../core/repository/index.ts';
import type { VerifyResult } from '../../core/verify/verify.ts';
import { startThrowawayCluster, type ThrowawayCluster } from '../../fixtures/cluster.ts';
import { createDatabase, dropDatabase, PG_HOST, PG_PORT, PG_USER, pgUrl, uniqueName } from '../../fixtures/pg.ts';
import { createHandler, fitPayload, handler, sslModeOf, type VerifyEvent } from '../../lambdas/verify/handler.ts';
import { captureStdout, type StdoutCapture } from '../support/handler.ts';
import { backupAndRestore, type HealthServer, type RestoredFixture, startHealthServer } from '../support/restored.ts';

const run = promisify(execFile);
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:dr/staging-AbCdEf';

let fx: RestoredFixture;
let health: HealthServer;

let stdout: StdoutCapture;

beforeAll(async () => {
  // The handler logs one summary line per invocation (CloudWatch); kept out of the test output and read back.
  stdout = captureStdout();
  fx = await backupAndRestore('dr_verify_lambda');
  health = await startHealthServer();
});

afterAll(async () => {
  stdout.restore();
  await health?.close();
  await fx?.cleanup();
});

/** The real handler with GetSecretValue mocked: the local server's credentials, as an RDS secret. */
function localHandler(
  env: Record<string, string> = {},
  secret: object = { username: PG_USER, password: 'unused-with-trust', host: PG_HOST, port: PG_PORT },
) {
  const getSecret = vi.fn(async (_arn: string) => JSON.stringify(secret));
  const invoke = createHandler({
    getSecret,
    env: { [VerifyEnv.repo]: fx.repoUrl, [VerifyEnv.secretArn]: SECRET_ARN, ...env },
  });
  return { invoke: (event: VerifyEvent | Record<string, unknown>) => invoke(event), getSecret };
}

const event = (targetDatabase: string, extra: Partial<VerifyEvent> = {}): VerifyEvent => ({
  database: fx.source,
  backupId: fx.manifest.id,
  targetDatabase,
  ...extra,
});
const failed = (r: VerifyResult) => r.checks.filter((c) => !c.passed);

describe('verify Lambda handler (mocked Secrets Manager GetSecretValue)', () => {
  it('passes for the restored copy, with credentials from the secret', async () => {
    const { invoke, getSecret } = localHandler();
    const result = await invoke(event(fx.restored));
    expect(getSecret).toHaveBeenCalledWith(SECRET_ARN);
    expect(failed(result)).toEqual([]);
    expect(result).toMatchObject({
      passed: true,
      backupId: fx.manifest.id,
      database: fx.source,
      target: `${PG_USER}@${PG_HOST}:${PG_PORT}/${fx.restored}`,
    });
    expect(JSON.stringify(result)).not.toContain('unused-with-trust');
    expect(stdout.json().at(-1)).toMatchObject({
      verify: 'PASS',
      backupId: fx.manifest.id,
      checks: result.totals.checks,
      failed: [],
    });
  });

  it('returns passed: false (does not throw) for rows deleted, an index and a constraint dropped, naming each', async () => {
    const fk = fx.manifest.tables.find((t) => t.name === 'ml_features')!.constraints.find((c) => c.type === 'f')!;
    const copy = await fx.clone((c) =>
      c.query(
        `DELETE FROM alerts WHERE id IN (SELECT id FROM alerts ORDER BY id LIMIT 2); DROP INDEX ml_features_features_gin; ALTER TABLE ml_features DROP CONSTRAINT "${fk.name}"`,
      ),
    );
    const result = await localHandler().invoke(event(copy));
    expect(result.passed).toBe(false);
    expect(
      failed(result)
        .map((c) => `${c.name} ${c.object}`)
        .sort(),
    ).toEqual([
      `constraint public.ml_features.${fk.name}`,
      // The deleted rows' fingerprints too: the content check names the table.
      'content public.alerts',
      'index public.ml_features_features_gin',
      'row-count public.alerts',
    ]);
  });

  it('catches a sequence behind and an unexpected table', async () => {
    const seq = fx.manifest.sequences.find((s) => s.lastValue !== null && BigInt(s.lastValue) > 1n)!;
    const copy = await fx.clone((c) =>
      c.query(`SELECT setval('"${seq.schema}"."${seq.name}"', 1); CREATE TABLE public.stray (id int)`),
    );
    const result = await localHandler().invoke(event(copy));
    expect(failed(result).map((c) => `${c.name} ${c.object}`)).toEqual(
      expect.arrayContaining([`sequence ${seq.schema}.${seq.name}`, 'unexpected-table public.stray']),
    );
  });

  it('checks health URLs from the event: 200 passes, 500 and a silent one fail', async () => {
    const { invoke } = localHandler();
    expect((await invoke(event(fx.restored, { healthUrls: [health.ok] }))).passed).toBe(true);
    const result = await invoke(
      event(fx.restored, { healthUrls: [health.ok, health.failing, health.hanging], healthTimeoutMs: 300 }),
    );
    expect(result.passed).toBe(false);
    expect(failed(result)).toEqual([
      { name: 'health-url', object: health.failing, expected: '2xx', actual: 500, passed: false },
      { name: 'health-url', object: health.hanging, expected: '2xx', actual: 'no answer within 300 ms', passed: false },
    ]);
  });

  it('takes backupId latest, a numeric-string port, and host from the event over the secret', async () => {
    const { invoke } = localHandler({}, { username: PG_USER, password: '', host: 'db.invalid', port: 1 });
    const result = await invoke({ ...event(fx.restored), backupId: 'latest', host: PG_HOST, port: String(PG_PORT) });
    expect(result).toMatchObject({ passed: true, backupId: fx.manifest.id });
  });

  it('refuses an invalid event with the field named, and unknown fields', async () => {
    const { invoke, getSecret } = localHandler();
    await expect(invoke({ database: fx.source, backupId: fx.manifest.id })).rejects.toThrow(
      /verify event is invalid: targetDatabase/,
    );
    await expect(invoke({ ...event(fx.restored), healthURLs: [health.ok] })).rejects.toThrow(
      /verify event is invalid: .*healthURLs/,
    );
    await expect(invoke(event(fx.restored, { healthUrls: ['ftp://x/health'] }))).rejects.toThrow(
      /verify event is invalid: healthUrls\.0/,
    );
    expect(getSecret).not.toHaveBeenCalled();
  });

  it('fails clearly on missing environment, a bad secret, a missing scratch database or an unknown sslmode', async () => {
    const noRepo = createHandler({ getSecret: async () => '{}', env: { [VerifyEnv.secretArn]: SECRET_ARN } });
    await expect(noRepo(event(fx.restored))).rejects.toThrow(/environment variable DR_REPO is not set/);
    await expect(localHandler({}, { user: 'x' }).invoke(event(fx.restored))).rejects.toThrow(
      /secret .* lacks username/,
    );
    await expect(localHandler().invoke(event('dr_verify_no_such_db'))).rejects.toThrow(/does not exist/);
    await expect(localHandler({ [VerifyEnv.sslMode]: 'verify_full' }).invoke(event(fx.restored))).rejects.toThrow(
      /DR_DB_SSLMODE "verify_full" is not supported/,
    );
  });

  it('verify-full refuses a server without TLS; prefer (the default without a CA bundle) falls back to plain text', async () => {
    await expect(localHandler({ [VerifyEnv.sslMode]: 'verify-full' }).invoke(event(fx.restored))).rejects.toThrow(
      /does not support SSL/,
    );
    expect(sslModeOf(undefined, undefined)).toBe('prefer');
    expect(sslModeOf(undefined, '/var/runtime/ca-cert.pem')).toBe('verify-full');
    expect(sslModeOf('require', '/ca.pem')).toBe('require');
  });

  it('keeps failed checks and drops passing ones when the result is too big for a state', async () => {
    const result = await localHandler().invoke(event(fx.restored, { healthUrls: [health.failing] }));
    const fitted = fitPayload(result, 1000);
    expect(fitted.checks).toEqual(failed(result));
    expect(fitted.omittedPassedChecks).toBe(result.checks.length - 1);
    expect(fitted.totals).toEqual(result.totals);
    expect(fitPayload(result)).toBe(result);
  });

  it('the deployed handler is built at module load with its Secrets Manager client', () => {
    expect(typeof handler).toBe('function');
  });
});

describe('verify Lambda TLS against a server that only accepts TLS (mocked Secrets Manager GetSecretValue)', () => {
  let cluster: ThrowawayCluster;
  let dir: string;
  let manifest: Manifest;
  const empty = uniqueName('dr_verify_empty');
  const password = 'tls only';

  beforeAll(async () => {
    // The manifest of an empty database, to compare the TLS server's empty scratch database with.
    await createDatabase(empty);
    const repository = openRepository(fx.repoUrl);
    manifest = await readManifest(repository, empty, (await runBackup({ db: pgUrl(empty), repository, jobs: 1 })).id);

    dir = await mkdtemp(join(tmpdir(), 'dr-tls-'));
    const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
    await openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=dr test CA',
    );
    await openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'other.key',
      '-out',
      'other-ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=another CA',
    );
    await openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      '-subj',
      '/CN=127.0.0.1',
    );
    await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    await openssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.crt',
      '-days',
      '1',
      '-extfile',
      'san.ext',
    );

    cluster = await startThrowawayCluster(password);
    for (const f of ['server.crt', 'server.key']) {
      await copyFile(join(dir, f), join(cluster.dataDir, f));
      await run('chown', ['postgres:postgres', join(cluster.dataDir, f)]);
    }
    await chmod(join(cluster.dataDir, 'server.key'), 0o600);
    await writeFile(
      join(cluster.dataDir, 'pg_hba.conf'),
      'local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 127.0.0.1/32 reject\n',
    );
    const admin = new pg.Client({ connectionString: cluster.url('postgres', password) });
    await admin.connect();
    await admin.query(`ALTER SYSTEM SET ssl_cert_file = 'server.crt'`);
    await admin.query(`ALTER SYSTEM SET ssl_key_file = 'server.key'`);
    await admin.query(`ALTER SYSTEM SET ssl = on`);
    await admin.query('SELECT pg_reload_conf()');
    await admin.query('CREATE DATABASE scratch');
    await admin.end();
  });

  afterAll(async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    await dropDatabase(empty);
  });

  const tlsHandler = (env: Record<string, string>) =>
    createHandler({
      getSecret: async () =>
        JSON.stringify({ username: 'postgres', password, host: '127.0.0.1', port: cluster.port, engine: 'postgres' }),
      env: { [VerifyEnv.repo]: fx.repoUrl, [VerifyEnv.secretArn]: SECRET_ARN, ...env },
    });
  const tlsEvent = () => ({ database: manifest.database, backupId: manifest.id, targetDatabase: 'scratch' });

  it('with a CA bundle: verify-full connects over TLS and verifies', async () => {
    // The server rejects plain text (hostnossl reject), so a pass proves TLS was used.
    const result = await tlsHandler({ [VerifyEnv.caBundle]: join(dir, 'ca.pem') })(tlsEvent());
    expect(failed(result)).toEqual([]);
    expect(result.passed).toBe(true);
  });

  it('with a CA bundle that did not sign the server certificate: refuses to connect', async () => {
    await expect(tlsHandler({ [VerifyEnv.caBundle]: join(dir, 'other-ca.pem') })(tlsEvent())).rejects.toThrow(
      /self.signed|unable to verify|certificate/i,
    );
  });

  it('without a CA bundle (prefer): uses the TLS the server offers, unverified', async () => {
    expect((await tlsHandler({})(tlsEvent())).passed).toBe(true);
  });

  it('a missing CA bundle file is a clear error', async () => {
    await expect(tlsHandler({ [VerifyEnv.caBundle]: join(dir, 'nope.pem') })(tlsEvent())).rejects.toThrow(
      /cannot read the CA bundle .*nope\.pem/,
    );
  });
});
