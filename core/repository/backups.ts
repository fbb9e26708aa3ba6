/**
 * Finding backups in a repository. Only a backup with a manifest exists; a folder without one is
 * an interrupted backup and is never listed or restored.
 */
import { text } from 'node:stream/consumers';
import { MANIFEST_FORMAT_VERSION, type Manifest, ManifestSchema } from '../backup/manifest.ts';
import { BackupIntegrityError, DrError } from '../errors.ts';
import { BACKUPS_ROOT, databasePrefix, isBackupId, MANIFEST_SUFFIX, manifestKey } from './layout.ts';
import type { Repository } from './types.ts';

export async function listDatabases(repo: Repository): Promise<string[]> {
  await repo.assertExists?.();
  const prefixes = await repo.list(`${BACKUPS_ROOT}/`, { delimiter: '/' });
  return prefixes
    .map((p) => p.slice(BACKUPS_ROOT.length + 1).replace(/\/$/, ''))
    .filter(Boolean)
    .sort();
}

interface DatabaseFolder {
  /** Ids with a manifest: complete backups, newest first. */
  readonly complete: string[];
  /** Ids with files but no manifest: interrupted backups, newest first. */
  readonly incomplete: string[];
}

/** One delimiter listing of the database's folder: manifests are keys, backup folders are prefixes. */
async function databaseFolder(repo: Repository, database: string): Promise<DatabaseFolder> {
  await repo.assertExists?.();
  const prefix = databasePrefix(database);
  const entries = (await repo.list(prefix, { delimiter: '/' })).map((e) => e.slice(prefix.length));
  const complete = entries
    .filter((e) => e.endsWith(MANIFEST_SUFFIX))
    .map((e) => e.slice(0, -MANIFEST_SUFFIX.length))
    .filter(isBackupId);
  const done = new Set(complete);
  const folders = entries
    .filter((e) => e.endsWith('/'))
    .map((e) => e.slice(0, -1))
    .filter(isBackupId);
  const newestFirst = (ids: string[]) => [...ids].sort().reverse();
  return { complete: newestFirst(complete), incomplete: newestFirst(folders.filter((id) => !done.has(id))) };
}

/** Ids of complete backups (with a manifest), newest first, from one listing. */
export async function completeBackupIds(repo: Repository, database: string): Promise<string[]> {
  return (await databaseFolder(repo, database)).complete;
}

/** Ids of interrupted backups (files, no manifest), newest first. */
export async function incompleteBackupIds(repo: Repository, database: string): Promise<string[]> {
  return (await databaseFolder(repo, database)).incomplete;
}

export async function readManifest(repo: Repository, database: string, id: string): Promise<Manifest> {
  const key = manifestKey(database, id);
  let raw: unknown;
  try {
    raw = JSON.parse(await text(await repo.get(key)));
  } catch (err) {
    if (err instanceof DrError && !(await repo.head(key)))
      throw new DrError(
        `backup ${id} of ${database} has no manifest`,
        'it never completed; choose another backup (dr list)',
      );
    throw new BackupIntegrityError(
      `backup ${id}: manifest is unreadable (${(err as Error).message})`,
      'choose another backup (dr list)',
      1,
      { cause: err },
    );
  }
  const version = (raw as { formatVersion?: unknown })?.formatVersion;
  if (typeof version === 'number' && version > MANIFEST_FORMAT_VERSION) {
    throw new DrError(
      `backup ${id} has manifest format ${version}, newer than this dr understands (${MANIFEST_FORMAT_VERSION})`,
      'upgrade crypto-stock-dr',
    );
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new BackupIntegrityError(
      `backup ${id}: manifest is invalid (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`,
      'choose another backup (dr list)',
    );
  }
  if (parsed.data.id !== id || parsed.data.database !== database) {
    throw new BackupIntegrityError(
      `backup ${id}: manifest describes ${parsed.data.database}/${parsed.data.id}`,
      'the repository was altered; choose another backup',
    );
  }
  return parsed.data;
}

export interface BackupSummary {
  readonly id: string;
  readonly database: string;
  readonly tier: Manifest['tier'];
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly bytes: number;
  readonly files: number;
  readonly tables: number;
  readonly rows: number;
  readonly serverVersion: string;
  /** Set when it shrank against the backup before it (core/backup/suspect.ts). */
  readonly suspect?: { readonly previous: string; readonly reasons: string[] };
}

export function summarize(m: Manifest): BackupSummary {
  return {
    id: m.id,
    database: m.database,
    tier: m.tier,
    startedAt: m.startedAt,
    finishedAt: m.finishedAt,
    bytes: m.totals.bytes,
    files: m.totals.files,
    tables: m.tables.length,
    rows: m.totals.rows,
    serverVersion: m.server.version,
    ...(m.suspect ? { suspect: m.suspect } : {}),
  };
}

export interface BackupListing {
  /** With each backup's age when listed (from its start). */
  readonly backups: (BackupSummary & { readonly ageSeconds: number })[];
  /** Folders without a manifest: interrupted backups, ignored by restore. */
  readonly incomplete: { readonly database: string; readonly id: string }[];
}

/** Complete backups, newest first, of one database or all. */
export async function listBackups(repo: Repository, database?: string): Promise<BackupListing> {
  const databases = database ? [database] : await listDatabases(repo);
  const backups: BackupListing['backups'] = [];
  const incomplete: BackupListing['incomplete'] = [];
  for (const db of databases) {
    const folder = await databaseFolder(repo, db);
    for (const id of folder.incomplete) incomplete.push({ database: db, id });
    const manifests = await Promise.all(folder.complete.map((id) => readManifest(repo, db, id).catch(() => undefined)));
    for (const m of manifests)
      if (m)
        backups.push({
          ...summarize(m),
          ageSeconds: Math.max(0, Math.round((Date.now() - Date.parse(m.startedAt)) / 1000)),
        });
  }
  backups.sort((a, b) => (a.id < b.id ? 1 : -1));
  return { backups, incomplete };
}

export interface BackupCandidates {
  readonly database: string;
  /** Newest first; `latest` lists every complete backup so a bad one can fall back. */
  readonly ids: string[];
  readonly latest: boolean;
  /** `latest-any`: suspect backups (core/backup/suspect.ts) are candidates too. @default false: skipped */
  readonly includeSuspect?: boolean;
}

/**
 * Which backup(s) `--backup` names. An explicit id is searched in every database of the
 * repository unless `database` is given; `latest` needs a database when there are several.
 */
export async function resolveBackup(repo: Repository, backup: string, database?: string): Promise<BackupCandidates> {
  if (backup === 'latest' || backup === 'latest-any') {
    let db = database;
    if (!db) {
      const dbs = await listDatabases(repo);
      if (dbs.length === 0) throw new DrError(`no backups in ${repo.url}`, 'run dr backup first, or check --repo');
      if (dbs.length > 1)
        throw new DrError(`${repo.url} holds backups of several databases (${dbs.join(', ')})`, 'pass --database NAME');
      db = dbs[0]!;
    }
    const ids = await completeBackupIds(repo, db);
    if (ids.length === 0)
      throw new DrError(
        `no complete backup of ${db} in ${repo.url}`,
        'run dr backup first, or check --repo and --database',
      );
    return { database: db, ids, latest: true, includeSuspect: backup === 'latest-any' };
  }
  if (!isBackupId(backup)) {
    throw new DrError(
      `"${backup}" is not a backup id`,
      'use latest, latest-any (suspect backups too) or an id from dr list, e.g. 20260115T020000Z-a1b2c3',
      2,
    );
  }
  const dbs = database ? [database] : await listDatabases(repo);
  for (const db of dbs) {
    if (await repo.head(manifestKey(db, backup))) return { database: db, ids: [backup], latest: false };
    if ((await databaseFolder(repo, db)).incomplete.includes(backup)) {
      throw new DrError(
        `backup ${backup} of ${db} is incomplete (no manifest)`,
        'it never finished; choose a complete backup from dr list',
      );
    }
  }
  throw new DrError(
    `backup ${backup} not found in ${repo.url}${database ? ` for database ${database}` : ''}`,
    'run dr list to see the available backups',
  );
}
