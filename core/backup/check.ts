/**
 * `dr check`: the guide's "test backup integrity" without restoring anything. Every file of a
 * backup is read once and compared with the manifest (size and SHA-256); nothing is written.
 */

import { BackupIntegrityError, DrError } from '../errors.ts';
import { phase } from '../progress.ts';
import { completeBackupIds, listDatabases, readManifest, resolveBackup } from '../repository/backups.ts';
import { digestOf } from '../repository/hashing.ts';
import { backupIdTime, fileKey } from '../repository/layout.ts';
import type { Repository } from '../repository/types.ts';
import { holdNewestVerified, type VerifiedHold } from '../repository/verified-hold.ts';
import { checkFile, forEachLimit, missing } from '../restore/fetch.ts';

export interface CheckOptions {
  /** `latest` (default), `all`, or a backup id. */
  readonly backup?: string;
  /** @default - every database in the repository (`latest`/`all`) or the one holding the id */
  readonly database?: string;
  /** Files read at once. @default 4 */
  readonly concurrency?: number;
  /**
   * Fails the check when a database's newest complete backup started longer ago than this
   * (milliseconds), or it has none. @default - no age limit
   */
  readonly maxAgeMs?: number;
  /** @default - now */
  readonly now?: Date;
  /**
   * Place an S3 Legal Hold on the newest backup of each database that passed, releasing the hold
   * on the one held before (core/repository/verified-hold.ts; needs s3:PutObjectLegalHold). @default false
   */
  readonly hold?: boolean;
  readonly log?: (message: string) => void;
}

/** A database whose newest complete backup is older than --max-age. */
export interface StaleDatabase {
  readonly database: string;
  /** The newest complete backup, or null when there is none. */
  readonly id: string | null;
  readonly ageSeconds: number | null;
  readonly maxAgeSeconds: number;
}

export interface CheckedBackup {
  readonly database: string;
  readonly id: string;
  readonly ok: boolean;
  readonly files: number;
  readonly bytes: number;
  /** The first problem found, when not ok. */
  readonly problem?: string;
}

export interface CheckResult {
  readonly passed: boolean;
  readonly backups: CheckedBackup[];
  /** With maxAgeMs: the databases whose newest backup is too old (they fail the check). */
  readonly stale: StaleDatabase[];
  /** With `hold`: the newest verified backup held per database. */
  readonly holds?: VerifiedHold[];
}

export async function checkBackups(repo: Repository, options: CheckOptions = {}): Promise<CheckResult> {
  const backup = options.backup ?? 'latest';
  const targets: { database: string; id: string }[] = [];
  if (backup === 'latest' || backup === 'all') {
    const databases = options.database ? [options.database] : await listDatabases(repo);
    for (const database of databases) {
      const ids = await completeBackupIds(repo, database);
      for (const id of backup === 'latest' ? ids.slice(0, 1) : ids) targets.push({ database, id });
    }
    if (targets.length === 0)
      throw new DrError(
        `no complete backups in ${repo.url}${options.database ? ` for ${options.database}` : ''}`,
        'check --repo and --database (dr list)',
      );
  } else {
    const found = await resolveBackup(repo, backup, options.database);
    targets.push({ database: found.database, id: found.ids[0]! });
  }
  const backups: CheckedBackup[] = [];
  for (const t of targets) {
    options.log?.(`checking backup ${t.id} of ${t.database}`);
    backups.push(await checkOne(repo, t.database, t.id, options.concurrency ?? 4));
  }
  const stale =
    options.maxAgeMs === undefined
      ? []
      : await staleDatabases(repo, options.maxAgeMs, options.now ?? new Date(), options.database);
  const holds: VerifiedHold[] = [];
  if (options.hold) {
    for (const database of [...new Set(backups.map((b) => b.database))]) {
      const newestOk = backups
        .filter((b) => b.database === database && b.ok)
        .map((b) => b.id)
        .sort()
        .at(-1);
      if (newestOk)
        holds.push(await holdNewestVerified(repo, database, newestOk, { now: options.now, log: options.log }));
    }
  }
  return {
    passed: backups.every((b) => b.ok) && stale.length === 0,
    backups,
    stale,
    ...(options.hold ? { holds } : {}),
  };
}

/** Databases whose newest complete backup (by its start time) is older than `maxAgeMs`. */
async function staleDatabases(
  repo: Repository,
  maxAgeMs: number,
  now: Date,
  database?: string,
): Promise<StaleDatabase[]> {
  const stale: StaleDatabase[] = [];
  for (const db of database ? [database] : await listDatabases(repo)) {
    const newest = (await completeBackupIds(repo, db))[0];
    const ageMs = newest === undefined ? undefined : now.getTime() - backupIdTime(newest).getTime();
    if (ageMs !== undefined && ageMs <= maxAgeMs) continue;
    stale.push({
      database: db,
      id: newest ?? null,
      ageSeconds: ageMs === undefined ? null : Math.round(ageMs / 1000),
      maxAgeSeconds: Math.round(maxAgeMs / 1000),
    });
  }
  return stale;
}

async function checkOne(repo: Repository, database: string, id: string, concurrency: number): Promise<CheckedBackup> {
  let files = 0;
  let bytes = 0;
  try {
    const manifest = await readManifest(repo, database, id);
    phase(`checking backup ${id} of ${database}`, { bytes: manifest.totals.bytes, files: manifest.files.length });
    await forEachLimit(manifest.files, concurrency, async (f) => {
      const actual = await repo
        .get(fileKey(database, id, f.path))
        .then(digestOf)
        .catch((err: unknown) => {
          throw missing(manifest, f, err);
        });
      checkFile(manifest, f, actual);
      files += 1;
      bytes += actual.size;
    });
    return { database, id, ok: true, files, bytes };
  } catch (err) {
    if (!(err instanceof BackupIntegrityError)) throw err;
    return { database, id, ok: false, files, bytes, problem: err.message };
  }
}
