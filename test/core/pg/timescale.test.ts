/**
 * The platform's real database: the TimescaleDB sample (hypertables with compressed chunks, a
 * continuous aggregate, policy jobs) backed up, restored with the default parallel jobs and
 * verified, against the run's real TimescaleDB server (test/support/timescale.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../../core/backup/backup.ts';
import * as catalog from '../../../core/backup/catalog.ts';
import type { Manifest } from '../../../core/backup/manifest.ts';
import { runDrill } from '../../../core/drill/run.ts';
import { DrError } from '../../../core/errors.ts';
import { unexpectedDumpWarnings } from '../../../core/pg/timescale.ts';
import { readManifest } from '../../../core/repository/backups.ts';
import type { Repository } from '../../../core/repository/index.ts';
import { fileKey, manifestKey } from '../../../core/repository/layout.ts';
import { runRestore } from '../../../core/restore/full.ts';
import { verifyAgainstManifest } from '../../../core/verify/verify.ts';
import { createDatabase, databaseExists, dropDatabase, pgUrl, uniqueName } from '../../../fixtures/pg.ts';
import { createSampleDatabase, TIMESCALE_SAMPLE } from '../../../fixtures/sample-database.ts';
import { compareDatabases } from '../../support/compare.ts';
import {
  type TimescaleFixture,
  timescaleBackupAndRestore,
  timescaleUrl,
  withTimescaleClient,
} from '../../support/timescale.ts';

let fx: TimescaleFixture;
let source: string;
let repo: Repository;
let manifest: Manifest;
let restored: string;

const scalar = async <T>(database: string, sql: string): Promise<T> =>
  withTimescaleClient(database, async (c) => Object.values((await c.query(sql)).rows[0] as object)[0] as T);

/** A database on the TimescaleDB server for this file, dropped at the end. */
const name = (prefix: string) => fx.name(prefix);

beforeAll(async () => {
  fx = await timescaleBackupAndRestore('dr_ts');
  ({ source, repo, manifest, restored } = fx);
});

afterAll(async () => {
  await fx.cleanup();
});

describe('TimescaleDB backup', () => {
  it('counts rows and freshness through each hypertable, compressed chunks included, in the manifest', async () => {
    const candles = manifest.tables.find((t) => t.name === 'candles')!;
    expect(candles).toMatchObject({
      kind: 'hypertable',
      timeColumn: 'time',
      rows: await scalar<number>(source, 'SELECT count(*)::int FROM candles'),
    });
    const newest = await withTimescaleClient(source, async (c) => {
      await c.query(`SET TimeZone = 'UTC'`);
      return (await c.query('SELECT max(time)::text AS m FROM candles')).rows[0].m;
    });
    expect(candles.maxTime).toBe(newest);
    expect(manifest.tables.find((t) => t.name === 'indicators')).toMatchObject({ kind: 'hypertable', rows: 756 });
    // Chunks and TimescaleDB's own tables are parts of hypertables, not tables of their own.
    expect(manifest.tables.filter((t) => t.schema.startsWith('_timescaledb'))).toEqual([]);
    expect(manifest.sequences.map((s) => s.schema)).not.toContain('_timescaledb_internal');
    expect(manifest.sequences.map((s) => s.schema)).not.toContain('_timescaledb_catalog');
  });

  it("records every table's rows and newest time as a scan of each says, plain tables counted from the dump's COPY text", async () => {
    const scanned = await withTimescaleClient(source, async (c) => {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      const tables = await catalog.tables(c);
      await c.query('COMMIT');
      return tables;
    });
    const countsOf = (tables: readonly { schema: string; name: string; rows: number; maxTime?: string | null }[]) =>
      Object.fromEntries(tables.map((t) => [`${t.schema}.${t.name}`, { rows: t.rows, maxTime: t.maxTime }]));
    expect(countsOf(manifest.tables)).toEqual(countsOf(scanned));
    // Both ways are in play: hypertables scanned, plain tables (fingerprinted) from the dump.
    expect(manifest.tables.some((t) => t.kind === 'hypertable')).toBe(true);
    expect(manifest.tables.some((t) => t.kind === 'table' && t.rows > 0 && t.maxTime)).toBe(true);
  });

  it("records the version, each hypertable's chunks with range, compression and data files, the continuous aggregate and the jobs", async () => {
    const ts = manifest.timescale!;
    expect(ts.version).toBe('2.28.3');
    const candles = ts.hypertables.find((h) => h.name === 'candles')!;
    const chunkCount = await scalar<number>(source, `SELECT count(*)::int FROM show_chunks('candles')`);
    const compressedCount = await scalar<number>(
      source,
      `SELECT count(*)::int FROM timescaledb_information.chunks WHERE hypertable_name = 'candles' AND is_compressed`,
    );
    expect(candles.chunks).toHaveLength(chunkCount);
    expect(candles.chunks.filter((c) => c.compressed)).toHaveLength(compressedCount);
    expect(compressedCount).toBeGreaterThan(0);
    expect(compressedCount).toBeLessThan(chunkCount);
    const files = new Set(manifest.files.map((f) => f.path));
    for (const chunk of candles.chunks) {
      expect(chunk.rangeStart).toMatch(/^\d{4}-\d{2}-\d{2} 00:00:00\+00$/);
      // A compressed chunk's rows are in its compressed chunk's file; both are recorded.
      expect(chunk.dataFiles.length).toBe(chunk.compressed ? 2 : 1);
      for (const f of chunk.dataFiles) expect(files.has(f)).toBe(true);
    }
    expect(
      candles.chunks.every(
        (c) =>
          c.compressed ===
          Date.parse(`${c.rangeEnd!.replace(' ', 'T').replace('+00', 'Z')}`) <=
            Date.parse(TIMESCALE_SAMPLE.compressedBefore),
      ),
    ).toBe(true);
    expect(ts.continuousAggregates).toEqual([
      {
        schema: 'public',
        name: 'candles_daily',
        rows: await scalar<number>(source, 'SELECT count(*)::int FROM candles_daily'),
        materializedOnly: true,
      },
    ]);
    expect(ts.jobs.map((j) => [j.proc.replace(/^.*\./, ''), j.hypertable, j.scheduled])).toEqual([
      ['policy_compression', 'public.candles', true],
      ['policy_retention', 'public.indicators', true],
      ['policy_refresh_continuous_aggregate', 'public.candles_daily', true],
    ]);
  });

  it("tolerates pg_dump's known TimescaleDB warnings by name and surfaces any other", () => {
    const stderr = [
      'pg_dump: warning: there are circular foreign-key constraints on this table:',
      'pg_dump: detail: continuous_agg',
      'pg_dump: hint: You might not be able to restore the dump without using --disable-triggers or temporarily dropping the constraints.',
      'pg_dump: hint: Consider using a full dump instead of a --data-only dump to avoid this problem.',
      'pg_dump: NOTICE:  hypertable data are in the chunks, no data will be copied',
      'pg_dump: warning: there are circular foreign-key constraints on this table:',
      'pg_dump: detail: orders',
      'pg_dump: reading extensions',
      'pg_dump: warning: could not find where to insert IF EXISTS in statement "x"',
    ].join('\n');
    expect(unexpectedDumpWarnings(stderr)).toEqual([
      'pg_dump warning: there are circular foreign-key constraints on this table: (orders)',
      'pg_dump warning: could not find where to insert IF EXISTS in statement "x"',
    ]);
  });
});

describe('TimescaleDB full restore (default parallel jobs)', () => {
  it('is identical to the source: schema, every row, sequences', async () => {
    const comparison = await compareDatabases(timescaleUrl(source), timescaleUrl(restored));
    expect(comparison.differences).toEqual([]);
  });

  it('keeps compressed chunks compressed', async () => {
    const compressed = `SELECT string_agg(chunk_name, ',' ORDER BY chunk_name) FROM timescaledb_information.chunks WHERE is_compressed`;
    expect(await scalar(restored, compressed)).toBe(await scalar(source, compressed));
  });

  it("restores the continuous aggregate's rows, and its refresh works", async () => {
    const rows = 'SELECT count(*)::int FROM candles_daily';
    expect(await scalar(restored, rows)).toBe(await scalar(source, rows));
    const copy = await fx.clone();
    await withTimescaleClient(copy, async (c) => {
      await c.query(`INSERT INTO candles VALUES (1, '2026-01-31 12:00:00+00', 1, 2, 1, 1.5, 1000)`);
      await c.query(`CALL refresh_continuous_aggregate('candles_daily', '2026-01-31', '2026-02-01')`);
      const { rows: day } = await c.query(
        `SELECT volume::text FROM candles_daily WHERE symbol_id = 1 AND bucket = '2026-01-31'`,
      );
      const { rows: raw } = await c.query(
        `SELECT sum(volume)::text AS v FROM candles WHERE symbol_id = 1 AND time >= '2026-01-31' AND time < '2026-02-01'`,
      );
      expect(day[0].volume).toBe(raw[0].v);
    });
  });

  it('keeps the policy jobs, scheduled when the source had them due (not run at restore)', async () => {
    const jobs = `SELECT string_agg(j.job_id || ':' || j.scheduled || ':' || s.next_start, ',' ORDER BY j.job_id)
                    FROM timescaledb_information.jobs j JOIN timescaledb_information.job_stats s USING (job_id) WHERE j.job_id >= 1000`;
    expect(await scalar(restored, jobs)).toBe(
      '1000:true:2100-01-01 00:00:00+00,1001:true:2100-01-01 00:00:00+00,1002:true:2100-01-01 00:00:00+00',
    );
  });

  it('creates a new chunk for a row in a future time range', async () => {
    const copy = await fx.clone();
    const before = await scalar<number>(copy, `SELECT count(*)::int FROM show_chunks('candles')`);
    await withTimescaleClient(copy, (c) =>
      c.query(`INSERT INTO candles VALUES (2, '2027-06-01 00:00:00+00', 1, 2, 1, 1.5, 10)`),
    );
    expect(await scalar<number>(copy, `SELECT count(*)::int FROM show_chunks('candles')`)).toBe(before + 1);
  });
});

describe('TimescaleDB verify', () => {
  const verify = (database: string) => verifyAgainstManifest({ manifest, target: timescaleUrl(database) });

  const damaged = (sql: string) => fx.clone(sql);

  it("passes a faithful restore, comparing chunks, compression, the continuous aggregate and jobs (not TimescaleDB's bookkeeping)", async () => {
    const result = await verify(restored);
    expect(result.checks.filter((c) => !c.passed)).toEqual([]);
    const names = new Set(result.checks.map((c) => c.name));
    for (const n of ['chunk-count', 'compressed-chunks', 'continuous-aggregate', 'job'])
      expect(names.has(n)).toBe(true);
    expect(result.checks.some((c) => c.object.includes('bgw_job_stat'))).toBe(false);
  });

  it('fails on a row deleted from a compressed chunk, naming the hypertable', async () => {
    const copy = await damaged(
      `DELETE FROM candles WHERE symbol_id = 1 AND time = (SELECT min(time) FROM candles WHERE symbol_id = 1)`,
    );
    const failed = (await verify(copy)).checks.filter((c) => !c.passed);
    expect(failed).toContainEqual(
      expect.objectContaining({ name: 'row-count', object: 'public.candles', expected: 3000, actual: 2999 }),
    );
  });

  it('fails on a missing continuous aggregate', async () => {
    const copy = await damaged(`DROP MATERIALIZED VIEW candles_daily`);
    const failed = (await verify(copy)).checks.filter((c) => !c.passed);
    expect(failed).toContainEqual(
      expect.objectContaining({ name: 'continuous-aggregate', object: 'public.candles_daily', actual: null }),
    );
    expect(failed).toContainEqual(expect.objectContaining({ name: 'job', actual: null }));
  });

  it('fails on a chunk decompressed', async () => {
    const copy = await damaged(`SELECT decompress_chunk(c) FROM show_chunks('candles') c LIMIT 1`);
    const failed = (await verify(copy)).checks.filter((c) => !c.passed);
    // Its rows moved out of the compressed relation: the content check sees that too.
    expect(failed.map((c) => `${c.name} ${c.object}`).sort()).toEqual([
      'compressed-chunks public.candles',
      'content public.candles',
    ]);
  });

  it('fails on a changed policy', async () => {
    const copy = await damaged(`SELECT alter_job(1000, schedule_interval => INTERVAL '1 day')`);
    const failed = (await verify(copy)).checks.filter((c) => !c.passed);
    expect(failed).toEqual([
      expect.objectContaining({ name: 'job', object: 'job 1000 (policy_compression on public.candles)' }),
    ]);
  });
});

describe('TimescaleDB restore refusals (target untouched)', () => {
  /** The backup again under a new id, its manifest edited by `edit`. */
  async function forged(id: string, edit: (m: Manifest) => Manifest): Promise<string> {
    for (const f of manifest.files)
      await repo.put(fileKey(source, id, f.path), await repo.get(fileKey(source, manifest.id, f.path)), {
        tier: 'daily',
      });
    await repo.put(manifestKey(source, id), JSON.stringify(edit(manifest)), { tier: 'daily' });
    return id;
  }

  it('refuses a TimescaleDB version the target server cannot create, naming both and how to fix it', async () => {
    const id = await forged('20260101T020000Z-7515db', (m) => ({
      ...m,
      id: '20260101T020000Z-7515db',
      extensions: m.extensions.map((e) => (e.name === 'timescaledb' ? { ...e, version: '2.14.2' } : e)),
    }));
    const target = name('dr_ts_mismatch');
    const err = await runRestore({ repository: repo, backup: id, target: timescaleUrl(target) }).catch((e) => e);
    expect(err).toBeInstanceOf(DrError);
    expect(err.oneLine()).toMatch(
      /needs TimescaleDB 2\.14\.2, the target server can create only 2\.28\.3; install TimescaleDB 2\.14\.2 .*ALTER EXTENSION timescaledb UPDATE/,
    );
    expect(
      await withTimescaleClient(
        'postgres',
        async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [target])).rowCount,
      ),
    ).toBe(0);
  });

  it("refuses a server where TimescaleDB is installed but not preloaded (the machine's own server)", async () => {
    const target = uniqueName('dr_ts_nopreload');
    const err = await runRestore({ repository: repo, backup: manifest.id, target: pgUrl(target) }).catch((e) => e);
    expect(err).toBeInstanceOf(DrError);
    expect(err.oneLine()).toMatch(
      /TimescaleDB installed but not preloaded .*add timescaledb to shared_preload_libraries/,
    );
    expect(await databaseExists(target)).toBe(false);
    await dropDatabase(target);
  });

  it('a plain PostgreSQL backup restores on the TimescaleDB server unchanged', async () => {
    const plain = uniqueName('dr_ts_plain_src');
    await createDatabase(plain);
    try {
      await createSampleDatabase(pgUrl(plain), { scale: 12 });
      const backup = await runBackup({ db: pgUrl(plain), repository: repo, jobs: 2 });
      const target = name('dr_ts_plain');
      await runRestore({
        repository: repo,
        backup: backup.id,
        database: plain,
        target: timescaleUrl(target),
        noOwner: true,
      });
      const result = await verifyAgainstManifest({
        manifest: await readManifest(repo, plain, backup.id),
        target: timescaleUrl(target),
      });
      expect(result.checks.filter((c) => !c.passed)).toEqual([]);
    } finally {
      await dropDatabase(plain);
    }
  });
});

describe('TimescaleDB drill', () => {
  it('restores the platform database into the scratch database, verifies it (policies held), drops it and passes', async () => {
    const server = timescaleUrl('postgres').replace(/\/postgres$/, '');
    const { report } = await runDrill({
      repository: repo,
      source: timescaleUrl(source),
      scratchServer: server,
      backup: manifest.id,
    });
    expect(report.passed, report.summary).toBe(true);
    expect(report.verification!.passed).toBe(true);
    expect(report.scratch).toMatchObject({ dropped: true });
    const left = await withTimescaleClient(
      'postgres',
      async (c) => (await c.query(`SELECT datname FROM pg_database WHERE datname LIKE 'drill\\_%'`)).rows,
    );
    expect(left).toEqual([]);
  });
});
