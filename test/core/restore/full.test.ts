/**
 * Backup and full restore against the real PostgreSQL and a real repository, the same suite for
 * file:// (a temp dir) and s3:// (s3rver over HTTP).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { GetObjectTaggingCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../../core/backup/backup.ts';
import type { Manifest } from '../../../core/backup/manifest.ts';
import { BackupIntegrityError, type DrError } from '../../../core/errors.ts';
import { completeBackupIds, listBackups, readManifest } from '../../../core/repository/backups.ts';
import { openRepository, type Repository } from '../../../core/repository/index.ts';
import { fileKey, manifestKey } from '../../../core/repository/layout.ts';
import { runRestore } from '../../../core/restore/full.ts';
import { FullRestoreResultSchema } from '../../../core/restore/result.ts';
import { createDatabase, databaseExists, dropDatabase, pgUrl, uniqueName, withClient } from '../../../fixtures/pg.ts';
import { createSampleDatabase } from '../../../fixtures/sample-database.ts';
import { compareDatabases } from '../../support/compare.ts';
import { createTestBucket, s3Client, useS3Env } from '../../support/s3.ts';

const source = uniqueName('dr_src');
const targets: string[] = [];
const cleanups: (() => Promise<void>)[] = [];

function target(prefix = 'dr_restored'): string {
  const name = uniqueName(prefix);
  targets.push(name);
  return name;
}

beforeAll(async () => {
  useS3Env();
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
});

afterAll(async () => {
  for (const name of [source, ...targets]) await dropDatabase(name);
  for (const cleanup of cleanups) await cleanup();
});

const kinds = [
  {
    kind: 'file',
    async open(): Promise<{ repo: Repository; bucket?: string }> {
      const dir = await mkdtemp(join(tmpdir(), 'dr-repo-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      return { repo: openRepository(`file://${dir}`) };
    },
  },
  {
    kind: 's3',
    async open(): Promise<{ repo: Repository; bucket?: string }> {
      const bucket = await createTestBucket();
      return { repo: openRepository(`s3://${bucket}/crypto`), bucket };
    },
  },
] as const;

/** Replaces one stored object's bytes, as disk rot or tampering would. */
async function damage(repo: Repository, key: string, mutate: (bytes: Buffer) => Buffer): Promise<void> {
  const bytes = mutate(await buffer(await repo.get(key)));
  const local = repo.localPath?.(key);
  if (local) {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(local, bytes);
  } else {
    // Write-once applies to dr, not to an attacker with bucket rights: overwrite directly.
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const url = new URL(repo.url);
    await s3Client().send(
      new PutObjectCommand({
        Bucket: url.hostname,
        Key: `${url.pathname.slice(1).replace(/\/?$/, '/')}${key}`,
        Body: bytes,
      }),
    );
  }
}

const exactCounts = (db: string) =>
  withClient(db, async (c) => {
    // Partitioned parents hold no rows of their own; the manifest sums their partitions.
    const { rows } = await c.query<{ t: string }>(
      `SELECT format('%I.%I', schemaname, relname) AS t FROM pg_stat_user_tables WHERE relid::regclass::text <> 'candles' ORDER BY 1`,
    );
    const counts: Record<string, number> = {};
    for (const { t } of rows) counts[t] = Number((await c.query(`SELECT count(*) AS n FROM ONLY ${t}`)).rows[0].n);
    return counts;
  });

describe.each(kinds)('backup and full restore through a $kind repository', ({ kind, open }) => {
  let repo: Repository;
  let bucket: string | undefined;
  let manifest: Manifest;

  beforeAll(async () => {
    ({ repo, bucket } = await open());
    const result = await runBackup({ db: pgUrl(source), repository: repo, jobs: 2, tier: 'weekly' });
    manifest = await readManifest(repo, source, result.id);
  });

  it('records what a correct restore must contain, taken in the dump snapshot', async () => {
    expect(manifest).toMatchObject({
      database: source,
      tier: 'weekly',
      formatVersion: 2,
      dump: { format: 'directory', jobs: 2 },
    });
    const actual = await exactCounts(source);
    const recorded = Object.fromEntries(
      manifest.tables
        .filter((t) => t.kind !== 'partitioned')
        .map((t) => [
          `${/^[a-z_]+$/.test(t.schema) ? t.schema : `"${t.schema}"`}.${/^[a-z_0-9]+$/.test(t.name) ? t.name : `"${t.name}"`}`,
          t.rows,
        ]),
    );
    expect(recorded).toEqual(actual);
    const candles = manifest.tables.find((t) => t.name === 'candles')!;
    expect(candles.kind).toBe('partitioned');
    expect(candles.rows).toBe(
      manifest.tables.filter((t) => t.parent === 'public.candles').reduce((n, t) => n + t.rows, 0),
    );
    const maxTime = await withClient(
      source,
      async (c) =>
        (await c.query(`SET TimeZone = 'UTC'; SELECT max(time)::text AS m FROM candles`)) as unknown as {
          rows: { m: string }[];
        }[],
    );
    expect(candles.timeColumn).toBe('time');
    expect(candles.maxTime).toBe(maxTime[1]!.rows[0]!.m);
    const alerts = manifest.tables.find((t) => t.name === 'alerts')!;
    expect(alerts.indexes.some((i) => / WHERE /.test(i.definition))).toBe(true);
    expect(alerts.constraints.map((c) => c.type).sort()).toEqual(expect.arrayContaining(['c', 'f', 'p']));
    expect(manifest.sequences.length).toBeGreaterThan(0);
    expect(manifest.extensions.map((e) => e.name)).toContain('plpgsql');
    expect(manifest.server.versionNum).toBeGreaterThanOrEqual(150000);
    expect(manifest.globals?.path).toBe('globals.sql');
  });

  it('stores every file with the size and SHA-256 the manifest records', async () => {
    expect(manifest.files.map((f) => f.path)).toEqual(expect.arrayContaining(['data/toc.dat', 'globals.sql']));
    for (const f of manifest.files) {
      const bytes = await buffer(await repo.get(fileKey(source, manifest.id, f.path)));
      expect({ path: f.path, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }).toEqual(f);
    }
  });

  it.runIf(kind === 's3')('tags every object, the manifest included, with its retention tier', async () => {
    const keys = [...manifest.files.map((f) => fileKey(source, manifest.id, f.path)), manifestKey(source, manifest.id)];
    for (const key of keys) {
      const tags = await s3Client().send(new GetObjectTaggingCommand({ Bucket: bucket!, Key: `crypto/${key}` }));
      expect(tags.TagSet).toEqual([{ Key: 'retention', Value: 'weekly' }]);
    }
  });

  it('restores into a new database identical to the source in schema, data and sequences', async () => {
    const name = target();
    const result = await runRestore({ repository: repo, backup: manifest.id, target: pgUrl(name), jobs: 2 });
    // The result is exactly what its one schema says, which the summary and the drill report parse with.
    expect(FullRestoreResultSchema.strict().parse(JSON.parse(JSON.stringify(result)))).toEqual(result);
    expect(result).toMatchObject({ backup: { id: manifest.id }, fallbacks: [], replaced: false });
    const comparison = await compareDatabases(pgUrl(source), pgUrl(name));
    expect(comparison.differences).toEqual([]);
  });

  it('refuses a non-empty target without --overwrite and leaves it as it was', async () => {
    const name = target();
    await createDatabase(name);
    await withClient(name, (c) => c.query('CREATE TABLE keep_me (id int); INSERT INTO keep_me VALUES (42)'));
    await expect(runRestore({ repository: repo, backup: 'latest', target: pgUrl(name) })).rejects.toThrow(
      /is not empty.*|--overwrite/,
    );
    const err = await runRestore({ repository: repo, backup: 'latest', target: pgUrl(name) }).catch((e: DrError) => e);
    expect((err as DrError).oneLine()).toMatch(/target database .* is not empty; pass --overwrite/);
    expect(await withClient(name, async (c) => (await c.query('SELECT id FROM keep_me')).rows)).toEqual([{ id: 42 }]);
  });

  it('with --overwrite replaces the target only after a successful restore', async () => {
    const name = target();
    await createDatabase(name);
    await withClient(name, (c) => c.query('CREATE TABLE old_stuff (id int)'));
    const result = await runRestore({ repository: repo, backup: 'latest', target: pgUrl(name), overwrite: true });
    expect(result.replaced).toBe(true);
    expect((await compareDatabases(pgUrl(source), pgUrl(name))).differences).toEqual([]);
    // No staging or replaced database is left behind.
    const leftovers = await withClient(
      'postgres',
      async (c) => (await c.query(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`${name}__dr_%`])).rows,
    );
    expect(leftovers).toEqual([]);
  });

  it('lists the backup, and applies globals on request', async () => {
    const listing = await listBackups(repo, source);
    expect(listing.backups.map((b) => b.id)).toEqual([manifest.id]);
    const name = target();
    const result = await runRestore({ repository: repo, backup: manifest.id, target: pgUrl(name), withGlobals: true });
    // The roles exist already on this server: reported, not fatal.
    expect(result.warnings.join('\n')).toMatch(/globals: \d+ statements failed/);
  });
});

describe.each(kinds)('damaged and incomplete backups in a $kind repository', ({ open }) => {
  let repo: Repository;
  let older: string;
  let newer: string;

  beforeAll(async () => {
    ({ repo } = await open());
    older = (await runBackup({ db: pgUrl(source), repository: repo, jobs: 2, now: new Date('2026-01-14T02:00:00Z') }))
      .id;
    newer = (await runBackup({ db: pgUrl(source), repository: repo, jobs: 2, now: new Date('2026-01-15T02:00:00Z') }))
      .id;
    const m = await readManifest(repo, source, newer);
    const biggest = [...m.files].sort((a, b) => b.size - a.size)[0]!;
    await damage(repo, fileKey(source, newer, biggest.path), (b) => {
      b[Math.floor(b.length / 2)] = b[Math.floor(b.length / 2)]! ^ 0xff;
      return b;
    });
  });

  it('latest falls back past a backup whose checksum fails, and says so', async () => {
    const name = target();
    const result = await runRestore({ repository: repo, backup: 'latest', target: pgUrl(name) });
    expect(result.backup.id).toBe(older);
    expect(result.fallbacks).toEqual([{ id: newer, reason: expect.stringMatching(/checksum mismatch/) }]);
    expect(result.warnings[0]).toMatch(new RegExp(`FALLBACK: newest backup ${newer} failed verification`));
    expect((await compareDatabases(pgUrl(source), pgUrl(name))).differences).toEqual([]);
  });

  it('an explicit id never falls back, and the target is not touched', async () => {
    const name = target();
    await createDatabase(name);
    await withClient(name, (c) =>
      c.query('CREATE TABLE precious (v text); INSERT INTO precious VALUES ($$still here$$)'),
    );
    const err = await runRestore({ repository: repo, backup: newer, target: pgUrl(name), overwrite: true }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(BackupIntegrityError);
    expect(err.message).toMatch(new RegExp(`backup ${newer}: checksum mismatch for data/`));
    expect(await withClient(name, async (c) => (await c.query('SELECT v FROM precious')).rows)).toEqual([
      { v: 'still here' },
    ]);
  });

  it('a truncated file is reported as truncated', async () => {
    const m = await readManifest(repo, source, older);
    const toc = m.files.find((f) => f.path === 'data/toc.dat')!;
    const repo2 = repo;
    await damage(repo2, fileKey(source, older, toc.path), (b) => b.subarray(0, b.length - 100));
    const name = target();
    const err = await runRestore({ repository: repo, backup: older, target: pgUrl(name) }).catch((e) => e);
    expect(err.message).toMatch(/file data\/toc.dat is truncated \(\d+ bytes, manifest says \d+\)/);
    expect(await databaseExists(name)).toBe(false);
    // With both backups damaged, latest has nothing left to fall back to.
    const latest = await runRestore({ repository: repo, backup: 'latest', target: pgUrl(name) }).catch((e) => e);
    expect(latest.message).toMatch(/no backup of .* passed verification \(2 tried\)/);
    expect(await databaseExists(name)).toBe(false);
  });

  it('a backup without a manifest is not a backup', async () => {
    // An interrupted backup: its data is there, its manifest never was.
    const interrupted = '20260116T020000Z-abcdef';
    await repo.put(fileKey(source, interrupted, 'data/toc.dat'), Buffer.from('partial'), { tier: 'daily' });
    expect(await completeBackupIds(repo, source)).not.toContain(interrupted);
    const listing = await listBackups(repo, source);
    expect(listing.backups.map((b) => b.id)).not.toContain(interrupted);
    const name = target();
    const err = await runRestore({ repository: repo, backup: interrupted, target: pgUrl(name) }).catch((e) => e);
    expect(await databaseExists(name)).toBe(false);
    // Both repositories list the interrupted folder (the test s3rver is patched to return deep-only
    // common prefixes as S3 does: fixtures/s3rver-process.cjs).
    expect(listing.incomplete).toContainEqual({ database: source, id: interrupted });
    expect(err.message).toMatch(/backup 20260116T020000Z-abcdef of .* is incomplete \(no manifest\)/);
  });

  it('an unknown backup id says how to find the right one', async () => {
    const err = await runRestore({
      repository: repo,
      backup: '20200101T000000Z-000000',
      target: pgUrl(target()),
    }).catch((e) => e);
    expect(err.oneLine()).toMatch(/backup 20200101T000000Z-000000 not found in .*; run dr list/);
  });
});
