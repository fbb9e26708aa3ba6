import { describe, expect, it } from 'vitest';
import { JobEnv, JobExit, secretEnvVarFor } from '../../core/contract.ts';
import { DrError } from '../../core/errors.ts';
import { jobExitCode, jobInvocation } from '../../job/entry.ts';

const secretVar = secretEnvVarFor('crypto_stock');
const base = {
  [JobEnv.repo]: 's3://vault-bucket/',
  [JobEnv.database]: 'crypto_stock',
  [JobEnv.dbHost]: 'db.internal',
  [JobEnv.dbPort]: '5433',
  [JobEnv.secretEnv]: secretVar,
  [secretVar]: JSON.stringify({ username: 'backup', password: 'p@ss:w/rd', host: 'ignored.example' }),
  [JobEnv.kmsKeyId]: 'arn:aws:kms:eu-west-1:111122223333:key/abc',
  [JobEnv.jobs]: '2',
};

describe('jobInvocation (the container overrides → the dr command line)', () => {
  it('runs dr backup with the database URL, repository and key; the password goes to PGPASSWORD only', () => {
    const { argv, pgEnv } = jobInvocation({ ...base, [JobEnv.tier]: 'monthly' });
    expect(argv).toEqual([
      'backup',
      '--db',
      'postgres://backup@db.internal:5433/crypto_stock',
      '--repo',
      's3://vault-bucket/',
      '--json',
      '--jobs',
      '2',
      '--kms-key-id',
      'arn:aws:kms:eu-west-1:111122223333:key/abc',
      '--tier',
      'monthly',
    ]);
    expect(argv.join(' ')).not.toContain('p@ss');
    expect(pgEnv).toMatchObject({
      PGUSER: 'backup',
      PGPASSWORD: 'p@ss:w/rd',
      PGHOST: 'db.internal',
      PGPORT: '5433',
      PGSSLMODE: 'prefer',
    });
  });

  it("passes the task definition's Object Lock mode to backups only (restores never write)", () => {
    expect(jobInvocation({ ...base, [JobEnv.objectLock]: 'governance' }).argv.slice(-2)).toEqual([
      '--object-lock',
      'governance',
    ]);
    expect(
      jobInvocation({ ...base, [JobEnv.objectLock]: 'governance', [JobEnv.command]: 'restore' }).argv,
    ).not.toContain('--object-lock');
    expect(jobInvocation(base).argv).not.toContain('--object-lock');
  });

  it('sets PGSSLROOTCERT only when a CA bundle is configured (libpq would turn require into verify-ca)', () => {
    expect(
      jobInvocation({ ...base, [JobEnv.sslRootCert]: '/opt/dr/rds-global-bundle.pem', [JobEnv.sslMode]: 'verify-full' })
        .pgEnv,
    ).toMatchObject({ PGSSLROOTCERT: '/opt/dr/rds-global-bundle.pem', PGSSLMODE: 'verify-full' });
    expect(jobInvocation(base).pgEnv.PGSSLROOTCERT).toBeUndefined();
  });

  it('lets the job choose the tier by date when the workflow passes an empty tier', () => {
    expect(jobInvocation({ ...base, [JobEnv.tier]: '' }).argv).not.toContain('--tier');
  });

  it('takes host and port from the secret when the overrides carry none', () => {
    const { argv } = jobInvocation({ ...base, [JobEnv.dbHost]: undefined, [JobEnv.dbPort]: undefined });
    expect(argv[2]).toBe('postgres://backup@ignored.example:5432/crypto_stock');
  });

  it('names what is missing or malformed', () => {
    expect(() => jobInvocation({ ...base, [JobEnv.database]: undefined })).toThrow(
      `job setting ${JobEnv.database} is not set`,
    );
    expect(() => jobInvocation({ ...base, [secretVar]: undefined })).toThrow(`job setting ${secretVar} is not set`);
    const bad = (() => {
      try {
        jobInvocation({ ...base, [secretVar]: '{"user":"x"}' });
      } catch (e) {
        return e;
      }
    })();
    expect(bad).toBeInstanceOf(DrError);
    expect((bad as DrError).oneLine()).toBe(
      `the secret in ${secretVar} is not JSON with "username" and "password"; store the database secret in the RDS format {"username":…,"password":…}`,
    );
    expect(() => jobInvocation({ ...base, [JobEnv.command]: 'format-disk' })).toThrow(
      'unknown job command "format-disk"',
    );
  });

  it('runs dr restore into the target database (the source database names the repository folder; a restore writes no backups, so no key)', () => {
    const { argv } = jobInvocation({
      ...base,
      [JobEnv.command]: 'restore',
      [JobEnv.targetDatabase]: 'crypto_stock_restored',
      [JobEnv.args]: JSON.stringify(['--backup', 'latest', '--tables', 'candles', '--since', '2026-01-10T00:00:00Z']),
    });
    expect(argv).toEqual([
      'restore',
      '--database',
      'crypto_stock',
      '--target',
      'postgres://backup@db.internal:5433/crypto_stock_restored',
      '--repo',
      's3://vault-bucket/',
      '--json',
      '--jobs',
      '2',
      '--backup',
      'latest',
      '--tables',
      'candles',
      '--since',
      '2026-01-10T00:00:00Z',
    ]);
    expect(jobInvocation({ ...base, [JobEnv.command]: 'restore' }).argv.slice(0, 5)).toEqual([
      'restore',
      '--database',
      'crypto_stock',
      '--target',
      'postgres://backup@db.internal:5433/crypto_stock',
    ]);
  });

  it('refuses DR_ARGS flags the command does not allow, so an input cannot redirect the job', () => {
    const restore = { ...base, [JobEnv.command]: 'restore' };
    expect(() => jobInvocation({ ...restore, [JobEnv.args]: JSON.stringify(['--repo', 's3://elsewhere/']) })).toThrow(
      "flag --repo is not allowed for the job's restore command",
    );
    expect(() => jobInvocation({ ...restore, [JobEnv.args]: JSON.stringify(['--target=postgres://evil/x']) })).toThrow(
      'flag --target is not allowed',
    );
    expect(() => jobInvocation({ ...restore, [JobEnv.args]: '{"tables":"candles"}' })).toThrow(
      `job setting ${JobEnv.args} is not a JSON array of strings`,
    );
  });
});

describe('jobExitCode (what the state machine sees)', () => {
  it("a suspect backup exits JobExit.backupSuspect; everything else keeps dr's exit code", () => {
    expect(
      jobExitCode('backup', 0, { ok: true, suspect: { previous: 'x', reasons: ['1 table gone (public.alerts)'] } }),
    ).toBe(JobExit.backupSuspect);
    expect(jobExitCode('backup', 0, { ok: true, suspect: null })).toBe(0);
    expect(
      jobExitCode('backup', JobExit.lockTimeout, { ok: false, error: 'pg_dump waited 5 min for a lock on candles' }),
    ).toBe(JobExit.lockTimeout);
    expect(jobExitCode('restore', 0, { ok: true, suspect: { previous: 'x', reasons: [] } })).toBe(0);
    expect(jobExitCode('backup', 1, null)).toBe(1);
  });
});
