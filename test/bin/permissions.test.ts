/**
 * Permissions are not damage: a backup file the user may not read (a real permission denied: dr run
 * as the postgres OS user, one file mode 600 root) stops check and restore at once with "cannot
 * read … (permission denied)", instead of reporting the file missing, the backup DAMAGED, and
 * falling back to every older backup in turn. Needs root (to run dr as another user).
 *
 * The other user runs the bundled CLI and a Node binary from a world-readable temporary folder:
 * the checkout and a cached Node may sit under /root (mode 700), which that user may not enter.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmod, copyFile, link, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../core/backup/backup.ts';
import { FileRepository } from '../../core/repository/index.ts';
import { createDatabase, databaseExists, dropDatabase, pgUrl, uniqueName } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { type DrRun, expectOneLineError } from '../support/cli.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const source = uniqueName('dr_perm_src');
const databases: string[] = [source];
let dir: string;
let cli: string;
let newest: string;

/** The bundled CLI and this Node, in a folder every user may enter and run from. */
async function installWorldReadableCli(): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'dr-perm-cli-'));
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-cli.mjs'), out], { stdio: 'inherit' });
  // A hard link shares the binary's inode without its /root path; across file systems, a copy.
  await link(process.execPath, join(out, 'node')).catch(() => copyFile(process.execPath, join(out, 'node')));
  await chmodTree(out, 0o755, 0o755);
  return out;
}

async function chmodTree(d: string, dirMode: number, fileMode: number): Promise<void> {
  await chmod(d, dirMode);
  for (const e of await readdir(d, { withFileTypes: true })) {
    if (e.isDirectory()) await chmodTree(join(d, e.name), dirMode, fileMode);
    else await chmod(join(d, e.name), fileMode);
  }
}

/** dr as the postgres OS user. */
function runDrAs(user: string, args: string[]): Promise<DrRun> {
  return new Promise((resolve) => {
    const child = spawn('runuser', ['-u', user, '--', join(cli, 'node'), join(cli, 'dr.mjs'), ...args], {
      cwd: tmpdir(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
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
  cli = await installWorldReadableCli();
  // Readable by everyone, except one data file of the newest backup.
  await chmodTree(dir, 0o755, 0o644);
  await chmod(join(dir, 'backups', source, newest, 'data', 'toc.dat'), 0o600);
});

afterAll(async () => {
  for (const db of databases) await dropDatabase(db);
  await rm(dir, { recursive: true, force: true });
  if (cli) await rm(cli, { recursive: true, force: true });
});

describe.skipIf(process.getuid?.() !== 0)('a file the user may not read', () => {
  it('check: one line, exit 1, no DAMAGED verdict', async () => {
    const run = await runDrAs('postgres', ['check', '--repo', `file://${dir}`]);
    expectOneLineError(
      run,
      /cannot read backups\/\S+\/data\/toc\.dat in file:\/\/\S+ \(permission denied\); run as a user that may read/,
      1,
    );
    expect(run.stdout).not.toMatch(/DAMAGED/);
  });

  it('restore --backup latest stops at once instead of falling back', async () => {
    const target = uniqueName('dr_perm_tgt');
    databases.push(target);
    const run = await runDrAs('postgres', ['restore', '--repo', `file://${dir}`, '--target', pgUrl(target)]);
    expectOneLineError(
      run,
      /cannot read data\/toc\.dat of backup \S+ \(permission denied: \S+toc\.dat\); run as a user that may read/,
      1,
    );
    expect(run.stderr).not.toMatch(/FALLBACK|falling back/);
    expect(await databaseExists(target)).toBe(false);
  });
});
