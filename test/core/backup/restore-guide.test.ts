/**
 * A backup that anyone can restore without dr: its RESTORE.md is followed literally (its bash
 * blocks run in the backup's folder with only sha256sum, pg_restore and psql) and yields a
 * database identical to the source, on the plain and on the TimescaleDB sample.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../../core/backup/backup.ts';
import { FileRepository } from '../../../core/repository/index.ts';
import { CHECKSUMS_NAME, fileKey, RESTORE_GUIDE_NAME } from '../../../core/repository/layout.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName } from '../../../fixtures/pg.ts';
import { createSampleDatabase } from '../../../fixtures/sample-database.ts';
import { compareDatabases } from '../../support/compare.ts';
import { createTimescaleDatabase, dropTimescaleDatabase, timescaleUrl } from '../../support/timescale.ts';

const run = promisify(execFile);
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** The guide's ```bash blocks, in order. */
const bashBlocks = (markdown: string) => [...markdown.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]);

const servers = {
  plain: {
    async source() {
      const name = uniqueName('dr_guide_src');
      await createDatabase(name);
      cleanups.push(() => dropDatabase(name));
      await createSampleDatabase(pgUrl(name), { scale: 'test' });
      return name;
    },
    async target() {
      const name = uniqueName('dr_guide_dst');
      await createDatabase(name);
      cleanups.push(() => dropDatabase(name));
      return name;
    },
    url: pgUrl,
    timescale: false,
  },
  TimescaleDB: {
    async source() {
      const name = await createTimescaleDatabase('dr_guide_ts_src');
      cleanups.push(() => dropTimescaleDatabase(name));
      await createSampleDatabase(timescaleUrl(name), { scale: 'test', timescale: true });
      return name;
    },
    async target() {
      const name = await createTimescaleDatabase('dr_guide_ts_dst');
      cleanups.push(() => dropTimescaleDatabase(name));
      return name;
    },
    url: timescaleUrl,
    timescale: true,
  },
};

describe('RESTORE.md', () => {
  for (const [kind, server] of Object.entries(servers)) {
    it(`followed by hand (sha256sum, pg_restore, psql) gives a database identical to the ${kind} source`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'dr-guide-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const repo = new FileRepository(dir);
      const source = await server.source();
      const backup = await runBackup({ db: server.url(source), repository: repo, jobs: 2 });
      const folder = dirname(repo.localPath!(fileKey(source, backup.id, RESTORE_GUIDE_NAME))!);
      const guide = await readFile(join(folder, RESTORE_GUIDE_NAME), 'utf8');
      expect(guide).toContain(server.timescale ? 'timescaledb_pre_restore()' : 'pg_restore --jobs=4');
      const target = await server.target();
      for (const block of bashBlocks(guide)) {
        await run('bash', ['-e', '-o', 'pipefail', '-c', block!], {
          cwd: folder,
          env: { ...process.env, TARGET: server.url(target) },
        });
      }
      expect((await compareDatabases(server.url(source), server.url(target))).differences).toEqual([]);
    });
  }

  it('sha256sum -c finds a damaged file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dr-guide-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const repo = new FileRepository(dir);
    const source = await servers.plain.source();
    const backup = await runBackup({ db: pgUrl(source), repository: repo, jobs: 2 });
    const folder = dirname(repo.localPath!(fileKey(source, backup.id, CHECKSUMS_NAME))!);
    const sums = await readFile(join(folder, CHECKSUMS_NAME), 'utf8');
    const victim = sums
      .split('\n')
      .find((l) => l.endsWith('.dat.gz'))!
      .split('  ')[1];
    await writeFile(join(folder, victim!), 'not the bytes the backup wrote');
    const check = await run('bash', ['-c', bashBlocks(await readFile(join(folder, RESTORE_GUIDE_NAME), 'utf8'))[0]!], {
      cwd: folder,
    }).catch((e) => e);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(`${victim}: FAILED`);
  });
});
