/**
 * The CLI as shipped: one esbuild bundle (scripts/build-cli.mjs, run by `npm ci` as `prepare`)
 * that runs with plain node, no TypeScript loader: help, version, and a real backup and list.
 * Built into a temporary folder, so the working tree's dist/ is not touched while others run dr.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgUrl } from '../../fixtures/pg.ts';
import pkg from '../../package.json' with { type: 'json' };
import { runNode } from '../support/process.ts';
import { createTestBucket, s3Env } from '../support/s3.ts';

const ROOT = join(import.meta.dirname, '..', '..');
let out: string;
let repo: string;

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'dr-bundle-'));
  repo = await mkdtemp(join(tmpdir(), 'dr-bundle-repo-'));
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-cli.mjs'), out], { stdio: 'inherit' });
});

afterAll(async () => {
  await rm(out, { recursive: true, force: true });
  await rm(repo, { recursive: true, force: true });
});

describe('the bundled CLI', () => {
  it('carries no TypeScript loader and lists its sources for the launcher', async () => {
    const code = await readFile(join(out, 'dr.mjs'), 'utf8');
    expect(code).not.toMatch(/tsx\/esm|register\(\)/);
    const inputs = JSON.parse(await readFile(join(out, 'inputs.json'), 'utf8'));
    expect(inputs.inputs).toEqual(expect.arrayContaining(['bin/dr.ts', 'core/backup/backup.ts']));
  });

  it('runs with plain node, outside the repository: --help, --version, backup, list', async () => {
    const env = { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/root' };
    const help = await runNode([join(out, 'dr.mjs'), '--help'], env, tmpdir());
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^dr: backups, restores and drills/);
    const version = await runNode([join(out, 'dr.mjs'), '--version'], env, tmpdir());
    expect(version.stdout).toContain(`dr ${pkg.version}`);
    const backup = await runNode(
      [join(out, 'dr.mjs'), 'backup', '--db', pgUrl('postgres'), '--repo', `file://${repo}`, '-q', '--json'],
      env,
      tmpdir(),
    );
    expect(backup.code, backup.stderr).toBe(0);
    const list = await runNode([join(out, 'dr.mjs'), 'list', '--repo', `file://${repo}`, '--json'], env, tmpdir());
    expect(JSON.parse(list.stdout.trim().split('\n').pop()!).backups).toHaveLength(1);
  });

  it('backs up to and lists an s3:// repository (the AWS SDK loads from its lazy chunk)', async () => {
    const bucket = await createTestBucket('dr-bundle');
    const env = { PATH: process.env.PATH!, HOME: process.env.HOME ?? '/root', ...s3Env() };
    const backup = await runNode(
      [join(out, 'dr.mjs'), 'backup', '--db', pgUrl('postgres'), '--repo', `s3://${bucket}/b`, '-q', '--json'],
      env,
      tmpdir(),
    );
    expect(backup.code, backup.stderr).toBe(0);
    const list = await runNode([join(out, 'dr.mjs'), 'list', '--repo', `s3://${bucket}/b`, '--json'], env, tmpdir());
    expect(JSON.parse(list.stdout.trim().split('\n').pop()!).backups).toHaveLength(1);
  });

  it('installs on a host from one tarball with no dependencies: npm install -g of npm run pack:cli', async () => {
    const tgz = execFileSync(process.execPath, [join(ROOT, 'scripts', 'pack-cli.mjs')], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .pop()!;
    const prefix = await mkdtemp(join(tmpdir(), 'dr-bundle-prefix-'));
    try {
      execFileSync('npm', ['install', '-g', '--offline', '--prefix', prefix, tgz], { stdio: 'ignore' });
      const version = await runNode([join(prefix, 'bin', 'dr'), '--version'], { PATH: process.env.PATH! }, tmpdir());
      expect(version.stdout).toContain(`dr ${pkg.version}`);
      const installed = JSON.parse(
        await readFile(join(prefix, 'lib', 'node_modules', `${pkg.name}-cli`, 'package.json'), 'utf8'),
      );
      expect(installed.dependencies).toBeUndefined();
    } finally {
      await rm(prefix, { recursive: true, force: true });
    }
  });
});
