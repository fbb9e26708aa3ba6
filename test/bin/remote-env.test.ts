/** dr remote without a region or credentials says that, not "deploy it" (no AWS call can succeed, so nothing is mocked). */
import { describe, it } from 'vitest';
import { expectOneLineError, runDr } from '../support/cli.ts';

const bare = {
  AWS_CONFIG_FILE: '/nonexistent',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_REGION: '',
  AWS_DEFAULT_REGION: '',
  AWS_PROFILE: '',
};

describe('dr remote in a bare environment', () => {
  it('no region: says so', async () => {
    const run = await runDr(['remote', 'restore', '--database', 'd', '--target-database', 't'], {
      ...bare,
      AWS_ACCESS_KEY_ID: 'x',
      AWS_SECRET_ACCESS_KEY: 'y',
    });
    expectOneLineError(run, /no AWS region configured; set AWS_REGION/, 1);
  });

  it('no credentials: says so', async () => {
    const run = await runDr(['remote', 'restore', '--database', 'd', '--target-database', 't'], {
      ...bare,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
    });
    expectOneLineError(run, /no AWS credentials found; configure credentials/, 1);
  });
});
