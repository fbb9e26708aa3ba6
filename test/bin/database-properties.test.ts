/**
 * Database-level properties come back: owner, GRANT CONNECT (PUBLIC revoked), comment, connection
 * limit, ALTER DATABASE … SET and ALTER ROLE … IN DATABASE … SET, on a restore into a new database
 * and on --overwrite; --no-owner leaves owner and privileges out. dr verify compares them all and
 * names each difference (issue 15 §2).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackups, readManifest } from '../../core/repository/backups.ts';
import { openRepository } from '../../core/repository/index.ts';
import { verifyAgainstManifest } from '../../core/verify/verify.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName, withClient } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { runDr } from '../support/cli.ts';

const source = uniqueName('dr_dbprop_src');
const owner = uniqueName('dr_dbprop_owner');
const reader = uniqueName('dr_dbprop_reader');
const databases = [source];
let dir: string;

const properties = (db: string) =>
  withClient(
    'postgres',
    async (c) =>
      (
        await c.query(
          `
  SELECT pg_get_userbyid(d.datdba) AS owner, d.datconnlimit AS limit, shobj_description(d.oid, 'pg_database') AS comment,
         has_database_privilege($2, d.oid, 'CONNECT') AS reader_connect, has_database_privilege('public', d.oid, 'CONNECT') AS public_connect,
         (SELECT array_agg(x ORDER BY x) FROM pg_db_role_setting s, unnest(s.setconfig) x WHERE s.setdatabase = d.oid AND s.setrole = 0) AS settings,
         (SELECT array_agg(x ORDER BY x) FROM pg_db_role_setting s, unnest(s.setconfig) x WHERE s.setdatabase = d.oid AND s.setrole = to_regrole($2)) AS role_settings
    FROM pg_database d WHERE d.datname = $1`,
          [db, reader],
        )
      ).rows[0],
  );

beforeAll(async () => {
  await withClient('postgres', async (c) => {
    await c.query(`CREATE ROLE "${owner}"`);
    await c.query(`CREATE ROLE "${reader}" LOGIN`);
  });
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  await withClient('postgres', (c) =>
    c.query(`
    ALTER DATABASE "${source}" OWNER TO "${owner}";
    REVOKE ALL ON DATABASE "${source}" FROM PUBLIC;
    GRANT CONNECT ON DATABASE "${source}" TO "${reader}";
    COMMENT ON DATABASE "${source}" IS 'market data; owner: data platform';
    ALTER DATABASE "${source}" CONNECTION LIMIT 42;
    ALTER DATABASE "${source}" SET work_mem = '32MB';
    ALTER DATABASE "${source}" SET search_path = "$user", public, market;
    ALTER ROLE "${reader}" IN DATABASE "${source}" SET statement_timeout = '5min'`),
  );
  dir = await mkdtemp(join(tmpdir(), 'dr-dbprop-'));
  const backup = await runDr(['backup', '--db', pgUrl(source), '--repo', `file://${dir}`, '-q', '-j', '2']);
  expect(backup.code, backup.stderr).toBe(0);
});

afterAll(async () => {
  for (const db of databases) await dropDatabase(db);
  await withClient('postgres', async (c) => {
    await c.query(`DROP ROLE IF EXISTS "${reader}"`);
    await c.query(`DROP ROLE IF EXISTS "${owner}"`);
  });
  await rm(dir, { recursive: true, force: true });
});

describe('database-level properties', () => {
  it('come back on a restore into a new database, and on --overwrite', async () => {
    const expected = await properties(source);
    expect(expected).toMatchObject({ owner, limit: 42, reader_connect: true, public_connect: false });
    const target = uniqueName('dr_dbprop_tgt');
    databases.push(target);
    const run = await runDr(['restore', '--repo', `file://${dir}`, '--target', pgUrl(target), '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.warnings).toEqual([]);
    expect(await properties(target)).toEqual(expected);

    const existing = uniqueName('dr_dbprop_old');
    databases.push(existing);
    await createDatabase(existing);
    await withClient(existing, (c) => c.query('CREATE TABLE leftover (id int)'));
    const over = await runDr(['restore', '--repo', `file://${dir}`, '--target', pgUrl(existing), '--overwrite', '-q']);
    expect(over.code, over.stderr).toBe(0);
    expect(await properties(existing)).toEqual(expected);
  });

  it('--no-owner leaves owner and privileges out, keeps comment, limit and settings', async () => {
    const target = uniqueName('dr_dbprop_noown');
    databases.push(target);
    const run = await runDr(['restore', '--repo', `file://${dir}`, '--target', pgUrl(target), '--no-owner', '-q']);
    expect(run.code, run.stderr).toBe(0);
    const props = await properties(target);
    expect(props.owner).not.toBe(owner);
    expect(props).toMatchObject({ limit: 42, comment: 'market data; owner: data platform', public_connect: true });
    expect(props.settings).toEqual((await properties(source)).settings);

    // Verify then leaves owner and privileges out too, and passes on the rest.
    const repo = openRepository(`file://${dir}`);
    const manifest = await readManifest(repo, source, (await listBackups(repo, source)).backups[0]!.id);
    const verified = await verifyAgainstManifest({ manifest, target: pgUrl(target), noOwner: true, content: false });
    const props_ = verified.checks.filter((c) => c.name === 'database-property');
    expect(props_.map((c) => c.object.replace(/^\S+ /, '')).sort()).toEqual([
      'comment',
      'connection limit',
      'settings',
      `settings for role ${reader}`,
    ]);
    expect(props_.filter((c) => !c.passed)).toEqual([]);
  });

  it('dr verify compares them and names each one that differs', async () => {
    const target = uniqueName('dr_dbprop_vfy');
    databases.push(target);
    const run = await runDr(['restore', '--repo', `file://${dir}`, '--target', pgUrl(target), '-q']);
    expect(run.code, run.stderr).toBe(0);
    const verify = () =>
      runDr(['verify', '--repo', `file://${dir}`, '--database', source, '--target', pgUrl(target), '--json']);
    const faithful = await verify();
    expect(faithful.code, faithful.stderr).toBe(0);
    const checked = (faithful.json.checks as { name: string; object: string; passed: boolean }[]).filter(
      (c) => c.name === 'database-property',
    );
    expect(checked.map((c) => c.object.replace(/^\S+ /, '')).sort()).toEqual([
      'comment',
      'connection limit',
      'owner',
      'privileges',
      'settings',
      `settings for role ${reader}`,
    ]);

    await withClient('postgres', (c) =>
      c.query(`
      ALTER DATABASE "${target}" OWNER TO root;
      GRANT CONNECT ON DATABASE "${target}" TO PUBLIC;
      COMMENT ON DATABASE "${target}" IS 'edited';
      ALTER DATABASE "${target}" CONNECTION LIMIT -1;
      ALTER DATABASE "${target}" RESET work_mem;
      ALTER ROLE "${reader}" IN DATABASE "${target}" RESET statement_timeout`),
    );
    const changed = await verify();
    expect(changed.code).toBe(1);
    const failed = (
      changed.json.checks as { name: string; object: string; expected: string; actual: string; passed: boolean }[]
    ).filter((c) => c.name === 'database-property' && !c.passed);
    expect(Object.fromEntries(failed.map((c) => [c.object.replace(/^\S+ /, ''), [c.expected, c.actual]]))).toEqual({
      owner: [owner, 'root'],
      privileges: [expect.stringContaining(`${reader}:CONNECT`), expect.stringContaining('PUBLIC:CONNECT')],
      comment: ['market data; owner: data platform', 'edited'],
      'connection limit': ['42', '-1'],
      settings: [expect.stringContaining('work_mem=32MB'), expect.not.stringContaining('work_mem')],
      [`settings for role ${reader}`]: ['statement_timeout=5min', '(none)'],
    });
  });
});
