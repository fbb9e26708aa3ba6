/**
 * Full-restore outcomes: the swap is one outcome (a new database in place whose old copy cannot be
 * dropped is a success with a warning naming the leftover), and an "empty" target means no user
 * objects at all (a commented schema is not empty).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../core/backup/backup.ts';
import { FileRepository } from '../../core/repository/index.ts';
import { createDatabase, databaseExists, dropDatabase, pgUrl, uniqueName, withClient } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { expectOneLineError, runDr } from '../support/cli.ts';

const source = uniqueName('dr_out_src');
const databases: string[] = [source];
let dir: string;
let repo: string;

beforeAll(async () => {
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  dir = await mkdtemp(join(tmpdir(), 'dr-out-'));
  repo = `file://${dir}`;
  await runBackup({ db: pgUrl(source), repository: new FileRepository(dir), jobs: 2 });
});

afterAll(async () => {
  for (const db of databases) {
    await withClient('postgres', (c) => c.query(`ALTER DATABASE "${db}" IS_TEMPLATE false`)).catch(() => {});
    await dropDatabase(db);
  }
  await rm(dir, { recursive: true, force: true });
});

describe('dr restore --overwrite', () => {
  it('succeeds (exit 0) with a warning naming the old database when it cannot be dropped after the swap', async () => {
    const name = uniqueName('dr_out_tgt');
    databases.push(name);
    await createDatabase(name);
    await withClient(name, (c) => c.query('CREATE TABLE old_stuff (id int)'));
    // A template database cannot be dropped: the drop after the swap fails, the swap does not.
    await withClient('postgres', (c) => c.query(`ALTER DATABASE "${name}" IS_TEMPLATE true`));
    const run = await runDr(['restore', '--repo', repo, '--target', pgUrl(name), '--overwrite', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const warning = (run.json.warnings as string[]).find((w) => w.includes('could not be dropped'));
    const leftover = /renamed to (\S+) and could not be dropped/.exec(warning ?? '')?.[1];
    expect(leftover, JSON.stringify(run.json.warnings)).toMatch(/__dr_old_[0-9a-f]{8}$/);
    databases.push(leftover!);
    expect(await databaseExists(leftover!)).toBe(true);
    // The target is the backup's now.
    const tables = await withClient(
      name,
      async (c) => (await c.query(`SELECT to_regclass('old_stuff') AS o, to_regclass('candles') AS c`)).rows[0],
    );
    expect(tables).toEqual({ o: null, c: 'candles' });
    const fresh = uniqueName('dr_out_fresh');
    databases.push(fresh);
    const human = await runDr(['restore', '--repo', repo, '--target', pgUrl(fresh)]);
    expect(human.code, human.stderr).toBe(0);
  });
});

describe('an empty target', () => {
  it('is one with no user objects at all: a commented schema, an extension or a comment on public is not empty', async () => {
    const cases = [
      `CREATE SCHEMA reporting; COMMENT ON SCHEMA reporting IS 'monthly reports'`,
      `CREATE EXTENSION IF NOT EXISTS pg_trgm`,
      `COMMENT ON SCHEMA public IS 'our public schema'`,
    ];
    for (const sql of cases) {
      const name = uniqueName('dr_out_empty');
      databases.push(name);
      await createDatabase(name);
      await withClient(name, (c) => c.query(sql));
      expectOneLineError(
        await runDr(['restore', '--repo', repo, '--target', pgUrl(name)]),
        /target database \S+ on .* is not empty; pass --overwrite/,
        1,
      );
    }
    const empty = uniqueName('dr_out_empty');
    databases.push(empty);
    await createDatabase(empty);
    const run = await runDr(['restore', '--repo', repo, '--target', pgUrl(empty), '-q']);
    expect(run.code, run.stderr).toBe(0);
  });
});
