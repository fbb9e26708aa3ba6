/**
 * job/Dockerfile cannot be built here (no Docker engine), so its parts are checked one by one:
 * the exact esbuild command of the build stage runs, and the bundle starts as the ENTRYPOINT would.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { JobEnv } from '../../core/contract.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dockerfile = readFileSync(join(REPO_ROOT, 'job/Dockerfile'), 'utf8');
/** Instructions with line continuations joined. */
const instructions = dockerfile.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

describe('job/Dockerfile', () => {
  const out = mkdtempSync(join(tmpdir(), 'dr-job-bundle-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('bundles job/entry.ts with the build stage\'s own esbuild command, and the bundle runs', () => {
    const run = instructions.find((l) => l.startsWith('RUN npx esbuild'));
    expect(run).toBeDefined();
    expect(run).toContain('--bundle --platform=node --format=esm --target=node20');
    const command = run!.slice('RUN '.length).replace('/app/dist/dr-job.mjs', join(out, 'dr-job.mjs'));
    execFileSync('sh', ['-c', command], { cwd: REPO_ROOT, stdio: 'pipe' });

    // As ENTRYPOINT ["node", "dist/dr-job.mjs"] with no overrides: a clear usage error, exit 2.
    const result = spawnSync(process.execPath, [join(out, 'dr-job.mjs')], { env: { PATH: process.env.PATH }, encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`job setting ${JobEnv.database} is not set`);
  });

  it('installs the PGDG client for ARG PG_MAJOR (default 15) and runs as a non-root user', () => {
    expect(instructions).toContain('ARG PG_MAJOR=15');
    expect(dockerfile).toContain('apt.postgresql.org/pub/repos/apt bookworm-pgdg main');
    expect(dockerfile).toContain('"postgresql-client-${PG_MAJOR}"');
    const froms = instructions.filter((l) => l.startsWith('FROM '));
    expect(froms).toEqual(['FROM node:20-bookworm-slim AS build', 'FROM node:20-bookworm-slim']);
    expect(instructions.filter((l) => l.startsWith('USER ')).at(-1)).toBe('USER node');
    expect(instructions.at(-1)).toBe('ENTRYPOINT ["node", "dist/dr-job.mjs"]');
  });
});
