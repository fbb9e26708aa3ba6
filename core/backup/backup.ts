/**
 * `dr backup`: pg_dump in directory format, in parallel, from one exported snapshot; every data
 * file compressed by dr (its rows fingerprinted on the way) and streamed to the repository with
 * its SHA-256; the manifest written last as the commit marker.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat, unlink } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { DrError } from '../errors.ts';
import { localNoSpaceError, noSpaceError } from '../faults.ts';
import { formatBytes } from '../format.ts';
import {
  assertClientNotOlder,
  connect,
  firstErrorLine,
  type PgTools,
  parsePgUrl,
  queryError,
  runTool,
  toolConnectionError,
  toolVersion,
} from '../pg/connection.ts';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  dumpLockError,
  isLockTimeout,
  lockTimeoutError,
  lockTimeoutSql,
} from '../pg/locks.ts';
import { readTimescaleCatalog, unexpectedDumpWarnings, withChunkDataFiles } from '../pg/timescale.ts';
import { phase } from '../progress.ts';
import {
  CHECKSUMS_NAME,
  DATA_DIR,
  fileKey,
  GLOBALS_NAME,
  manifestKey,
  newBackupId,
  RESTORE_GUIDE_NAME,
} from '../repository/layout.ts';
import { type Tier, tierFor } from '../repository/tiers.ts';
import type { Repository, StoredObject } from '../repository/types.ts';
import { workDirFor } from '../restore/leftovers.ts';
import { readToc, type TocEntry, tableDataEntryNamed } from '../restore/toc.ts';
import { throwIfInterrupted } from '../signals.ts';
import { readDatabaseProperties } from '../verify/database-properties.ts';
import * as catalog from './catalog.ts';
import {
  copySessionPgOptions,
  DumpFingerprinter,
  type FingerprintTarget,
  planFingerprints,
  type RowTap,
} from './fingerprint.ts';
import {
  DumpFileClosings,
  DumpStopped,
  FINISHED_ITEM_LINE,
  readGrowingFile,
  STARTED_TABLE_LINE,
} from './growing-file.ts';
import { MANIFEST_FORMAT_VERSION, MANIFEST_KIND, type Manifest, ManifestSchema } from './manifest.ts';
import { checksumList, restoreGuide } from './restore-guide.ts';
import { type Suspicion, suspicionOf } from './suspect.ts';

export interface BackupOptions {
  /** Source database URL (libpq conventions). */
  readonly db: string;
  readonly repository: Repository;
  /** @default - the CPU count */
  readonly jobs?: number;
  /** @default - tierFor(start time): monthly on the 1st, weekly on Sundays, daily otherwise */
  readonly tier?: Tier;
  readonly tools?: PgTools;
  /**
   * Content fingerprints of every table, per day, from the dump's own data as it is uploaded
   * (core/backup/fingerprint.ts); false where the hashing is not wanted (verify then checks counts only).
   * @default true
   */
  readonly fingerprints?: boolean;
  /** Where pg_dump writes before upload. @default - the OS temp directory */
  readonly workDir?: string;
  /** How long pg_dump and the catalog queries wait for another session's lock. @default 5 minutes */
  readonly lockTimeoutMs?: number;
  /** @default - the current time */
  readonly now?: Date;
  readonly log?: (message: string) => void;
}

export interface BackupResult {
  readonly id: string;
  readonly database: string;
  readonly tier: Tier;
  readonly repository: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly files: number;
  readonly bytes: number;
  readonly tables: number;
  readonly rows: number;
  readonly globals: boolean;
  /** Set when the backup shrank against the previous one (core/backup/suspect.ts). */
  readonly suspect: Suspicion | null;
  /**
   * Where the time went: connecting and checks before pg_dump starts; pg_dump running (uploads and
   * dr's catalog queries overlap it: catalogMs of it); after pg_dump, until every upload is done;
   * then the comparison with the previous backup and the manifest.
   */
  readonly phases: {
    readonly prepareMs: number;
    readonly dumpMs: number;
    readonly catalogMs: number;
    readonly afterDumpMs: number;
    /** Waiting, after the uploads, for the content fingerprints of the COPY data to finish. */
    readonly fingerprintWaitMs: number;
    readonly finishMs: number;
  };
  /**
   * CPU time of dr's own process since it started (every thread: gzip runs in libuv's pool), and
   * the share of it spent hashing rows for the content fingerprints; pg_dump's is not in it.
   */
  readonly cpu: { readonly processMs: number; readonly rowHashingMs: number };
  readonly warnings: string[];
}

/** Uploads at most this many files at once, overlapping with pg_dump still writing others; with the S3 part queue, this bounds memory. */
const UPLOAD_CONCURRENCY = 3;

export async function runBackup(options: BackupOptions): Promise<BackupResult> {
  const log = options.log ?? (() => {});
  const tools = options.tools ?? {};
  const source = parsePgUrl(options.db, '--db');
  const repo = options.repository;
  const jobs = options.jobs ?? Math.max(1, cpus().length);
  if (!Number.isInteger(jobs) || jobs < 1)
    throw new DrError(`--jobs must be a whole number ≥ 1, got ${jobs}`, 'e.g. --jobs 4');
  const started = options.now ?? new Date();
  // Where the time goes (npm run bench prints it): monotonic, whatever options.now says.
  const clock = { start: performance.now(), dump: 0, dumped: 0, catalog: 0, uploaded: 0, fingerprinted: 0 };
  const tier = options.tier ?? tierFor(started);
  const id = newBackupId(started);
  const warnings: string[] = [];
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;

  // Everything that can fail cheaply fails before a byte is dumped.
  await repo.assertWritable();
  const pgDump = await toolVersion(tools, 'pg_dump');
  const client = await connect(source.url, 'source');
  let workDir: string | undefined;
  // Stops pg_dump when anything else fails, so no dump outlives the backup it belonged to.
  const abort = new AbortController();
  // What to fingerprint comes from the catalog queries, which run while pg_dump does; uploads wait for it.
  const plan = deferred<FingerprintTarget[] | undefined>();
  // Which data files pg_dump has closed, and a watch of its directory for new ones.
  const closings = new DumpFileClosings();
  let scanner: NodeJS.Timeout | undefined;
  try {
    const server = await catalog.serverInfo(client);
    assertClientNotOlder('pg_dump', pgDump, server.version, server.versionNum);
    // pg_dump writes its data files uncompressed and dr gzips each (level 1: GZIP, in libuv's pool) as
    // it uploads: the rows are hashed for the fingerprints on the way, with no read-back and no
    // decompression. pg_restore of any version finds `N.dat.gz` beside a TOC that says none.
    const compression = 'gzip:1';

    // One snapshot for the dump and every count: the manifest describes exactly what was dumped.
    await client.query(lockTimeoutSql(lockTimeoutMs));
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const snapshot = (await client.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]!.s;
    log(`backup ${id} of ${source.display}: tier ${tier}, pg_dump ${pgDump.text} -j ${jobs} --compress=${compression}`);

    workDir = await workDirFor(options.workDir ?? tmpdir(), 'backup');
    const dumpDir = join(workDir, DATA_DIR);
    // Made here, so it can be watched from the start; pg_dump takes an empty directory.
    await mkdir(dumpDir);
    const fingerprinter = new DumpFingerprinter(plan.promise);
    // A file read while pg_dump writes it needs its table before its first row: from the TOC that
    // pg_dump writes before any data file, or else from its "finished item" line once it is closed.
    let earlyToc: Promise<TocEntry[] | undefined> | undefined;
    const readEarlyToc = () =>
      (earlyToc ??= readToc(tools, dumpDir).then(
        (toc) => {
          fingerprinter.setToc(toc);
          return toc;
        },
        () => undefined,
      ));
    // A single-job dump names each table it starts: that table's file, from the TOC.
    const dumpIdOf = async (table: string) => {
      const toc = await readEarlyToc();
      return toc && tableDataEntryNamed(toc, table)?.dumpId;
    };
    const uploads = new Uploader(
      repo,
      tier,
      (relative) => fileKey(source.database, id, relative),
      async (dumpId, closed) => {
        if (closed && !(await earlyToc)) await closed.catch(() => undefined);
        return fingerprinter.tapFor(dumpId, closings.tagOf(dumpId));
      },
    );
    // A failed upload stops the dump at once: its error is the one reported.
    uploads.onFailure = () => abort.abort();
    // Each data file is compressed and uploaded from the moment pg_dump creates it.
    let scanning = false;
    const scan = async () => {
      if (scanning) return;
      scanning = true;
      try {
        for (const name of await readdir(dumpDir).catch(() => [])) {
          const m = GROWING_DATA_FILE.exec(name);
          if (!m) continue;
          const dumpId = Number(m[1]);
          // The TOC is rewritten at the dump's end: read early only while files are still being written.
          if (!closings.isDone(dumpId)) void readEarlyToc();
          uploads.addDumpFile(dumpDir, name, closings.closing(dumpId));
        }
      } finally {
        scanning = false;
      }
    };
    scanner = setInterval(() => void scan(), SCAN_MS);

    clock.dump = performance.now();
    const dump = runTool(
      tools,
      'pg_dump',
      [
        '--format=directory',
        `--jobs=${jobs}`,
        '--compress=0',
        `--snapshot=${snapshot}`,
        `--lock-wait-timeout=${Math.round(lockTimeoutMs)}`,
        '--no-sync',
        '--verbose',
        `--file=${dumpDir}`,
        source.url,
      ],
      {
        signal: abort.signal,
        // Fixed text forms (UTC times, float digits…), so verify can hash the same COPY text.
        env: { PGOPTIONS: [process.env.PGOPTIONS ?? '', copySessionPgOptions()].join(' ').trim() },
        onStderrLine: (line) => {
          // A parallel worker has closed this item's file: upload it while the dump goes on.
          const m = FINISHED_ITEM_LINE.exec(line);
          if (m) {
            closings.finished(Number(m[1]), m[2]!);
            uploads.addDumpFile(dumpDir, `${m[1]}.dat`);
          }
          // A single job's next table: the file before it is complete.
          const started = jobs === 1 ? STARTED_TABLE_LINE.exec(line) : null;
          if (started) closings.started(started[1]!, dumpIdOf);
        },
      },
    );
    phase('pg_dump and upload');
    const globals = dumpGlobals(tools, source.url, warnings);
    // While pg_dump runs, in the same snapshot (one query at a time on this connection).
    const catalogStarted = performance.now();
    const shapes = await catalog.tableShapes(client);
    const sequences = await catalog.sequences(client);
    const extensions = await catalog.extensions(client);
    const databaseOptions = await catalog.databaseOptions(client);
    const databaseProperties = await readDatabaseProperties(client);
    const schema = await catalog.schemaObjects(client);
    const timescaleCatalog = await readTimescaleCatalog(client);
    const fingerprintPlan =
      options.fingerprints === false
        ? undefined
        : await planFingerprints(client, catalog.tableOutlines(shapes), timescaleCatalog);
    plan.resolve(fingerprintPlan);
    // The rows of a fingerprinted plain table or partition are counted in the dump's own COPY text,
    // as it is hashed: scanning them again for count(*) and max() cost the server as much CPU as
    // pg_dump's COPY of them. Hypertables (compressed batches are not rows), materialized views and
    // the rest are scanned here, in the same snapshot.
    const planned = new Set(fingerprintPlan?.map((t) => `${t.schema}\0${t.name}`));
    const leaves = catalog.leafRelations(shapes);
    const countedInDump = new Set(
      leaves.filter((l) => (l.kind === 'table' || l.kind === 'partition') && planned.has(`${l.schema}\0${l.name}`)),
    );
    const counts = await catalog.scanCounts(
      client,
      leaves.filter((l) => !countedInDump.has(l)),
    );
    clock.catalog = performance.now() - catalogStarted;
    const result = await dump.finally(() => clearInterval(scanner));
    clock.dumped = performance.now();
    if (result.code !== 0) {
      closings.end(false);
      await uploads.settle();
      // An upload that failed first stopped the dump; a reader stopped by the dump's end did not.
      if (uploads.failed !== undefined && !(uploads.failed instanceof DumpStopped)) throw uploads.failed;
      throw (
        toolConnectionError(result.stderr, source.display, 'source') ??
        noSpaceError(result.stderr, 'pg_dump', workDir) ??
        (await dumpLockError(result.stderr, source.url, lockTimeoutMs)) ??
        new DrError(
          `pg_dump failed: ${firstErrorLine(result.stderr)}`,
          'see the pg_dump message; no backup was recorded (no manifest written)',
        )
      );
    }
    // pg_dump's stderr is read on success too: an unexpected warning is the user's to see.
    for (const w of unexpectedDumpWarnings(result.stderr)) {
      warnings.push(w);
      log(`WARNING: ${w}`);
    }

    // toc.dat is rewritten at the end of the dump, and items of a dump without --jobs > 1 do not
    // report: take the rest now, with the table of contents naming each data file's relation.
    const toc = await readToc(tools, dumpDir);
    fingerprinter.setToc(toc);
    closings.end(true);
    for (const name of await readdir(dumpDir)) uploads.addDumpFile(dumpDir, name);
    const globalsSql = await globals;
    if (globalsSql !== undefined) uploads.addBuffer(Buffer.from(globalsSql.sql), GLOBALS_NAME);
    const dataFiles = await uploads.finish();
    // Anyone can check and restore it without dr: the checksum list and the guide, before the manifest.
    uploads.addBuffer(Buffer.from(checksumList(dataFiles)), CHECKSUMS_NAME);
    uploads.addBuffer(
      Buffer.from(
        restoreGuide({
          id,
          database: source.database,
          serverVersion: server.version,
          pgDumpVersion: pgDump.text,
          timescaleVersion: timescaleCatalog?.version,
          timescaleJobs: timescaleCatalog?.jobs,
          globals: globalsSql !== undefined,
        }),
      ),
      RESTORE_GUIDE_NAME,
    );
    const files = await uploads.finish();
    clock.uploaded = performance.now();
    const fingerprints = await fingerprinter.result();
    // A relation whose counts the COPY text could not give (its file not hashed, a time such as
    // infinity) is scanned, still in the dump's snapshot, which is released only then.
    const uncounted: catalog.LeafRelation[] = [];
    for (const leaf of countedInDump) {
      const fromDump = fingerprinter.countsOf(leaf.schema, leaf.name, leaf.timeColumn);
      if (fromDump) counts.set(leaf.oid, fromDump);
      else uncounted.push(leaf);
    }
    for (const [oid, scanned] of await catalog.scanCounts(client, uncounted)) counts.set(oid, scanned);
    await client.query('COMMIT');
    const tables = catalog.withCounts(shapes, counts);
    clock.fingerprinted = performance.now();
    for (const s of fingerprints?.skipped ?? [])
      warnings.push(`${s.table}: content not fingerprinted (${s.reason}); verify checks its counts only`);
    // Each chunk's data files, from the dump's own table of contents: a range restore fetches only those.
    const timescale =
      timescaleCatalog &&
      withChunkDataFiles(
        timescaleCatalog,
        toc,
        (dumpId) =>
          files.find((f) => f.path === `${DATA_DIR}/${dumpId}.dat` || f.path.startsWith(`${DATA_DIR}/${dumpId}.dat.`))
            ?.path,
      );

    const finished = new Date();
    const manifest: Manifest = {
      kind: MANIFEST_KIND,
      formatVersion: MANIFEST_FORMAT_VERSION,
      id,
      database: source.database,
      tier,
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      server,
      databaseOptions,
      databaseProperties,
      dump: { tool: 'pg_dump', version: pgDump.text, format: 'directory', compression, jobs, snapshot },
      extensions,
      files: files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
      globals: globalsSql ? { path: GLOBALS_NAME, rolePasswords: globalsSql.rolePasswords } : null,
      tables,
      sequences,
      schema,
      ...(timescale ? { timescale } : {}),
      ...(fingerprints ? { fingerprints } : {}),
      totals: {
        files: files.length,
        bytes: files.reduce((n, f) => n + f.size, 0),
        rows: tables.filter((t) => t.kind !== 'partitioned').reduce((n, t) => n + t.rows, 0),
      },
    };
    // A backup that shrank against the previous one is marked suspect: `latest` skips it.
    const suspect = await suspicionOf(repo, source.database, manifest);
    if (suspect) {
      manifest.suspect = suspect;
      const warning = `SUSPECT: backup ${id} shrank against ${suspect.previous}: ${suspect.reasons.join('; ')}; --backup latest skips it (latest-any takes it)`;
      warnings.push(warning);
      log(warning);
    }
    // The commit marker: only now does the backup exist for list and restore.
    throwIfInterrupted();
    await repo.put(manifestKey(source.database, id), JSON.stringify(ManifestSchema.parse(manifest), null, 2), {
      tier,
      contentType: 'application/json',
    });
    log(
      `backup ${id} complete: ${manifest.totals.files} files, ${formatBytes(manifest.totals.bytes)}, ${manifest.totals.rows} rows`,
    );
    const cpu = process.cpuUsage();
    return {
      id,
      database: source.database,
      tier,
      repository: repo.url,
      startedAt: manifest.startedAt,
      finishedAt: manifest.finishedAt,
      durationMs: finished.getTime() - started.getTime(),
      files: manifest.totals.files,
      bytes: manifest.totals.bytes,
      tables: tables.length,
      rows: manifest.totals.rows,
      globals: globalsSql !== undefined,
      suspect: manifest.suspect ?? null,
      phases: {
        prepareMs: Math.round(clock.dump - clock.start),
        dumpMs: Math.round(clock.dumped - clock.dump),
        catalogMs: Math.round(clock.catalog),
        afterDumpMs: Math.round(clock.uploaded - clock.dumped),
        fingerprintWaitMs: Math.round(clock.fingerprinted - clock.uploaded),
        finishMs: Math.round(performance.now() - clock.fingerprinted),
      },
      cpu: {
        processMs: Math.round((cpu.user + cpu.system) / 1000),
        rowHashingMs: Number(fingerprinter.hashingMs.toFixed(1)),
      },
      warnings,
    };
  } catch (err) {
    if (isLockTimeout(err)) throw await lockTimeoutError('the backup', source.url, lockTimeoutMs);
    throw queryError(err, `backup of ${source.display}`) ?? err;
  } finally {
    // A backup that failed before the plan: uploads still waiting on it go on, to their abort.
    plan.resolve(undefined);
    clearInterval(scanner);
    closings.end(false);
    abort.abort();
    await client.end().catch(() => {});
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Roles and tablespaces. Managed services (RDS) hide pg_authid, so a plain --globals-only fails
 * there; without role passwords it works, and the passwords are reset on restore anyway.
 */
async function dumpGlobals(
  tools: PgTools,
  url: string,
  warnings: string[],
): Promise<{ sql: string; rolePasswords: boolean } | undefined> {
  const full = await runTool(tools, 'pg_dumpall', ['--globals-only', `--dbname=${url}`]);
  if (full.code === 0) return { sql: full.stdout, rolePasswords: true };
  const noPasswords = await runTool(tools, 'pg_dumpall', ['--globals-only', '--no-role-passwords', `--dbname=${url}`]);
  if (noPasswords.code === 0) {
    warnings.push('globals saved without role passwords (the user cannot read pg_authid)');
    return { sql: noPasswords.stdout, rolePasswords: false };
  }
  warnings.push(`globals not saved: ${firstErrorLine(noPasswords.stderr)}`);
  return undefined;
}

interface UploadedFile extends StoredObject {
  readonly path: string;
}

/**
 * Read, compress and write in 1 MiB pieces: each piece is a trip to libuv's thread pool, and at
 * the 16–64 KiB defaults those trips (futex waits and wake-ups) cost more CPU than the gzip.
 */
const IO_CHUNK = 1 << 20;
/**
 * gzip level 1 with a 2 KiB window (windowBits 11) instead of zlib's 32 KiB: on the market-data
 * COPY text of the bench set, Node's zlib compresses it 20% faster (100 against 84 MB/s) and 9%
 * smaller (ratio 0.375 against 0.412), so a CPU-bound backup is both quicker and smaller. Any
 * gunzip, pg_restore's included, reads every window size.
 */
const GZIP = { level: 1, windowBits: 11 } as const;

/** pg_dump's uncompressed data files: `<dumpId>.dat` of a TABLE DATA item, `blob_<oid>.dat` of a large object. */
const RAW_DATA_FILE = /^(?:(\d+)|blob_\d+)\.dat$/;
/** A TABLE DATA item's file, read while pg_dump writes it (large objects wait for the dump's end). */
const GROWING_DATA_FILE = /^(\d+)\.dat$/;
/** How often the dump directory is looked at for new data files. */
const SCAN_MS = 50;

/** A promise with its resolve function, for a value another part of the flow produces later. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A bounded-concurrency queue of file uploads; each file is uploaded once. */
class Uploader {
  private readonly queued = new Set<string>();
  private readonly pending: (() => Promise<void>)[] = [];
  private readonly done: UploadedFile[] = [];
  private running = 0;
  private failure: unknown;
  private idle: (() => void)[] = [];
  /** Called once, at the first failed upload. */
  onFailure?: () => void;

  /** The first upload failure, if any. */
  get failed(): unknown {
    return this.failure;
  }

  constructor(
    private readonly repo: Repository,
    private readonly tier: Tier,
    private readonly keyFor: (relativePath: string) => string,
    /** Where the rows of data file `<dumpId>.dat` go as they pass, if anywhere; `closed` while pg_dump still writes it. */
    private readonly tapFor: (dumpId: number, closed: Promise<void> | undefined) => Promise<RowTap | undefined>,
  ) {}

  /**
   * Queues pg_dump's file `name` in `dir`: a data file is read (as it grows, until `closed`
   * settles, when pg_dump is still writing it), its rows passing the tap, gzipped and uploaded as
   * `<name>.gz` (to a repository that streams unsized bodies, with no local copy), and then
   * removed; toc.dat and blobs.toc go as they are.
   */
  addDumpFile(dir: string, name: string, closed?: Promise<void>): void {
    const data = RAW_DATA_FILE.exec(name);
    // A `.gz` is the output of a compression this queue started for its raw file (toward S3).
    if (name.endsWith('.gz')) return;
    if (!data) {
      this.add(join(dir, name), `${DATA_DIR}/${name}`);
      return;
    }
    const raw = join(dir, name);
    const relativePath = `${DATA_DIR}/${name}.gz`;
    this.enqueue(relativePath, async () => {
      const tap = data[1] === undefined ? undefined : await this.tapFor(Number(data[1]), closed);
      const passing = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          tap?.write(chunk);
          done(null, chunk);
        },
      });
      const gzip = createGzip({ ...GZIP, chunkSize: IO_CHUNK });
      const reader = readGrowingFile(raw, closed ?? Promise.resolve(), IO_CHUNK);
      let stored: StoredObject | undefined;
      if (this.repo.streamsUnsizedBodies) {
        const compressing = pipeline(reader, passing, gzip);
        // put consumes gzip and owns its failures; the reader's own error reaches put through it.
        compressing.catch(() => undefined);
        stored = await this.repo.put(this.keyFor(relativePath), gzip, { tier: this.tier });
        await compressing;
      } else {
        // Compressed beside itself as it grows, then sent at its known size in one streaming PutObject:
        // S3 multipart would hold parts of every upload in memory.
        try {
          await pipeline(reader, passing, gzip, createWriteStream(`${raw}.gz`, { highWaterMark: IO_CHUNK }));
        } catch (err) {
          throw localNoSpaceError(err, 'dr backup (compressing the dump)', dir) ?? err;
        }
      }
      tap?.end();
      await unlink(raw);
      return stored ?? this.putFile(`${raw}.gz`, relativePath);
    });
  }

  add(localPath: string, relativePath: string): void {
    this.enqueue(relativePath, () => this.putFile(localPath, relativePath));
  }

  private async putFile(localPath: string, relativePath: string): Promise<StoredObject> {
    // The size first: a stream opened on a file that is gone (the work folder removed after a
    // failure) would emit an error nobody listens to yet, and crash dr.
    const expectedSize = (await stat(localPath)).size;
    return this.repo.put(this.keyFor(relativePath), createReadStream(localPath, { highWaterMark: IO_CHUNK }), {
      tier: this.tier,
      expectedSize,
    });
  }

  addBuffer(body: Buffer, relativePath: string): void {
    this.enqueue(relativePath, () => this.repo.put(this.keyFor(relativePath), body, { tier: this.tier }));
  }

  private enqueue(relativePath: string, put: () => Promise<StoredObject>): void {
    if (this.queued.has(relativePath)) return;
    this.queued.add(relativePath);
    this.pending.push(async () => {
      const stored = await put();
      this.done.push({ ...stored, path: relativePath });
    });
    this.pump();
  }

  private pump(): void {
    while (this.running < UPLOAD_CONCURRENCY && this.pending.length > 0 && this.failure === undefined) {
      const task = this.pending.shift()!;
      this.running++;
      task()
        .catch((err) => {
          if (this.failure === undefined) {
            this.failure = err;
            this.onFailure?.();
          }
        })
        .finally(() => {
          this.running--;
          this.pump();
          if (this.running === 0 && (this.pending.length === 0 || this.failure !== undefined))
            for (const resolve of this.idle.splice(0)) resolve();
        });
    }
  }

  /** Waits for in-flight uploads, whatever their outcome. */
  async settle(): Promise<void> {
    if (this.running > 0) await new Promise<void>((r) => this.idle.push(r));
  }

  /** Waits for every queued upload; rethrows the first failure. Files sorted by path. */
  async finish(): Promise<UploadedFile[]> {
    // addMatching lists the directory asynchronously: let those reads land first.
    await new Promise((r) => setImmediate(r));
    while (this.running > 0 || (this.pending.length > 0 && this.failure === undefined)) {
      await this.settle();
    }
    if (this.failure !== undefined) throw this.failure;
    return [...this.done].sort((a, b) => a.path.localeCompare(b.path));
  }
}

/** Byte sizes for people: one rule for every command, defined beside the progress display. */
