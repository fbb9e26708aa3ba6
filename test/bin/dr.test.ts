/**
 * The `dr` command line as users run it (`node bin/dr.mjs`, what `npx dr` runs): output contract,
 * help, and every bad input getting one clear line, a non-zero exit, and nothing written.
 */
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../bin/commands/index.ts';
import { startThrowawayCluster, type ThrowawayCluster } from '../../fixtures/cluster.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName, withClient } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { expectOneLineError, runDr } from '../support/cli.ts';
import { s3Env } from '../support/s3.ts';

const source = uniqueName('dr_cli_src');
const dirs: string[] = [];
const databases: string[] = [source];

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []))
    .filter((e) => e.isFile())
    .map((e) => e.name);
}

beforeAll(async () => {
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
});

afterAll(async () => {
  for (const db of databases) await dropDatabase(db);
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('dr backup, list and restore through the CLI', () => {
  it('backs up, lists and restores with one JSON object as the last stdout line, never printing the password', async () => {
    const repo = `file://${await tempDir('dr-cli-repo-')}`;
    // Trust auth ignores the password: it is here to prove it never reaches the output.
    const withPassword = `postgres://root:hunter2-secret@127.0.0.1:5432/${source}`;
    const backup = await runDr(['backup', '--db', withPassword, '--repo', repo, '--json', '--jobs', '2']);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.json).toMatchObject({
      ok: true,
      id: expect.stringMatching(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/),
      database: source,
    });
    expect(backup.stdout + backup.stderr).not.toContain('hunter2');

    const list = await runDr(['list', '--repo', repo, '--json']);
    expect(list.json.backups).toEqual([expect.objectContaining({ id: backup.json.id, database: source })]);
    const human = await runDr(['list', '--repo', repo]);
    expect(human.stdout).toMatch(new RegExp(`${backup.json.id}\\s+${source}\\s+(daily|weekly|monthly)`));

    const target = uniqueName('dr_cli_restored');
    databases.push(target);
    const restore = await runDr(['restore', '--repo', repo, '--backup', 'latest', '--target', pgUrl(target), '--json']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.json).toMatchObject({ ok: true, backup: { id: backup.json.id }, fallbacks: [] });
    const count = await withClient(target, async (c) =>
      Number((await c.query('SELECT count(*) AS n FROM candles')).rows[0].n),
    );
    expect(count).toBeGreaterThan(0);
  });

  it('without a user in the URL, connects as libpq would: PGUSER, else the OS user (even with $USER unset)', async () => {
    const repo = `file://${await tempDir('dr-cli-user-')}`;
    const run = await runDr(
      ['backup', '--db', `postgres://127.0.0.1:5432/${source}`, '--repo', repo, '--json', '--quiet'],
      { USER: '', PGUSER: '' },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.ok).toBe(true);
  });

  it('--help documents every command and every flag', async () => {
    const help = await runDr(['--help']);
    expect(help.code).toBe(0);
    for (const name of Object.keys(COMMANDS)) expect(help.stdout).toContain(`  ${name} `);
    for (const [name, command] of Object.entries(COMMANDS)) {
      const out = (await runDr([...name.split(' '), '--help'])).stdout;
      for (const flag of Object.keys(command.options).filter((f) => f !== 'help'))
        expect(out, `dr ${name} --help`).toContain(`--${flag}`);
    }
  });

  it("a flag that does not apply is refused, not ignored; a usage error points at the command's help", async () => {
    const pitr = [
      '--at',
      '2026-01-15T14:30:00Z',
      '--pitr',
      'file:///nonexistent',
      '--stanza',
      's',
      '--database',
      'd',
      '--target',
      pgUrl('x'),
    ];
    expectOneLineError(
      await runDr(['restore', ...pitr, '--backup', '20260110T020000Z-a1b2c3']),
      /--backup names a logical backup; .*drop --backup; see dr restore --help$/,
      2,
    );
    expectOneLineError(
      await runDr(['restore', '--repo', 'file:///nonexistent', '--target', pgUrl('x'), '--stanza', 's']),
      /--stanza applies to point-in-time restores only/,
      2,
    );
    expectOneLineError(
      await runDr(['restore', '--repo', 'file:///nonexistent', '--target', pgUrl('x'), '--pg-server-bin', '/usr/bin']),
      /--pg-server-bin applies to point-in-time restores only/,
      2,
    );
    expectOneLineError(
      await runDr([
        'drill',
        '--repo',
        'file:///nonexistent',
        '--scratch',
        pgUrl('postgres'),
        '--db',
        pgUrl(source),
        '--backup',
        '20260110T020000Z-a1b2c3',
      ]),
      /--db drills the fresh backup it takes, so --backup does not apply/,
      2,
    );
    expectOneLineError(
      await runDr([
        'pitr',
        'config',
        '--repo',
        'file:///srv/pgbackrest',
        '--stanza',
        's',
        '--pg-path',
        '/var/lib/pg',
        '--region',
        'eu-west-1',
      ]),
      /--region applies to s3:\/\/ repositories only/,
      2,
    );
    expectOneLineError(
      await runDr(['pitr', 'bogus']),
      /^dr pitr: error: unknown subcommand "pitr bogus"; use one of: dr pitr config, dr pitr check, dr pitr info, dr pitr restore-server, dr pitr mark; see dr pitr --help$/,
      2,
    );
  });

  it('a command group alone lists its subcommands', async () => {
    const pitr = await runDr(['pitr']);
    expect(pitr.code).toBe(2);
    expect(pitr.stdout).toMatch(
      /^Usage: dr pitr <config\|check\|info\|restore-server\|mark> \[flags\]\n\n {2}dr pitr config +Print the pgBackRest/,
    );
    const helpRestore = await runDr(['help', 'restore']);
    expect(helpRestore.code).toBe(0);
    expect(helpRestore.stdout).toMatch(/^Usage: dr restore /);
    expect((await runDr(['help', 'pitr', 'config'])).stdout).toMatch(/^Usage: dr pitr config /);
    const remote = await runDr(['remote', '--help']);
    expect(remote.code).toBe(0);
    expect(remote.stdout).toContain('dr remote status');
  });
});

describe('bad input: one line, non-zero exit, nothing written', () => {
  let repoDir: string;
  let repo: string;
  let cluster: ThrowawayCluster;

  beforeAll(async () => {
    repoDir = await tempDir('dr-cli-bad-');
    repo = `file://${repoDir}`;
    cluster = await startThrowawayCluster('the-right-one');
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const backupInto = (db: string, extra: string[] = [], env: Record<string, string> = {}) =>
    runDr(['backup', '--db', db, '--repo', repo, '--quiet', ...extra], env);

  it('an unreachable host', async () => {
    const run = await backupInto('postgres://root@127.0.0.1:1/crypto_stock');
    expectOneLineError(
      run,
      /cannot reach the source server root@127\.0\.0\.1:1\/crypto_stock \(ECONNREFUSED\); check host and port/,
    );
    expect(await filesUnder(repoDir)).toEqual([]);
  });

  it('a wrong password (real SCRAM authentication on a throwaway cluster)', async () => {
    const run = await backupInto(cluster.url('postgres'), [], { PGPASSWORD: 'wrong-password' });
    expectOneLineError(
      run,
      /authentication failed for postgres@127\.0\.0\.1:\d+\/postgres.*; check PGPASSWORD, ~\/\.pgpass/,
    );
    expect(run.stderr).not.toContain('wrong-password');
    expect(await filesUnder(repoDir)).toEqual([]);
  });

  it('the right password, from PGPASSWORD as libpq would take it, works on the same cluster', async () => {
    const run = await backupInto(cluster.url('postgres'), ['--json'], { PGPASSWORD: 'the-right-one' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.json.id).toBeTruthy();
  });

  it('an unknown database', async () => {
    const dir = await tempDir('dr-cli-nodb-');
    const run = await runDr(['backup', '--db', pgUrl('no_such_db_xyz'), '--repo', `file://${dir}`, '--quiet']);
    expectOneLineError(run, /database "no_such_db_xyz" does not exist/);
    expect(await filesUnder(dir)).toEqual([]);
  });

  it('a pg_dump older than the server (a stand-in pg_dump 14: no PostgreSQL 14 client is installable here)', async () => {
    const bin = await tempDir('dr-fake-bin-');
    await writeFile(join(bin, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 14.11"\n');
    await chmod(join(bin, 'pg_dump'), 0o755);
    const dir = await tempDir('dr-cli-old-');
    const run = await runDr(['backup', '--db', pgUrl(source), '--repo', `file://${dir}`, '--pg-bin', bin, '--quiet']);
    expectOneLineError(
      run,
      /pg_dump 14\.11 is older than the server \(PostgreSQL 15\.\d+\); install the PostgreSQL 15 client tools, or point --pg-bin at them/,
    );
    expect(await filesUnder(dir)).toEqual([]);
  });

  it('an unwritable repository directory', async () => {
    const run = await runDr(['backup', '--db', pgUrl(source), '--repo', 'file:///etc/hostname/backups', '--quiet']);
    expectOneLineError(run, /cannot write to repository directory \/etc\/hostname\/backups/);
  });

  it('an S3 bucket that does not exist', async () => {
    const run = await runDr(
      ['backup', '--db', pgUrl(source), '--repo', 's3://no-such-bucket-dr/x', '--quiet'],
      s3Env(),
    );
    expectOneLineError(run, /no-such-bucket-dr/);
  });

  it('bad URLs', async () => {
    expectOneLineError(
      await runDr(['backup', '--db', pgUrl(source), '--repo', 'ftp://host/dir']),
      /unsupported repository URL "ftp:\/\/host\/dir"; use file:\/\/\/path\/to\/dir or s3:\/\/bucket\/prefix/,
    );
    expectOneLineError(
      await runDr(['backup', '--db', 'mysql://root@localhost/db', '--repo', repo]),
      /--db "mysql:\/\/root@localhost\/db" is not a PostgreSQL URL/,
    );
    expectOneLineError(
      await runDr(['restore', '--repo', repo, '--target', 'not a url']),
      /--target "not a url" is not a connection URL/,
    );
    expectOneLineError(await runDr(['backup', '--db', pgUrl(source)]), /--repo is required/);
    expectOneLineError(
      await runDr(['backup', '--db', pgUrl(source), '--repo', repo, '--tier', 'hourly']),
      /--tier must be one of daily, weekly, monthly/,
    );
    expect((await runDr(['backup', '--nope'])).code).toBe(2);
  });

  it('an unknown backup id, and a non-empty target without --overwrite', async () => {
    const ok = await backupInto(pgUrl(source), ['--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expectOneLineError(
      await runDr([
        'restore',
        '--repo',
        repo,
        '--database',
        source,
        '--backup',
        '20200101T000000Z-000000',
        '--target',
        pgUrl(uniqueName('x')),
      ]),
      /backup 20200101T000000Z-000000 not found .*; run dr list/,
    );
    const busy = uniqueName('dr_cli_busy');
    databases.push(busy);
    await createDatabase(busy);
    await withClient(busy, (c) => c.query('CREATE TABLE t (id int)'));
    const run = await runDr(['restore', '--repo', repo, '--database', source, '--target', pgUrl(busy)]);
    expectOneLineError(run, /target database dr_cli_busy_\w+ on .* is not empty; pass --overwrite/);
  });

  it('a checksum mismatch stops the restore before the target exists', async () => {
    const dir = await tempDir('dr-cli-rot-');
    const backup = await runDr(['backup', '--db', pgUrl(source), '--repo', `file://${dir}`, '--json', '--quiet']);
    const id = backup.json.id as string;
    const dataDir = join(dir, 'backups', source, id, 'data');
    const victim = (await readdir(dataDir)).find((f) => f.endsWith('.gz'))!;
    await writeFile(join(dataDir, victim), 'rotten bytes');
    const target = uniqueName('dr_cli_rot');
    const run = await runDr([
      'restore',
      '--repo',
      `file://${dir}`,
      '--backup',
      id,
      '--target',
      pgUrl(target),
      '--quiet',
    ]);
    expectOneLineError(run, new RegExp(`backup ${id}: file data/${victim.replace('.', '\\.')} is truncated`));
    const exists = await withClient(
      'postgres',
      async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [target])).rowCount,
    );
    expect(exists).toBe(0);
  });
});
