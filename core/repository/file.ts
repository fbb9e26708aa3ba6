import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { link, mkdir, open, readdir, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { getSystemErrorMap } from 'node:util';
import { DrError } from '../errors.ts';
import { AccessError } from '../faults.ts';
import { Sha256Stream, toReadable } from './hashing.ts';
import type { ObjectInfo, PutOptions, Repository, StoredObject } from './types.ts';

/** Temp files of in-flight puts; never listed, and no key may name one. */
const TEMP_PREFIX = '.tmp-';

/**
 * A repository in a local directory (the recovery guide's ./backups).
 *
 * Accepted URLs: `file:///abs/dir`, and `file://./rel` or `file://../rel`, resolved against the
 * current directory when opened (`file://backups` would name a host, so it is refused).
 * Keys map to files under the root; `put` publishes with link(2), so a key is visible only when
 * complete and is never overwritten.
 *
 * Retention tiers are accepted and ignored: a filesystem has no tags or lifecycle rules, and the
 * local guide prunes ./backups by hand.
 */
export class FileRepository implements Repository {
  readonly url: string;
  readonly streamsUnsizedBodies = true;

  constructor(readonly root: string) {
    this.root = resolve(root);
    this.url = pathToFileURL(this.root).href;
  }

  /** The root directory a `file://` URL names, or undefined when the URL is not one we accept. */
  static rootFromUrl(url: string, cwd: string = process.cwd()): string | undefined {
    if (!url.startsWith('file://')) return undefined;
    const rest = url.slice('file://'.length);
    if (rest.startsWith('/')) {
      try {
        return fileURLToPath(url);
      } catch {
        return undefined;
      }
    }
    if (rest === '.' || rest === '..' || rest.startsWith('./') || rest.startsWith('../')) {
      try {
        return resolve(cwd, decodeURIComponent(rest));
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  async assertWritable(): Promise<void> {
    const probe = join(this.root, `${TEMP_PREFIX}probe-${randomBytes(6).toString('hex')}`);
    try {
      await makeDirs(this.root);
      const handle = await open(probe, 'wx');
      await handle.close();
      await unlink(probe);
    } catch (err) {
      throw new DrError(
        `cannot write to repository directory ${this.root}: ${osReason(err)}`,
        'choose a writable directory, e.g. --repo file://./backups',
        1,
        { cause: err },
      );
    }
  }

  async put(key: string, body: Readable | Buffer | string, _options: PutOptions): Promise<StoredObject> {
    const finalPath = this.pathOf(key);
    const tempPath = join(dirname(finalPath), `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    const hasher = new Sha256Stream();
    const source = toReadable(body);
    let bodyError: unknown;
    source.on('error', (err) => (bodyError ??= err));
    try {
      await this.fs(`create the directory of ${key}`, () => makeDirs(dirname(finalPath)));
      const handle = await this.fs(`write ${key}`, () => open(tempPath, 'wx'));
      try {
        // The disk's own error (ENOSPC, EIO): pipeline may report its AbortError instead.
        let diskError: unknown;
        try {
          await pipeline(
            source,
            hasher,
            // A FileHandle sink rather than a WriteStream: the handle must stay open for fsync.
            async (chunks: AsyncIterable<Buffer>) => {
              for await (const chunk of chunks) {
                for (let offset = 0; offset < chunk.length; ) {
                  offset += (
                    await handle.write(chunk, offset).catch((err: unknown) => {
                      diskError ??= err;
                      throw err;
                    })
                  ).bytesWritten;
                }
              }
            },
          );
        } catch (err) {
          // A failing body is the caller's to report; a failing disk (ENOSPC, EIO) the user's to fix.
          if (err === bodyError && diskError === undefined) throw err;
          throw this.writeFailure(`write ${key}`, diskError ?? err);
        }
        await this.fs(`flush ${key} to disk`, () => handle.sync());
      } finally {
        await handle.close().catch(() => undefined);
      }
      try {
        await link(tempPath, finalPath);
      } catch (err) {
        if (errnoCode(err) === 'EEXIST') {
          throw new DrError(
            `object ${key} already exists in ${this.url}; backups are write-once`,
            'use a new backup id instead of overwriting',
          );
        }
        throw this.writeFailure(`publish ${key}`, err);
      }
      await syncDirectory(dirname(finalPath));
    } catch (err) {
      // put owns the body: a producer blocked on it (pg_dump) must not wait forever.
      source.destroy();
      throw err;
    } finally {
      await unlink(tempPath).catch(() => undefined);
    }
    return { key, ...hasher.result() };
  }

  async get(key: string): Promise<Readable> {
    const path = this.pathOf(key);
    const handle = await open(path, 'r').catch((err: unknown) => {
      if (isMissing(err)) return undefined;
      // Permissions are not damage: no fallback to older backups the same user cannot read either.
      if (errnoCode(err) === 'EACCES' || errnoCode(err) === 'EPERM') {
        throw new AccessError(
          `cannot read ${key} in ${this.url} (permission denied)`,
          'run as a user that may read the repository directory',
          1,
          { cause: err },
        );
      }
      throw err;
    });
    // Opening a directory succeeds on Linux, but it is no object.
    if (!handle || !(await handle.stat()).isFile()) {
      await handle?.close();
      throw new DrError(`object ${key} not found in ${this.url}`, 'check the backup id with `dr list`');
    }
    return handle.createReadStream();
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const stats = await stat(this.pathOf(key)).catch((err: unknown) => {
      if (isMissing(err)) return undefined;
      throw err;
    });
    return stats?.isFile() ? { size: stats.size, lastModified: stats.mtime } : undefined;
  }

  async list(prefix: string, options?: { readonly delimiter?: string }): Promise<string[]> {
    const slash = prefix.lastIndexOf('/');
    const baseKey = prefix.slice(0, slash + 1);
    const partial = prefix.slice(slash + 1);
    if (baseKey && !isValidKey(baseKey.slice(0, -1))) return [];
    const baseDir = join(this.root, ...baseKey.split('/'));
    const delimiter = options?.delimiter;

    if (delimiter === '/') {
      // One level down; a folder counts only if some object lies under it, as on S3.
      const found: string[] = [];
      for (const entry of await readEntries(baseDir)) {
        if (!entry.name.startsWith(partial)) continue;
        if (entry.isFile() && !entry.name.startsWith(TEMP_PREFIX)) found.push(`${baseKey}${entry.name}`);
        if (entry.isDirectory() && (await containsFile(join(baseDir, entry.name))))
          found.push(`${baseKey}${entry.name}/`);
      }
      return found.sort();
    }

    const keys: string[] = [];
    await walk(baseDir, baseKey, (key) => {
      if (key.startsWith(prefix)) keys.push(key);
    });
    if (!delimiter) return keys.sort();
    const entries = new Set<string>();
    for (const key of keys) {
      const at = key.indexOf(delimiter, prefix.length);
      entries.add(at >= 0 ? key.slice(0, at + delimiter.length) : key);
    }
    return [...entries].sort();
  }

  localPath(key: string): string {
    return this.pathOf(key);
  }

  async assertExists(): Promise<void> {
    const stats = await stat(this.root).catch((err: unknown) => {
      if (isMissing(err)) return undefined;
      throw new DrError(
        `cannot read repository directory ${this.root}: ${osReason(err)}`,
        'check --repo and its permissions',
        1,
        { cause: err },
      );
    });
    if (!stats)
      throw new DrError(`repository directory ${this.root} does not exist`, 'check --repo (dr backup creates it)');
    if (!stats.isDirectory()) throw new DrError(`repository ${this.root} is not a directory`, 'check --repo');
  }

  /** Unlinks the file, then its folders up to the root while they are empty. */
  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await unlink(path);
    } catch (err) {
      if (isMissing(err)) return;
      const code = errnoCode(err);
      const why =
        code === 'EPERM'
          ? ' (immutable or append-only: chattr -i to allow it)'
          : code === 'EROFS'
            ? ' (read-only filesystem)'
            : '';
      throw new DrError(
        `cannot remove ${key} from ${this.url}: ${osReason(err)}${why}`,
        'it stays; fix the permissions or the lock if it should go',
        1,
        { cause: err },
      );
    }
    for (let dir = dirname(path); dir.startsWith(this.root + sep) && dir !== this.root; dir = dirname(dir)) {
      if (
        !(await rmdir(dir).then(
          () => true,
          () => false,
        ))
      )
        break;
    }
  }

  /** Rejects keys that would escape the root or collide with temp files: a bug in the caller. */
  private pathOf(key: string): string {
    if (!isValidKey(key)) throw new Error(`invalid repository key ${JSON.stringify(key)}`);
    return join(this.root, ...key.split('/'));
  }

  private async fs<T>(action: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw this.writeFailure(action, err);
    }
  }

  private writeFailure(action: string, err: unknown): DrError {
    return new DrError(
      `cannot ${action} in ${this.url}: ${osReason(err)}`,
      'check free space and permissions of the repository directory',
      1,
      { cause: err },
    );
  }
}

/**
 * `mkdir -p` that fails at once: Node's recursive mkdir retries forever where mkdir(2) answers
 * ENOENT for a path whose parent exists (/proc, some FUSE mounts). One mkdir per missing level,
 * from the deepest existing ancestor down; any error but EEXIST is the answer.
 */
async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = [];
  let at = resolve(dir);
  for (;;) {
    const stats = await stat(at).catch((err: unknown) => {
      if (isMissing(err)) return undefined;
      throw err;
    });
    if (stats) {
      if (!stats.isDirectory())
        throw Object.assign(new Error(`${at} is not a directory`), { code: 'ENOTDIR', errno: -20 });
      break;
    }
    missing.unshift(at);
    const parent = dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const d of missing) {
    await mkdir(d).catch((err: unknown) => {
      if (errnoCode(err) !== 'EEXIST') throw err;
    });
  }
}

function isValidKey(key: string): boolean {
  if (key === '' || key.includes('\0') || key.includes('\\') || (sep !== '/' && key.includes(sep))) return false;
  return key.split('/').every((part) => part !== '' && part !== '.' && part !== '..' && !part.startsWith(TEMP_PREFIX));
}

async function readEntries(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

async function walk(dir: string, keyPrefix: string, visit: (key: string) => void): Promise<void> {
  for (const entry of await readEntries(dir)) {
    if (entry.name.startsWith(TEMP_PREFIX)) continue;
    if (entry.isDirectory()) await walk(join(dir, entry.name), `${keyPrefix}${entry.name}/`, visit);
    else if (entry.isFile()) visit(`${keyPrefix}${entry.name}`);
  }
}

async function containsFile(dir: string): Promise<boolean> {
  for (const entry of await readEntries(dir)) {
    if (entry.isFile() && !entry.name.startsWith(TEMP_PREFIX)) return true;
    if (entry.isDirectory() && (await containsFile(join(dir, entry.name)))) return true;
  }
  return false;
}

/** Makes the new directory entry durable, so a crash cannot lose a published object. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** ENOENT, or ENOTDIR when a path component is a file: both mean "no such object". */
function isMissing(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** "ENOTDIR (not a directory)" for OS errors, the message otherwise. */
function osReason(err: unknown): string {
  const { code, errno } = (err ?? {}) as NodeJS.ErrnoException;
  if (code && typeof errno === 'number') {
    const description = getSystemErrorMap().get(errno)?.[1];
    return description ? `${code} (${description})` : code;
  }
  return err instanceof Error ? err.message : String(err);
}
