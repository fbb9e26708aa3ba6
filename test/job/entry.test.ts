import { describe, expect, it } from 'vitest';
import { JobEnv, secretEnvVarFor } from '../../core/contract.ts';
import { DrError } from '../../core/errors.ts';
import { jobInvocation } from '../../job/entry.ts';

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
      'backup', '--db', 'postgres://backup@db.internal:5433/crypto_stock',
      '--repo', 's3://vault-bucket/', '--json',
      '--kms-key-id', 'arn:aws:kms:eu-west-1:111122223333:key/abc', '--jobs', '2', '--tier', 'monthly',
    ]);
    expect(argv.join(' ')).not.toContain('p@ss');
    expect(pgEnv).toMatchObject({ PGUSER: 'backup', PGPASSWORD: 'p@ss:w/rd', PGHOST: 'db.internal', PGPORT: '5433', PGSSLMODE: 'prefer' });
  });

  it('lets the job choose the tier by date when the workflow passes an empty tier', () => {
    expect(jobInvocation({ ...base, [JobEnv.tier]: '' }).argv).not.toContain('--tier');
  });

  it('takes host and port from the secret when the overrides carry none', () => {
    const { argv } = jobInvocation({ ...base, [JobEnv.dbHost]: undefined, [JobEnv.dbPort]: undefined });
    expect(argv[2]).toBe('postgres://backup@ignored.example:5432/crypto_stock');
  });

  it('names what is missing or malformed', () => {
    expect(() => jobInvocation({ ...base, [JobEnv.database]: undefined })).toThrow(`job setting ${JobEnv.database} is not set`);
    expect(() => jobInvocation({ ...base, [secretVar]: undefined })).toThrow(`job setting ${secretVar} is not set`);
    const bad = (() => { try { jobInvocation({ ...base, [secretVar]: '{"user":"x"}' }); } catch (e) { return e; } })();
    expect(bad).toBeInstanceOf(DrError);
    expect((bad as DrError).oneLine()).toBe(`the secret in ${secretVar} is not JSON with "username" and "password"; store the database secret in the RDS format {"username":…,"password":…}`);
    expect(() => jobInvocation({ ...base, [JobEnv.command]: 'format-disk' })).toThrow('unknown job command "format-disk"');
  });
});
