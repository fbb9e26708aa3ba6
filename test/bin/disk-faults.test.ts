/**
 * Repository and disk faults as one line, at once: a repository path that cannot be created (a
 * /proc path used to loop for minutes), and a full disk (a real, small tmpfs: as the repository,
 * and as --work-dir) saying "no space left on device (ENOSPC)" with nothing recorded and no partial
 * files left but an interrupted backup (no manifest). Needs root for mount(8); skipped otherwise.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, dropDatabase, pgUrl, uniqueName, withClient } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { expectOneLineError, runDr } from '../support/cli.ts';

const source = uniqueName('dr_disk_src');
const dirs: string[] = [];
const mounts: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dr-disk-'));
  dirs.push(dir);
  return dir;
}

/** A tmpfs of `size` mounted on a new folder, or undefined when this machine does not allow it. */
async function smallDisk(size: string): Promise<string | undefined> {
  const dir = await tempDir();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  mounts.push(dir);
  return dir;
}

const canMount = process.getuid?.() === 0;

beforeAll(async () => {
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  // About 10 MB of incompressible text: more than the small disks hold.
  await withClient(source, (c) =>
    c.query(
      `CREATE TABLE filler AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS pad FROM generate_series(1, 150000) g`,
    ),
  );
});

afterAll(async () => {
  await dropDatabase(source);
  for (const dir of mounts) execFileSync('umount', [dir]);
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('repository paths', () => {
  it('a path that cannot be created fails at once with the reason', async () => {
    expectOneLineError(
      await runDr(['backup', '--db', pgUrl(source), '--repo', 'file:///proc/dr-x', '-q']),
      /cannot write to repository directory \/proc\/dr-x: ENOENT/,
      1,
    );
    expectOneLineError(
      await runDr(['backup', '--db', pgUrl(source), '--repo', 'file:///etc/hostname/x', '-q']),
      /cannot write to repository directory \/etc\/hostname\/x: ENOTDIR \(not a directory\)/,
      1,
    );
  });
});

describe.skipIf(!canMount)('a full disk (tmpfs)', () => {
  it('as the repository: ENOSPC in one line, pg_dump stopped, no manifest, the backup left as interrupted', async () => {
    const disk = (await smallDisk('1m'))!;
    const work = await tempDir();
    const run = await runDr([
      'backup',
      '--db',
      pgUrl(source),
      '--repo',
      `file://${disk}`,
      '--work-dir',
      work,
      '-q',
      '-j',
      '2',
    ]);
    expectOneLineError(run, /cannot write .* in file:\/\/.*: ENOSPC \(no space left on device\); check free space/, 1);
    expect(await readdir(work)).toEqual([]);
    const folder = join(disk, 'backups', source);
    expect((await readdir(folder)).filter((n) => n.endsWith('.manifest.json'))).toEqual([]);
    const list = await runDr(['list', '--repo', `file://${disk}`, '--json']);
    expect(list.json).toMatchObject({ backups: [], incomplete: [{ database: source }] });
    // No temporary upload files are left either (they are never listed, but take space).
    const leftovers = (await readdir(disk, { recursive: true })).filter((n) => String(n).includes('.tmp-'));
    expect(leftovers).toEqual([]);
  });

  it('as --work-dir: "… ran out of space in <work dir> (ENOSPC)", the work folder removed, nothing recorded', async () => {
    const disk = (await smallDisk('1m'))!;
    const repoDir = await tempDir();
    const run = await runDr([
      'backup',
      '--db',
      pgUrl(source),
      '--repo',
      `file://${repoDir}`,
      '--work-dir',
      disk,
      '-q',
      '-j',
      '2',
    ]);
    // pg_dump's own write or dr's compression of a finished file: whichever fills the disk first.
    expectOneLineError(
      run,
      /(pg_dump|dr backup \(compressing the dump\)) ran out of space in .*: no space left on device \(ENOSPC\); free space there, or point --work-dir at a larger volume/,
      1,
    );
    expect(await readdir(disk)).toEqual([]);
    const stored = await readdir(join(repoDir, 'backups', source)).catch(() => []);
    expect(stored.filter((n) => n.endsWith('.manifest.json'))).toEqual([]);
  });
});
