/**
 * Getting a backup's files onto local disk, each checked against the manifest (size and SHA-256)
 * before anything reads it. A file:// repository is checked in place: no copy.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Manifest, ManifestFile } from '../backup/manifest.ts';
import { BackupIntegrityError, DrError } from '../errors.ts';
import { AccessError } from '../faults.ts';
import { formatBytes } from '../format.ts';
import { phase } from '../progress.ts';
import { digestOf, Sha256Stream } from '../repository/hashing.ts';
import { DATA_DIR, fileKey } from '../repository/layout.ts';
import type { Repository } from '../repository/types.ts';
import { throwIfInterrupted } from '../signals.ts';

export interface FetchedBackup {
  /** Local directory holding the backup's files by their manifest paths (`data/…`, `globals.sql`). */
  readonly root: string;
  /** The pg_dump directory inside `root`. */
  readonly dumpDir: string;
  /** True when `root` is the repository itself (file://) and must not be deleted. */
  readonly inPlace: boolean;
  readonly bytes: number;
  readonly downloadMs: number;
  readonly verifyMs: number;
}

export interface FetchOptions {
  /** Only these manifest paths; @default - every file of the backup */
  readonly paths?: readonly string[];
  /** Empty directory to download into (remote repositories). */
  readonly workDir: string;
  /** @default 4 */
  readonly concurrency?: number;
}

/** Head-room kept free beyond the files' sizes when downloading. */
const SPACE_MARGIN = 1.05;

export async function fetchVerified(
  repo: Repository,
  manifest: Manifest,
  options: FetchOptions,
): Promise<FetchedBackup> {
  const wanted = options.paths ? new Set(options.paths) : undefined;
  const files = manifest.files.filter((f) => !wanted || wanted.has(f.path));
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const concurrency = options.concurrency ?? 4;
  const key = (f: ManifestFile) => fileKey(manifest.database, manifest.id, f.path);

  const localFile = repo.localPath?.(fileKey(manifest.database, manifest.id, DATA_DIR));
  if (localFile !== undefined) {
    const root = dirname(localFile);
    const started = Date.now();
    phase(`verifying backup ${manifest.id}`, { bytes, files: files.length });
    await forEachLimit(files, concurrency, async (f) => {
      const path = join(root, f.path);
      let actual: { size: number; sha256: string };
      try {
        actual = await digestOf(createReadStream(path));
      } catch (err) {
        throw missing(manifest, f, err);
      }
      checkFile(manifest, f, actual);
    });
    return { root, dumpDir: join(root, DATA_DIR), inPlace: true, bytes, downloadMs: 0, verifyMs: Date.now() - started };
  }

  const free = await freeBytes(options.workDir);
  if (free !== undefined && free < bytes * SPACE_MARGIN) {
    throw new DrError(
      `not enough free space in ${options.workDir}: backup ${manifest.id} needs ${formatBytes(Math.ceil(bytes * SPACE_MARGIN))}, ${formatBytes(free)} is free`,
      'free some space there or pass --work-dir on a larger volume',
    );
  }
  const started = Date.now();
  phase(`downloading and verifying backup ${manifest.id}`, { bytes, files: files.length });
  await forEachLimit(files, concurrency, async (f) => {
    const target = join(options.workDir, f.path);
    await mkdir(dirname(target), { recursive: true });
    const body = await repo.get(key(f)).catch((err: unknown) => {
      throw missing(manifest, f, err);
    });
    // Hash while downloading: verification costs no second read.
    const hasher = new Sha256Stream();
    await pipeline(body, hasher, createWriteStream(target));
    checkFile(manifest, f, hasher.result());
  });
  const elapsed = Date.now() - started;
  return {
    root: options.workDir,
    dumpDir: join(options.workDir, DATA_DIR),
    inPlace: false,
    bytes,
    downloadMs: elapsed,
    verifyMs: 0,
  };
}

export function missing(manifest: Manifest, f: ManifestFile, err: unknown): DrError {
  // Permissions are not damage: say so, and stop (no fallback to older backups).
  if (err instanceof AccessError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES' || code === 'EPERM') {
    return new AccessError(
      `cannot read ${f.path} of backup ${manifest.id} (permission denied: ${(err as NodeJS.ErrnoException).path ?? 'the repository'})`,
      'run as a user that may read the repository directory',
      1,
      { cause: err },
    );
  }
  return new BackupIntegrityError(
    `backup ${manifest.id}: file ${f.path} is missing (${(err as Error).message})`,
    'the backup is damaged; restore another one',
    1,
    { cause: err },
  );
}

export function checkFile(manifest: Manifest, f: ManifestFile, actual: { size: number; sha256: string }): void {
  if (actual.size !== f.size) {
    const how = actual.size < f.size ? 'truncated' : 'longer than recorded';
    throw new BackupIntegrityError(
      `backup ${manifest.id}: file ${f.path} is ${how} (${actual.size} bytes, manifest says ${f.size})`,
      'the backup is damaged; restore another one',
    );
  }
  if (actual.sha256 !== f.sha256) {
    throw new BackupIntegrityError(
      `backup ${manifest.id}: checksum mismatch for ${f.path} (sha256 ${actual.sha256.slice(0, 12)}…, manifest says ${f.sha256.slice(0, 12)}…)`,
      'the backup is damaged; restore another one',
    );
  }
}

async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      throwIfInterrupted();
      // next < items.length was checked just above, with no await in between.
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
}
