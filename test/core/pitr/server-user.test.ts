/**
 * runAsServerUser runs pgBackRest and the server binaries (as the postgres OS user when dr is
 * root) with S3 keys in their environment: the keys must reach the program but never appear in
 * any process's command line, which every local user can read (ps).
 */
import { describe, expect, it } from 'vitest';
import { runAsServerUser } from '../../../core/pitr/pgbackrest.ts';

describe('runAsServerUser', () => {
  it('passes variables in the environment only: the program sees them, no command line (ps) shows them', async () => {
    const secret = `dr-test-secret-${process.pid}-${Date.now()}`;
    const result = await runAsServerUser('sh', ['-c', 'echo "seen=$DR_TEST_SECRET"; ps -eo args'], {
      DR_TEST_SECRET: secret,
    });
    expect(result.code, result.stderr).toBe(0);
    const [first, ...processes] = result.stdout.split('\n');
    expect(first).toBe(`seen=${secret}`);
    expect(processes.filter((line) => line.includes(secret))).toEqual([]);
  });
});
