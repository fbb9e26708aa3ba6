/**
 * Retention and freshness outside AWS: dr prune applies the tiers to a file:// repository (dry run
 * first), never removes the newest backup that passes check nor a locked object (a real immutable
 * file, chattr +i), removes interrupted backups older than a day; dr check --max-age fails a stale
 * repository; dr list shows ages; a repository directory that does not exist is an error.
 */
import { execFileSync } from 'node:child_process';
import { appendFile, cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../core/backup/backup.ts';
import { FileRepository } from '../../core/repository/index.ts';
import { isBackupId, newBackupId } from '../../core/repository/layout.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { expectOneLineError, runDr } from '../support/cli.ts';

const source = uniqueName('dr_prune_src');
const DAY = 86_400_000;
let seed: string;
let seedId: string;
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dr-prune-'));
  dirs.push(dir);
  return dir;
}

/** A copy of the seed backup started `ageMs` ago with `tier`; without a manifest when `interrupted`. */
async function backupAged(repoDir: string, ageMs: number, tier: string, interrupted = false): Promise<string> {
  const id = newBackupId(new Date(Date.now() - ageMs));
  const from = join(seed, 'backups', source);
  const to = join(repoDir, 'backups', source);
  await cp(join(from, seedId), join(to, id), { recursive: true });
  if (!interrupted) {
    const manifest = JSON.parse(await readFile(join(from, `${seedId}.manifest.json`), 'utf8'));
    Object.assign(manifest, {
      id,
      tier,
      startedAt: new Date(Date.now() - ageMs).toISOString(),
      finishedAt: new Date(Date.now() - ageMs + 1000).toISOString(),
    });
    await writeFile(join(to, `${id}.manifest.json`), JSON.stringify(manifest));
  }
  return id;
}

const idsIn = async (repoDir: string) =>
  (await readdir(join(repoDir, 'backups', source)).catch(() => []))
    .map((n) => n.replace('.manifest.json', ''))
    .filter(isBackupId);

beforeAll(async () => {
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  seed = await tempDir();
  seedId = (await runBackup({ db: pgUrl(source), repository: new FileRepository(seed), jobs: 2 })).id;
});

afterAll(async () => {
  await dropDatabase(source);
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('dr prune', () => {
  it('removes what is past its tier (dry run first) and interrupted backups older than a day, keeping the rest', async () => {
    const dir = await tempDir();
    const repo = `file://${dir}`;
    const keep = [
      await backupAged(dir, 1 * DAY, 'daily'),
      await backupAged(dir, 20 * DAY, 'weekly'),
      await backupAged(dir, 100 * DAY, 'monthly'),
    ];
    const fresh = await backupAged(dir, 3_600_000, 'daily', true);
    const go = [
      await backupAged(dir, 10 * DAY, 'daily'),
      await backupAged(dir, 40 * DAY, 'weekly'),
      await backupAged(dir, 200 * DAY, 'monthly'),
      await backupAged(dir, 3 * DAY, 'daily', true),
    ];
    const before = await idsIn(dir);

    const dry = await runDr(['prune', '--repo', repo, '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect((dry.json.removed as { id: string }[]).map((b) => b.id).sort()).toEqual([...go].sort());
    expect(dry.json).toMatchObject({ dryRun: true, retained: 3, kept: [], failures: [] });
    expect(await idsIn(dir)).toEqual(before);
    const words = await runDr(['prune', '--repo', repo, '--dry-run']);
    expect(words.stdout).toMatch(/^would remove \S+\/\S+ {2}interrupted \(no manifest\), 3 days old/m);
    expect(words.stdout).toMatch(
      /^4 backups to remove, 0 kept past retention, 3 within retention \(dry run: nothing removed\)$/m,
    );

    const run = await runDr(['prune', '--repo', repo, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(new Set(await idsIn(dir))).toEqual(new Set([...keep, fresh]));
    const list = await runDr(['list', '--repo', repo, '--json']);
    expect((list.json.backups as { id: string }[]).map((b) => b.id).sort()).toEqual([...keep].sort());
    // Nothing of the removed backups is left behind.
    for (const id of go)
      expect((await readdir(join(dir, 'backups', source))).some((n) => n.startsWith(id))).toBe(false);
  });

  it('never removes the newest backup that passes check, even past its retention', async () => {
    const dir = await tempDir();
    const older = await backupAged(dir, 12 * DAY, 'daily');
    const newest = await backupAged(dir, 10 * DAY, 'daily');
    const run = await runDr(['prune', '--repo', `file://${dir}`, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.kept).toEqual([{ database: source, id: newest, reason: 'the newest backup that passes check' }]);
    // Its folder and its manifest, nothing of the older one.
    expect(await idsIn(dir)).toEqual([newest, newest]);
    expect(run.json.removed).toEqual([expect.objectContaining({ id: older })]);
  }, 60_000);

  it('keeps an older intact backup when the newest is damaged', async () => {
    const dir = await tempDir();
    const intact = await backupAged(dir, 12 * DAY, 'daily');
    const damaged = await backupAged(dir, 10 * DAY, 'daily');
    await appendFile(join(dir, 'backups', source, damaged, 'data', 'toc.dat'), 'x');
    const run = await runDr(['prune', '--repo', `file://${dir}`, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.kept).toEqual([{ database: source, id: intact, reason: 'the newest backup that passes check' }]);
    expect((run.json.removed as { id: string }[]).map((b) => b.id)).toEqual([damaged]);
  });

  it('never removes a locked object: an immutable manifest keeps its backup, and says which and why', async () => {
    const dir = await tempDir();
    await backupAged(dir, 1 * DAY, 'daily');
    const locked = await backupAged(dir, 10 * DAY, 'daily');
    const manifest = join(dir, 'backups', source, `${locked}.manifest.json`);
    execFileSync('chattr', ['+i', manifest]);
    try {
      const run = await runDr(['prune', '--repo', `file://${dir}`]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(
        new RegExp(`^kept {4}${source}/${locked}: cannot remove .*manifest\\.json .*EPERM.*immutable`, 'm'),
      );
      expect(await idsIn(dir)).toContain(locked);
      expect((await readdir(join(dir, 'backups', source, locked))).length).toBeGreaterThan(0);
    } finally {
      execFileSync('chattr', ['-i', manifest]);
    }
  });
});

describe('dr check --max-age and dr list ages', () => {
  it('passes a fresh repository, fails a stale one (exit 1), and refuses a bad duration (exit 2)', async () => {
    const dir = await tempDir();
    const id = await backupAged(dir, 30 * 3_600_000, 'daily');
    const repo = `file://${dir}`;
    const fresh = await runDr(['check', '--repo', repo, '--max-age', '2d', '--json']);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.json).toMatchObject({ passed: true, stale: [] });
    const stale = await runDr(['check', '--repo', repo, '--max-age', '26h']);
    expect(stale.code).toBe(1);
    expect(stale.stdout).toMatch(
      new RegExp(`^STALE {4}${source} {2}newest complete backup ${id} is 30h old, older than --max-age 26h`, 'm'),
    );
    const json = await runDr(['check', '--repo', repo, '--max-age', '26h', '--json']);
    expect(json.json).toMatchObject({ passed: false, stale: [{ database: source, id, maxAgeSeconds: 93_600 }] });
    expectOneLineError(
      await runDr(['check', '--repo', repo, '--max-age', 'soon']),
      /--max-age must be a duration like 26h/,
      2,
    );

    const list = await runDr(['list', '--repo', repo]);
    expect(list.stdout).toMatch(/^ID\s+DATABASE\s+TIER\s+STARTED\s+AGE\s+SIZE/m);
    expect(list.stdout).toMatch(new RegExp(`^${id}\\s+${source}\\s+daily\\s+\\S+\\s+30h\\s`, 'm'));
  });

  it('a repository directory that does not exist is an error, not "no complete backups"', async () => {
    const missing = `file://${join(tmpdir(), 'dr-no-such-repo-x9')}`;
    for (const args of [['list'], ['check'], ['prune'], ['restore', '--target', pgUrl('dr_never_created_x9')]]) {
      expectOneLineError(
        await runDr([...args, '--repo', missing]),
        /repository directory .*dr-no-such-repo-x9 does not exist; check --repo/,
        1,
      );
    }
  });
});

describe('backup ids', () => {
  it('sort by start time within one second', () => {
    for (let i = 0; i < 50; i++) {
      const earlier = newBackupId(new Date('2026-01-15T02:00:00.120Z'));
      const later = newBackupId(new Date('2026-01-15T02:00:00.730Z'));
      expect(isBackupId(earlier) && isBackupId(later)).toBe(true);
      expect(earlier < later).toBe(true);
    }
  });
});
