/** The job entry's point-in-time restore: --at from DR_ARGS, --pitr/--stanza only from the task definition. */
import { describe, expect, it } from 'vitest';
import { JobEnv, secretEnvVarFor } from '../../core/contract.ts';
import { DrError } from '../../core/errors.ts';
import { jobInvocation } from '../../job/entry.ts';

const secretVar = secretEnvVarFor('crypto_stock');
const task = {
  [JobEnv.repo]: 's3://vault-bucket/',
  [JobEnv.kmsKeyId]: 'arn:aws:kms:eu-west-1:111122223333:key/abc',
  [JobEnv.jobs]: '2',
  [JobEnv.pitrRepo]: 's3://pitr-bucket/pitr',
  [JobEnv.pitrStanza]: 'crypto_stock',
  [JobEnv.command]: 'restore',
  [JobEnv.database]: 'crypto_stock',
  [JobEnv.targetDatabase]: 'crypto_stock_at_1430',
  [JobEnv.dbHost]: 'db.internal',
  [JobEnv.secretEnv]: secretVar,
  [secretVar]: JSON.stringify({ username: 'restorer', password: 'secret' }),
};

describe('jobInvocation for a point-in-time restore', () => {
  it("runs dr restore --at with the task definition's pgBackRest repository and stanza instead of --repo", () => {
    const { argv } = jobInvocation({
      ...task,
      [JobEnv.args]: JSON.stringify(['--at', '2026-01-15T14:30:00Z', '--tables', 'candles']),
    });
    expect(argv).toEqual([
      'restore',
      '--database',
      'crypto_stock',
      '--target',
      'postgres://restorer@db.internal:5432/crypto_stock_at_1430',
      '--pitr',
      's3://pitr-bucket/pitr',
      '--stanza',
      'crypto_stock',
      '--json',
      '--jobs',
      '2',
      '--at',
      '2026-01-15T14:30:00Z',
      '--tables',
      'candles',
    ]);
    expect(argv).not.toContain('--repo');
    expect(argv).not.toContain('--kms-key-id');
  });

  it('never takes the repository or stanza from DR_ARGS', () => {
    for (const flag of ['--pitr', '--stanza']) {
      const err = (() => {
        try {
          jobInvocation({ ...task, [JobEnv.args]: JSON.stringify(['--at', '2026-01-15T14:30:00Z', flag, 'x']) });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(DrError);
      expect((err as DrError).message).toBe(`flag ${flag} is not allowed for the job's restore command`);
    }
  });

  it('says how to fix a stack without a PITR repository', () => {
    const { [JobEnv.pitrRepo]: _, ...withoutPitr } = task;
    expect(() =>
      jobInvocation({ ...withoutPitr, [JobEnv.args]: JSON.stringify(['--at', '2026-01-15T14:30:00Z']) }),
    ).toThrow(
      `job setting ${JobEnv.pitrRepo} is not set, so this stack has no pgBackRest repository for a point-in-time restore`,
    );
  });

  it('leaves logical restores as they were', () => {
    const { argv } = jobInvocation({ ...task, [JobEnv.args]: JSON.stringify(['--backup', 'latest']) });
    expect(argv).toContain('--repo');
    expect(argv).not.toContain('--pitr');
  });
});
