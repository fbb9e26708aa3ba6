/**
 * Single-table and date-range restores against the real PostgreSQL, from a file:// and an s3://
 * (s3rver) repository: only the named tables change, partitioned tables come back whole, the
 * replaced rows are kept in a safety table, ranges are exact, failures leave the target as it was.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../../core/backup/backup.ts';
import { DrError } from '../../../core/errors.ts';
import { readManifest } from '../../../core/repository/backups.ts';
import { openRepository, type Repository } from '../../../core/repository/index.ts';
import { fileKey } from '../../../core/repository/layout.ts';
import { replaceTablesFromSource, safetyTableName } from '../../../core/restore/replace.ts';
import { TableRestoreResultSchema } from '../../../core/restore/result.ts';
import { runTableRestore, splitTableList } from '../../../core/restore/tables.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName, withClient } from '../../../fixtures/pg.ts';
import { createSampleDatabase } from '../../../fixtures/sample-database.ts';
import { normalizeSchemaDump } from '../../support/compare.ts';
import { createTestBucket, s3Client, useS3Env } from '../../support/s3.ts';

const exec = promisify(execFile);
const source = uniqueName('dr_tsrc');
const databases: string[] = [source];
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  useS3Env();
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
});

afterAll(async () => {
  for (const name of databases) await dropDatabase(name);
  for (const cleanup of cleanups) await cleanup();
});

/** A target that starts as an exact copy of the source. */
async function cloneOfSource(): Promise<string> {
  const name = uniqueName('dr_ttgt');
  databases.push(name);
  await withClient('postgres', (c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${source}"`));
  return name;
}

/** Row count and order-independent content hash of every table (partitions, safety tables included). */
async function tableHashes(db: string, where = ''): Promise<Record<string, string>> {
  return withClient(db, async (c) => {
    await c.query(`SET TimeZone = 'UTC'; SET extra_float_digits = 1`);
    const { rows } = await c.query<{ name: string }>(`
      SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_' ORDER BY 1`);
    const out: Record<string, string> = {};
    for (const { name } of rows) {
      const { rows: h } = await c.query<{ n: string; h: string }>(
        `SELECT count(*) AS n, coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '-') AS h FROM ${name} t ${where}`,
      );
      out[name] = `${h[0]!.n}:${h[0]!.h}`;
    }
    return out;
  });
}

/** Hash of the rows a query returns. */
async function rowsHash(db: string, sql: string): Promise<string> {
  return withClient(db, async (c) => {
    await c.query(`SET TimeZone = 'UTC'; SET extra_float_digits = 1`);
    const { rows } = await c.query<{ n: string; h: string }>(
      `SELECT count(*) AS n, coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '-') AS h FROM (${sql}) t`,
    );
    return `${rows[0]!.n}:${rows[0]!.h}`;
  });
}

async function schemaOf(db: string, tables: string[]): Promise<string[]> {
  const { stdout } = await exec('pg_dump', [
    '--schema-only',
    ...tables.flatMap((t) => ['-t', t]),
    '--dbname',
    pgUrl(db),
  ]);
  return normalizeSchemaDump(stdout);
}

/** Scratch databases left next to a target (other suites' restores may be running on the same server). */
async function scratchDatabases(target: string): Promise<string[]> {
  return withClient('postgres', async (c) =>
    (
      await c.query<{ d: string }>(`SELECT datname AS d FROM pg_database WHERE starts_with(datname, $1)`, [
        `${target}__dr_stage_`,
      ])
    ).rows.map((r) => r.d),
  );
}

const without = (hashes: Record<string, string>, ...names: string[]) =>
  Object.fromEntries(Object.entries(hashes).filter(([k]) => !names.includes(k) && !k.includes('__dr_saved_')));

/** Records every key read from a repository (the real one underneath). */
function recording(repo: Repository): { repo: Repository; keys: string[] } {
  const keys: string[] = [];
  const proxy = new Proxy(repo, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'get')
        return (key: string) => {
          keys.push(key);
          return (value as Repository['get']).call(target, key);
        };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { repo: proxy, keys };
}

/** The backup's data file paths of the tables whose TOC TABLE DATA tag matches `pattern`, read independently with pg_restore -l. */
async function dataFilesOf(repo: Repository, id: string, pattern: RegExp): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'dr-toc-'));
  try {
    await writeFile(join(dir, 'toc.dat'), await buffer(await repo.get(fileKey(source, id, 'data/toc.dat'))));
    const { stdout } = await exec('pg_restore', ['-l', dir]);
    const ids = stdout
      .split('\n')
      .filter((l) => / TABLE DATA /.test(l) && pattern.test(l.split(' TABLE DATA ')[1]!))
      .map((l) => l.split(';')[0]);
    const manifest = await readManifest(repo, source, id);
    return ids.map((n) => manifest.files.find((f) => f.path.startsWith(`data/${n}.dat`))!.path).sort();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const kinds = [
  {
    kind: 'file',
    async open(): Promise<Repository> {
      const dir = await mkdtemp(join(tmpdir(), 'dr-trepo-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      return openRepository(`file://${dir}`);
    },
  },
  {
    kind: 's3',
    async open(): Promise<Repository> {
      return openRepository(`s3://${await createTestBucket()}/crypto`);
    },
  },
] as const;

describe('table lists and safety table names', () => {
  it('splits --tables on commas outside quotes', () => {
    expect(splitTableList('candles, public.alerts,"Reporting"."Daily, Summary"')).toEqual([
      'candles',
      'public.alerts',
      '"Reporting"."Daily, Summary"',
    ]);
  });

  it('names safety tables after the table and the UTC time, within 63 bytes, lower case', () => {
    expect(safetyTableName('candles', new Date('2026-11-25T20:30:00.123Z'))).toBe('candles__dr_saved_20261125t203000z');
    const long = safetyTableName('x'.repeat(63), new Date('2026-11-25T20:30:00Z'));
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(63);
    expect(long.endsWith('__dr_saved_20261125t203000z')).toBe(true);
  });
});

describe.each(kinds)('table and range restores from a $kind repository', ({ kind, open }) => {
  let repo: Repository;
  let id: string;

  beforeAll(async () => {
    repo = await open();
    id = (await runBackup({ db: pgUrl(source), repository: repo, jobs: 2, now: new Date('2026-02-01T02:00:00Z') })).id;
  });

  it('replaces one table, keeps its old rows in a safety table, leaves every other table untouched', async () => {
    const name = await cloneOfSource();
    await withClient(name, (c) =>
      c.query(
        `UPDATE alerts SET message = 'tampered'; DELETE FROM alerts WHERE id % 4 = 0; INSERT INTO symbols (ticker, name, asset_class, base_price, listed_on) VALUES ('NEW', 'n', 'etf', 1, '2026-01-01')`,
      ),
    );
    const before = await tableHashes(name);
    const result = await runTableRestore({
      repository: repo,
      backup: 'latest',
      target: pgUrl(name),
      tables: ['alerts'],
      jobs: 2,
    });

    const saved = result.tables[0]!;
    expect(result).toMatchObject({ mode: 'tables', backup: { id }, fallbacks: [], range: null });
    expect(saved).toMatchObject({
      table: 'public.alerts',
      rowsReplaced: 9,
      rowsRestored: 12,
      created: false,
      safetyTable: expect.stringMatching(/^public\.alerts__dr_saved_\d{8}t\d{6}z$/),
    });
    const after = await tableHashes(name);
    const sourceHashes = await tableHashes(source);
    expect(after['public.alerts']).toBe(sourceHashes['public.alerts']);
    // Everything else as it was, audit_logs included (the restore does not fire the audit trigger).
    expect(without(after, 'public.alerts')).toEqual(without(before, 'public.alerts'));
    expect(after[saved.safetyTable!]).toBe(before['public.alerts']);
    const comment = await withClient(
      name,
      async (c) => (await c.query(`SELECT obj_description($1::regclass) AS d`, [saved.safetyTable])).rows[0].d,
    );
    expect(comment).toMatch(new RegExp(`all rows of public.alerts.*backup ${id}`));
    expect(await scratchDatabases(name)).toEqual([]);
  });

  it('brings a partitioned table back whole (every partition), downloading only its files', async () => {
    const name = await cloneOfSource();
    await withClient(name, (c) =>
      c.query(
        `TRUNCATE candles_2025_09; DELETE FROM candles WHERE time < '2025-08-05'; UPDATE candles SET close = 0 WHERE time >= '2026-01-20'`,
      ),
    );
    const before = await tableHashes(name);
    const candlesTables = ['public.candles', 'public.candles_2*', 'public.candles_default'];
    const schemaBefore = await schemaOf(name, candlesTables);
    const recorder = recording(repo);
    const result = await runTableRestore({
      repository: recorder.repo,
      backup: id,
      target: pgUrl(name),
      tables: ['public.candles'],
      jobs: 2,
    });
    // Its indexes were dropped for the load and rebuilt: same names, attached as before.
    expect(await schemaOf(name, candlesTables)).toEqual(schemaBefore);
    expect(schemaBefore.join('\n')).toMatch(/ATTACH PARTITION public\.candles_2025_09_pkey/);

    const after = await tableHashes(name);
    const sourceHashes = await tableHashes(source);
    const partitions = Object.keys(sourceHashes).filter((t) => t.startsWith('public.candles_'));
    expect(partitions).toHaveLength(7);
    for (const p of partitions) expect(after[p], p).toBe(sourceHashes[p]);
    expect(without(after, ...partitions)).toEqual(without(before, ...partitions));
    const rowsBefore = Object.entries(before)
      .filter(([t]) => t.startsWith('public.candles_'))
      .reduce((n, [, h]) => n + Number(h.split(':')[0]), 0);
    expect(result.tables[0]).toMatchObject({ rowsRestored: 3000, rowsReplaced: rowsBefore });
    expect(Number(after[result.tables[0]!.safetyTable!]!.split(':')[0])).toBe(rowsBefore);
    // The result is exactly what its one schema says, which the state machine's summary parses with.
    expect(TableRestoreResultSchema.strict().parse(JSON.parse(JSON.stringify(result)))).toEqual(result);
    expect(result.warnings.join('\n')).toMatch(/REFRESH MATERIALIZED VIEW public\.daily_volume/);

    const expected = ['data/toc.dat', ...(await dataFilesOf(repo, id, /^public candles/))];
    expect(expected).toHaveLength(8);
    expect([...result.files].sort()).toEqual([...expected].sort());
    expect(result.bytes).toBeLessThan(result.backupBytes);
    if (kind === 's3') {
      const dataKeys = recorder.keys
        .filter((k) => k.includes(`/${id}/`))
        .map((k) => k.slice(k.indexOf(`/${id}/`) + id.length + 2));
      expect(dataKeys.sort()).toEqual([...expected].sort());
    }
  });

  it('creates missing tables from the backup with their indexes, constraints, triggers and sequences', async () => {
    const name = await cloneOfSource();
    await withClient(name, (c) =>
      c.query(
        `DROP TABLE ml_features; DROP TABLE alerts; DROP TABLE "Reporting"."Daily Summary"; DROP SCHEMA "Reporting"`,
      ),
    );
    const before = await tableHashes(name);
    const result = await runTableRestore({
      repository: repo,
      backup: id,
      target: pgUrl(name),
      tables: ['ml_features', 'alerts', '"Reporting"."Daily Summary"'],
    });

    expect(result.tables.map((t) => [t.table, t.created, t.rowsReplaced, t.safetyTable])).toEqual([
      ['public.ml_features', true, 0, null],
      ['public.alerts', true, 0, null],
      ['"Reporting"."Daily Summary"', true, 0, null],
    ]);
    const tables = ['public.ml_features', 'public.alerts', '"Reporting"."Daily Summary"'];
    expect(await schemaOf(name, tables)).toEqual(await schemaOf(source, tables));
    const after = await tableHashes(name);
    const sourceHashes = await tableHashes(source);
    for (const t of tables) expect(after[t]).toBe(sourceHashes[t]);
    expect(without(after, ...tables)).toEqual(without(before, ...tables));
    const seq = (db: string) =>
      withClient(db, async (c) =>
        (
          await c.query(
            `SELECT last_value::text AS v FROM pg_sequences WHERE sequencename IN ('alerts_id_seq', 'ml_features_id_seq') ORDER BY sequencename`,
          )
        ).rows.map((r) => r.v),
      );
    expect(await seq(name)).toEqual(await seq(source));
  });

  it('restores a date range exactly (across a partition boundary) and leaves rows outside it unchanged', async () => {
    const name = await cloneOfSource();
    const since = '2025-09-30T12:00:00Z';
    const until = '2025-10-01T12:00:00Z';
    const inRange = `time >= '${since}' AND time < '${until}'`;
    await withClient(name, (c) =>
      c.query(`
      UPDATE candles SET close = close + 1 WHERE ${inRange} AND symbol_id % 2 = 0;
      DELETE FROM candles WHERE ${inRange} AND symbol_id = 3;
      INSERT INTO candles VALUES (1, '2025-09-30T12:00:00.5Z', 1, 2, 1, 1, 1);
      UPDATE candles SET volume = 1 WHERE NOT (${inRange}) AND symbol_id = 5;
      UPDATE alerts SET acknowledged = NOT acknowledged`),
    );
    const outsideBefore = await rowsHash(name, `SELECT * FROM candles WHERE NOT (${inRange})`);
    const insideBefore = await rowsHash(name, `SELECT * FROM candles WHERE ${inRange}`);
    const before = await tableHashes(name);
    const recorder = recording(repo);
    const result = await runTableRestore({
      repository: recorder.repo,
      backup: 'latest',
      target: pgUrl(name),
      tables: ['candles'],
      since,
      until,
    });

    expect(result).toMatchObject({
      mode: 'range',
      range: { since: '2025-09-30T12:00:00.000Z', until: '2025-10-01T12:00:00.000Z' },
    });
    expect(result.tables[0]).toMatchObject({ timeColumn: 'time', rowsReplaced: Number(insideBefore.split(':')[0]) });
    expect(await rowsHash(name, `SELECT * FROM candles WHERE ${inRange}`)).toBe(
      await rowsHash(source, `SELECT * FROM candles WHERE ${inRange}`),
    );
    expect(await rowsHash(name, `SELECT * FROM candles WHERE NOT (${inRange})`)).toBe(outsideBefore);
    expect(await rowsHash(name, `SELECT * FROM ${result.tables[0]!.safetyTable}`)).toBe(insideBefore);
    const after = await tableHashes(name);
    expect(without(after, 'public.candles_2025_09', 'public.candles_2025_10')).toEqual(
      without(before, 'public.candles_2025_09', 'public.candles_2025_10'),
    );
    // Only the two partitions the range touches are fetched.
    const expected = ['data/toc.dat', ...(await dataFilesOf(repo, id, /^public candles_2025_(09|10) /))];
    expect(expected).toHaveLength(3);
    expect([...result.files].sort()).toEqual([...expected].sort());
    if (kind === 's3') {
      const dataKeys = recorder.keys
        .filter((k) => k.includes(`/${id}/`))
        .map((k) => k.slice(k.indexOf(`/${id}/`) + id.length + 2));
      expect(dataKeys.sort()).toEqual([...expected].sort());
    }
  });

  it("proves the restored range before it commits: a target column that rounds the backup's values fails it, unchanged", async () => {
    const name = await cloneOfSource();
    // Same columns, another type: the restored values would silently lose their last digits.
    await withClient(name, (c) =>
      c.query(
        `DROP VIEW latest_prices; DROP MATERIALIZED VIEW daily_volume; ALTER TABLE candles ALTER COLUMN close TYPE numeric(20,2)`,
      ),
    );
    const before = await tableHashes(name);
    const err = await runTableRestore({
      repository: repo,
      backup: id,
      target: pgUrl(name),
      tables: ['candles'],
      since: '2025-10-10T00:00:00Z',
      until: '2025-10-11T00:00:00Z',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DrError);
    expect((err as DrError).oneLine()).toMatch(
      /^the restored range of public\.candles does not match the source: 2025-10-10 has \d+ rows, the source \d+ \(contents differ\).*the target was rolled back and is unchanged/,
    );
    expect(await tableHashes(name)).toEqual(before);
  });

  it('is atomic: a failure on the second table leaves the first and the target exactly as they were', async () => {
    const name = await cloneOfSource();
    await withClient(name, (c) =>
      c.query(`UPDATE alerts SET message = 'kept'; DELETE FROM candles WHERE symbol_id = 1;
      ALTER TABLE candles ADD CONSTRAINT reject_restored CHECK (close < 0) NOT VALID`),
    );
    const before = await tableHashes(name);
    const err = await runTableRestore({
      repository: repo,
      backup: id,
      target: pgUrl(name),
      tables: ['alerts', 'candles'],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DrError);
    expect((err as DrError).oneLine()).toMatch(
      /^restoring the tables failed: .*reject_restored.*; the target was rolled back and is unchanged/,
    );
    expect((err as DrError).oneLine()).not.toMatch(/\n/);
    expect(await tableHashes(name)).toEqual(before);
    expect(await scratchDatabases(name)).toEqual([]);
  });

  it('refuses bad input with one line before anything runs, leaving the target untouched', async () => {
    const name = await cloneOfSource();
    await withClient(name, (c) => c.query(`UPDATE candles SET close = 1 WHERE symbol_id = 2`));
    const before = await tableHashes(name);
    const base = { repository: repo, backup: id, target: pgUrl(name) };
    const cases: [Parameters<typeof runTableRestore>[0], RegExp][] = [
      [
        { ...base, tables: ['candle'] },
        /^unknown table "candle" in backup .*; known tables: "Reporting"."Daily Summary", public.alerts, .*public.candles/,
      ],
      [
        {
          ...base,
          tables: ['candles'],
          since: '2026-01-10T00:00:00Z',
          until: '2026-01-11T00:00:00Z',
          timeColumn: 'nope',
        },
        /^unknown time column "nope" for public.candles in the target; pass --time-column with one of: time$/,
      ],
      [
        { ...base, tables: ['candles'], since: '2026-01-11T00:00:00Z', until: '2026-01-10T00:00:00Z' },
        /^--since 2026-01-11T00:00:00Z is not before --until 2026-01-10T00:00:00Z; give a --since earlier than --until$/,
      ],
      [
        { ...base, tables: ['candles'], since: '2026-03-01T00:00:00Z', until: '2026-03-02T00:00:00Z' },
        /^range starts at 2026-03-01T00:00:00.000Z, after the newest public.candles row in backup .*; choose a --since before/,
      ],
      [
        { ...base, tables: ['candles'], since: '2024-01-01T00:00:00Z', until: '2024-01-02T00:00:00Z' },
        /^range \[2024-01-01T00:00:00.000Z, 2024-01-02T00:00:00.000Z\) is outside backup .*'s data: it holds no public.candles rows/,
      ],
      [{ ...base, tables: ['candles'], since: '2026-01-10' }, /^--since needs --until; give both --since and --until/],
      [
        { ...base, tables: ['candles'], since: 'yesterday', until: '2026-01-11T00:00:00Z' },
        /^--since "yesterday" is not an ISO 8601 time/,
      ],
      [
        { ...base, tables: ['symbols'], since: '2026-01-10T00:00:00Z', until: '2026-01-11T00:00:00Z' },
        /^unknown time column "listed_on"|backup .* records no time column for public.symbols|holds no public.symbols rows/,
      ],
      [
        { ...base, tables: ['daily_volume'] },
        /^public.daily_volume is a materialized view, not a table; restore the tables it reads, then REFRESH/,
      ],
      [
        { ...base, tables: ['candles', 'candles_2025_09'] },
        /^--tables names public.candles_2025_09, a partition of public.candles, which already restores it/,
      ],
      [
        { ...base, target: pgUrl(`${name}_missing`), tables: ['candles'] },
        /^target database .*_missing does not exist on .*; a table restore goes into an existing database/,
      ],
    ];
    for (const [options, pattern] of cases) {
      const err = await runTableRestore(options).catch((e: unknown) => e);
      expect(err, String(pattern)).toBeInstanceOf(DrError);
      expect((err as DrError).oneLine(), String(pattern)).toMatch(pattern);
    }
    expect(await tableHashes(name)).toEqual(before);
    expect(await scratchDatabases(name)).toEqual([]);
  });
});

describe.each(kinds)('a damaged newest backup in a $kind repository', ({ open }) => {
  it('latest falls back to the previous backup when a needed file fails verification, and reports it', async () => {
    const repo = await open();
    const older = (
      await runBackup({ db: pgUrl(source), repository: repo, jobs: 2, now: new Date('2026-02-02T02:00:00Z') })
    ).id;
    const newer = (
      await runBackup({ db: pgUrl(source), repository: repo, jobs: 2, now: new Date('2026-02-03T02:00:00Z') })
    ).id;
    const [file] = await dataFilesOf(repo, newer, /^public candles_2026_01 /);
    const key = fileKey(source, newer, file!);
    const bytes = await buffer(await repo.get(key));
    bytes[Math.floor(bytes.length / 2)] = bytes[Math.floor(bytes.length / 2)]! ^ 0xff;
    const local = repo.localPath?.(key);
    if (local) await writeFile(local, bytes);
    else {
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

    const name = await cloneOfSource();
    await withClient(name, (c) => c.query(`DELETE FROM candles WHERE time >= '2026-01-15'`));
    const result = await runTableRestore({
      repository: repo,
      backup: 'latest',
      target: pgUrl(name),
      tables: ['candles'],
      since: '2026-01-15T00:00:00Z',
      until: '2026-01-16T00:00:00Z',
    });
    expect(result.backup.id).toBe(older);
    expect(result.fallbacks).toEqual([{ id: newer, reason: expect.stringMatching(/checksum mismatch/) }]);
    expect(result.warnings[0]).toMatch(new RegExp(`^FALLBACK: newest backup ${newer} failed verification`));
    expect(await rowsHash(name, `SELECT * FROM candles WHERE time >= '2026-01-15' AND time < '2026-01-16'`)).toBe(
      await rowsHash(source, `SELECT * FROM candles WHERE time >= '2026-01-15' AND time < '2026-01-16'`),
    );
    // An explicit id never falls back.
    await expect(
      runTableRestore({ repository: repo, backup: newer, target: pgUrl(name), tables: ['candles'] }),
    ).rejects.toThrow(/checksum mismatch/);
    expect(await scratchDatabases(name)).toEqual([]);
  });
});

describe('replaceTablesFromSource from a live database (as point-in-time recovery uses it)', () => {
  it("creates a missing table from the source's own definition and replaces another table's range", async () => {
    const name = await cloneOfSource();
    await withClient(name, (c) =>
      c.query(`DROP TABLE alerts; DELETE FROM indicators WHERE time >= '2025-12-01' AND time < '2025-12-02'`),
    );
    const result = await replaceTablesFromSource({
      sourceUrl: pgUrl(source),
      targetUrl: pgUrl(name),
      tables: [{ schema: 'public', name: 'alerts' }],
    });
    expect(result.tables).toEqual([
      expect.objectContaining({ table: 'public.alerts', created: true, rowsRestored: 12, safetyTable: null }),
    ]);
    expect(await schemaOf(name, ['public.alerts'])).toEqual(await schemaOf(source, ['public.alerts']));

    const range = await replaceTablesFromSource({
      sourceUrl: pgUrl(source),
      targetUrl: pgUrl(name),
      tables: [{ schema: 'public', name: 'indicators', timeColumn: 'time' }],
      range: { since: '2025-12-01T00:00:00Z', until: '2025-12-02T00:00:00Z' },
    });
    expect(range.tables[0]).toMatchObject({ rowsReplaced: 0, safetyTable: null });
    expect(range.tables[0]!.rowsRestored).toBeGreaterThan(0);
    expect((await tableHashes(name))['public.indicators']).toBe((await tableHashes(source))['public.indicators']);
  });

  it('refuses, and rolls back, a restore that would break a foreign key', async () => {
    const name = await cloneOfSource();
    await withClient(name, (c) =>
      c.query(`INSERT INTO symbols (ticker, name, asset_class, base_price, listed_on) VALUES ('ZZZ', 'z', 'etf', 1, '2026-01-01');
      INSERT INTO alerts (symbol_id, severity, message, threshold, created_at) SELECT max(id), 'info', 'on a new symbol', 1, '2026-01-01' FROM symbols`),
    );
    const before = await tableHashes(name);
    const err = await replaceTablesFromSource({
      sourceUrl: pgUrl(source),
      targetUrl: pgUrl(name),
      tables: [{ schema: 'public', name: 'symbols' }],
    }).catch((e: unknown) => e);
    expect((err as DrError).oneLine()).toMatch(
      /^restoring public.symbols would break foreign key alerts_symbol_fk: .* has no match in symbols; restore alerts too/,
    );
    expect(await tableHashes(name)).toEqual(before);
  });
});

describe('replaceTablesFromSource as a role that may not set session_replication_role', () => {
  const role = uniqueName('dr_trole');
  const asRole = (db: string) => pgUrl(db).replace(/^postgres:\/\/[^@]+@/, `postgres://${role}@`);

  beforeAll(async () => {
    await withClient('postgres', (c) => c.query(`CREATE ROLE "${role}" LOGIN`));
  });
  afterAll(async () => {
    for (const name of databases.splice(1)) await dropDatabase(name);
    await withClient('postgres', (c) => c.query(`DROP ROLE IF EXISTS "${role}"`));
  });

  /** A copy of the source whose tables the role owns (as an application role would). */
  async function ownedCopy(): Promise<string> {
    const name = await cloneOfSource();
    await withClient(name, async (c) => {
      const { rows } = await c.query<{ t: string }>(
        `SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`,
      );
      for (const { t } of rows) await c.query(`ALTER TABLE ${t} OWNER TO "${role}"`);
      await c.query(`GRANT CREATE ON SCHEMA public TO "${role}"`);
    });
    return name;
  }

  it('turns user triggers off per table instead, so the audit trigger writes nothing', async () => {
    const name = await ownedCopy();
    await withClient(name, (c) => c.query(`UPDATE alerts SET message = 'changed'`));
    const before = await tableHashes(name);
    const result = await replaceTablesFromSource({
      sourceUrl: pgUrl(source),
      targetUrl: asRole(name),
      tables: [{ schema: 'public', name: 'alerts' }],
    });
    expect(result.warnings.join('\n')).toMatch(/user triggers were disabled per table/);
    const after = await tableHashes(name);
    expect(after['public.alerts']).toBe((await tableHashes(source))['public.alerts']);
    expect(after['public.audit_logs']).toBe(before['public.audit_logs']);
    const enabled = await withClient(
      name,
      async (c) => (await c.query(`SELECT tgenabled FROM pg_trigger WHERE tgname = 'alerts_audit'`)).rows[0].tgenabled,
    );
    expect(enabled).toBe('O');
  });

  it('a range restore without CREATEDB says so in one line, before the target is touched', async () => {
    const repo = await kinds[0].open();
    await runBackup({ db: pgUrl(source), repository: repo, jobs: 2 });
    const name = await ownedCopy();
    const before = await tableHashes(name);
    const err = await runTableRestore({
      repository: repo,
      backup: 'latest',
      target: asRole(name),
      tables: ['candles'],
      since: '2026-01-10T00:00:00Z',
      until: '2026-01-11T00:00:00Z',
    }).catch((e: unknown) => e);
    expect((err as DrError).oneLine()).toMatch(
      /^cannot create the scratch database \S+__dr_stage_[0-9a-f]{12} on .*permission denied.*; the target user needs CREATEDB/,
    );
    expect(await tableHashes(name)).toEqual(before);
  });

  it('a whole-table restore streams the verified files straight in: no scratch database, so no CREATEDB needed', async () => {
    const repo = await kinds[0].open();
    const id = (await runBackup({ db: pgUrl(source), repository: repo, jobs: 2 })).id;
    const name = await ownedCopy();
    await withClient(name, (c) =>
      c.query(`UPDATE candles SET close = 0 WHERE symbol_id = 2; DELETE FROM alerts WHERE id > 6`),
    );
    const before = await tableHashes(name);
    const result = await runTableRestore({
      repository: repo,
      backup: id,
      target: asRole(name),
      tables: ['candles', 'alerts'],
    });

    expect(result.phases.stageMs).toBe(0);
    expect(result.tables.map((t) => [t.table, t.rowsRestored])).toEqual([
      ['public.candles', 3000],
      ['public.alerts', 12],
    ]);
    const after = await tableHashes(name);
    const sourceHashes = await tableHashes(source);
    const restored = Object.keys(sourceHashes).filter((t) => t.startsWith('public.candles_') || t === 'public.alerts');
    for (const t of restored) expect(after[t], t).toBe(sourceHashes[t]);
    expect(without(after, ...restored)).toEqual(without(before, ...restored));
    expect([...result.files].sort()).toEqual(
      ['data/toc.dat', ...(await dataFilesOf(repo, id, /^public (candles_\S+|alerts) /))].sort(),
    );
    expect(await scratchDatabases(name)).toEqual([]);
  });

  it('refuses a restore whose deletes would cascade into another table, leaving the target unchanged', async () => {
    const name = await ownedCopy();
    const before = await tableHashes(name);
    const err = await replaceTablesFromSource({
      sourceUrl: pgUrl(source),
      targetUrl: asRole(name),
      tables: [{ schema: 'public', name: 'symbols' }],
    }).catch((e: unknown) => e);
    expect((err as DrError).oneLine()).toMatch(
      /^restoring public.symbols would cascade into alerts \(foreign key alerts_symbol_fk ON DELETE acts\).*; run the restore as a role allowed to set session_replication_role/,
    );
    expect(await tableHashes(name)).toEqual(before);
  });
});
