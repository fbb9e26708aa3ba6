/**
 * Progress on stderr: a bar on a terminal (a real pseudo-terminal, script(1)), one line per phase
 * otherwise; --quiet silences it, --json's stdout is unchanged.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describe as describeProgress } from '../../core/progress.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { runDr } from '../support/cli.ts';

const DR = join(import.meta.dirname, '..', '..', 'bin', 'dr.mjs');
const source = uniqueName('dr_prog_src');
const databases = [source];
let dir: string;
let repo: string;

beforeAll(async () => {
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  dir = await mkdtemp(join(tmpdir(), 'dr-prog-'));
  repo = `file://${dir}`;
});

afterAll(async () => {
  for (const db of databases) await dropDatabase(db);
  await rm(dir, { recursive: true, force: true });
});

describe('progress', () => {
  it('without a terminal: one line per phase; --quiet: none; --json stdout unchanged', async () => {
    const backup = await runDr(['backup', '--db', pgUrl(source), '--repo', repo, '--json', '-j', '2']);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stderr).toMatch(/^dr backup: pg_dump and upload$/m);
    expect(backup.stdout.trim().split('\n')).toHaveLength(1);
    expect(backup.json).toMatchObject({ ok: true, id: expect.any(String) });
    const target = uniqueName('dr_prog_tgt');
    databases.push(target);
    const restore = await runDr(['restore', '--repo', repo, '--target', pgUrl(target)]);
    expect(restore.stderr).toMatch(/^dr restore: verifying backup \S+ \(\d+(\.\d)? KiB, \d+ files\)$/m);
    expect(restore.stderr).toMatch(/^dr restore: pg_restore$/m);
    const check = await runDr(['check', '--repo', repo]);
    expect(check.stderr).toMatch(/^dr check: checking backup \S+ of \S+ \(\d+(\.\d)? KiB, \d+ files\)$/m);
    const quiet = await runDr(['check', '--repo', repo, '-q']);
    expect(quiet.stderr).toBe('');
  });

  it('on a terminal: a bar with bytes and files done of the total, rate and ETA', () => {
    const out = execFileSync('script', ['-qec', `${process.execPath} ${DR} check --repo ${repo}`, '/dev/null'], {
      encoding: 'utf8',
    });
    expect(out).toMatch(
      /dr check: \[=+\] checking backup \S+ of \S+: \d+(?:\.\d)? KiB of \d+(?:\.\d)? KiB, (\d+) of \1 files, \S+ \S+\/s, ETA 0 s/,
    );
  });

  it('formats a phase: done of total, files, rate, ETA', () => {
    const state = {
      name: 'upload',
      totals: { bytes: 100 * 1024 * 1024, files: 10 },
      bytes: 25 * 1024 * 1024,
      files: 2,
      started: 0,
    };
    expect(describeProgress(state, 5000)).toBe('upload: 25.0 MiB of 100.0 MiB, 2 of 10 files, 5.0 MiB/s, ETA 15 s');
    expect(describeProgress({ name: 'pg_restore', totals: {}, bytes: 0, files: 0, started: 0 }, 125_000)).toBe(
      'pg_restore: 2 min elapsed',
    );
  });
});
