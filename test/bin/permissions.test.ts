/**
 * Permissions are not damage: a backup file the user may not read (a real permission denied: dr run
 * as the postgres OS user, one file mode 600 root) stops check and restore at once with "cannot
 * read … (permission denied)", instead of reporting the file missing, the backup DAMAGED, and
 * falling back to every older backup in turn. Needs root (to run dr as another user).
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../core/backup.ts';
import { FileRepository } from '../../core/repository/index.ts';
import { createSampleDatabase } from '../../core/sample-database.ts';
import { expectOneLineError, type DrRun } from '../support/cli.ts';
import { createDatabase, databaseExists, dropDatabase, pgUrl, uniqueName } from '../support/pg.ts';

const DR = join(import.meta.dirname, '..', '..', 'bin', 'dr.mjs');
const source = uniqueName('dr_perm_src');
const databases: string[] = [source];
let dir: string;
let newest: string;

/** dr as the postgres OS user. */
function runDrAs(user: string, args: string[]): Promise<DrRun> {
  return new Promise((resolve) => {
    const child = spawn('runuser', ['-u', user, '--', process.execPath, DR, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr, json: {} }));
  });
}

beforeAll(async () => {
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  dir = await mkdtemp(join(tmpdir(), 'dr-perm-'));
  const repo = new FileRepository(dir);
  await runBackup({ db: pgUrl(source), repository: repo, jobs: 2 });
  newest = (await runBackup({ db: pgUrl(source), repository: repo, jobs: 2 })).id;
  // Readable by everyone, except one data file of the newest backup.
  const walk = async (d: string): Promise<void> => {
    await chmod(d, 0o755);
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else await chmod(join(d, e.name), 0o644);
    }
  };
  await walk(dir);
  await chmod(join(dir, 'backups', source, newest, 'data', 'toc.dat'), 0o600);
});

afterAll(async () => {
  for (const db of databases) await dropDatabase(db);
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(process.getuid?.() !== 0)('a file the user may not read', () => {
  it('check: one line, exit 1, no DAMAGED verdict', async () => {
    const run = await runDrAs('postgres', ['check', '--repo', `file://${dir}`]);
    expectOneLineError(run, /cannot read backups\/\S+\/data\/toc\.dat in file:\/\/\S+ \(permission denied\); run as a user that may read/, 1);
    expect(run.stdout).not.toMatch(/DAMAGED/);
  });

  it('restore --backup latest stops at once instead of falling back', async () => {
    const target = uniqueName('dr_perm_tgt');
    databases.push(target);
    const run = await runDrAs('postgres', ['restore', '--repo', `file://${dir}`, '--target', pgUrl(target)]);
    expectOneLineError(run, /cannot read data\/toc\.dat of backup \S+ \(permission denied: \S+toc\.dat\); run as a user that may read/, 1);
    expect(run.stderr).not.toMatch(/FALLBACK|falling back/);
    expect(await databaseExists(target)).toBe(false);
  });
});
