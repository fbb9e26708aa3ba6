/**
 * dr doctor: the config, Docker and reachability checks run for real (this machine has no Docker
 * engine; the PostgreSQL server is real); only the AWS control-plane calls (CloudFormation
 * DescribeStacks, Secrets Manager GetSecretValue) are mocked.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AWS_DEPS, type DoctorDeps, runDoctor } from '../../bin/commands/doctor.ts';
import { PG_HOST, PG_PORT } from '../../fixtures/pg.ts';

const dir = mkdtempSync(join(tmpdir(), 'dr-doctor-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configFile(name: string, config: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

const deployable = {
  databases: [{ name: 'crypto_stock', host: PG_HOST, port: PG_PORT, secret: 'crypto-stock/db' }],
  drill: { scratchServer: { host: '192.0.2.1', port: 5432, secret: 'crypto-stock/staging-db' } },
  alertEmail: 'oncall@corp.test',
  offsite: { account: '210987654321', region: 'us-west-2' },
};

/** Mocked control plane: bootstrap stacks and secrets by region/id. */
function mockedAws(bootstrapped: Record<string, string | undefined>, secrets: Record<string, string>): DoctorDeps {
  return {
    ...AWS_DEPS,
    async bootstrapStatus(region) {
      return bootstrapped[region];
    },
    async secretString(_region, id) {
      if (!(id in secrets)) throw new Error(`Secrets Manager can't find the specified secret.`);
      return secrets[id];
    },
    // 192.0.2.1 (TEST-NET) never answers: keep the test quick.
    reach: (host, port, timeoutMs) => AWS_DEPS.reach(host, port, host === '192.0.2.1' ? 200 : timeoutMs),
  };
}

describe('dr doctor (real Docker, config and TCP checks; mocked CloudFormation DescribeStacks and Secrets Manager GetSecretValue)', () => {
  it('reports each problem with its fix: missing bootstrap, unreadable or incomplete secrets, Docker missing; the database that answers is ok', async () => {
    const deps = mockedAws(
      { 'us-east-1': 'UPDATE_COMPLETE' },
      { 'crypto-stock/db': JSON.stringify({ username: 'dr', password: '' }) },
    );
    const result = await runDoctor(configFile('real.json', deployable), 'us-east-1', deps);
    const byName = Object.fromEntries(result.checks.map((c) => [c.name, c]));
    expect(result.passed).toBe(false);
    expect(byName.config).toMatchObject({ status: 'ok' });
    expect(byName['bootstrap us-east-1']).toMatchObject({ status: 'ok' });
    expect(byName['bootstrap us-west-2']).toMatchObject({
      status: 'fail',
      message: expect.stringContaining('run npx cdk bootstrap aws://210987654321/us-west-2 --trust <primary account>'),
    });
    expect(byName['secret crypto-stock/db']).toMatchObject({
      status: 'fail',
      message: expect.stringContaining('lacks password'),
    });
    expect(byName['secret crypto-stock/staging-db']).toMatchObject({
      status: 'fail',
      message: expect.stringContaining(
        "cannot read the secret of the drill scratch server in us-east-1: Secrets Manager can't find the specified secret.",
      ),
    });
    // No Docker engine on this machine: a clear message, not a stack trace.
    expect(byName.docker!.status).toBe('fail');
    expect(byName.docker!.message).toMatch(/^Docker is (not installed|installed but its engine is not running)/);
    expect(byName[`reach ${PG_HOST}:${PG_PORT}`]).toMatchObject({ status: 'ok' });
    expect(byName['reach 192.0.2.1:5432']).toMatchObject({
      status: 'warn',
      message: expect.stringContaining('fine if it is reachable only inside the VPC'),
    });
  });

  it('refuses the example config, listing its placeholders, and a config that does not parse', async () => {
    const deps = mockedAws({}, {});
    const example = await runDoctor(configFile('example.json', { example: true }), 'us-east-1', deps);
    expect(example.checks.find((c) => c.name === 'config')).toMatchObject({
      status: 'fail',
      message: expect.stringMatching(
        /is marked "example": true and cannot be deployed; remove "example" and set: databases\[0\]\.host \("db\.internal\.example"\); drill\.scratchServer \(missing/,
      ),
    });
    const broken = await runDoctor(configFile('broken.json', { databases: [] }), 'us-east-1', deps);
    expect(broken.checks.find((c) => c.name === 'config')).toMatchObject({
      status: 'fail',
      message: expect.stringContaining('databases: list at least one database'),
    });
    const noRegion = await runDoctor(configFile('real2.json', deployable), undefined, deps);
    expect(noRegion.checks.at(-1)).toMatchObject({
      name: 'aws',
      status: 'fail',
      message: expect.stringContaining('pass --region or set AWS_REGION'),
    });
  });
});
