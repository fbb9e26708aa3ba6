import { randomBytes } from 'node:crypto';

/**
 * One layout for every repository (file:// and s3://):
 *
 *   backups/<database>/<id>/data/…             pg_dump directory-format files
 *   backups/<database>/<id>/globals.sql        pg_dumpall --globals-only
 *   backups/<database>/<id>.manifest.json      written last: the commit marker
 *
 * Ids start with the UTC start time, so they sort by time. The manifests sit directly in the
 * database's folder, so one delimiter listing of that folder yields every complete backup (and
 * `latest`) without reading or HEADing any manifest.
 */
export const BACKUPS_ROOT = 'backups';
export const MANIFEST_SUFFIX = '.manifest.json';
export const DATA_DIR = 'data';
export const GLOBALS_NAME = 'globals.sql';

const ID_PATTERN = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

export function newBackupId(at: Date = new Date()): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export function isBackupId(value: string): boolean {
  return ID_PATTERN.test(value);
}

/** The start time encoded in an id. */
export function backupIdTime(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id);
  if (!m) throw new Error(`not a backup id: ${id}`);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

export function databasePrefix(database: string): string {
  return `${BACKUPS_ROOT}/${database}/`;
}

export function backupPrefix(database: string, id: string): string {
  return `${databasePrefix(database)}${id}/`;
}

export function manifestKey(database: string, id: string): string {
  return `${databasePrefix(database)}${id}${MANIFEST_SUFFIX}`;
}

/** `relativePath` as recorded in the manifest (e.g. `data/toc.dat`). */
export function fileKey(database: string, id: string, relativePath: string): string {
  return `${backupPrefix(database, id)}${relativePath}`;
}
