import { randomBytes } from 'node:crypto';

/**
 * One layout for every repository (file:// and s3://):
 *
 *   backups/<database>/<id>/data/…             pg_dump directory-format files
 *   backups/<database>/<id>/globals.sql        pg_dumpall --globals-only
 *   backups/<database>/<id>/SHA256SUMS         every file's SHA-256, for sha256sum -c
 *   backups/<database>/<id>/RESTORE.md         how to restore it by hand
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
/** `sha256sum -c` list of the backup's files, and the by-hand restore guide (core/backup/restore-guide.ts). */
export const CHECKSUMS_NAME = 'SHA256SUMS';
export const RESTORE_GUIDE_NAME = 'RESTORE.md';

const ID_PATTERN = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

/**
 * `<UTC second>-<3 hex of the millisecond><3 random hex>`: two backups started in the same second
 * still sort by start time (`latest` is the newer one); the random part only breaks a tie.
 */
export function newBackupId(at: Date = new Date()): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return `${stamp}-${at.getUTCMilliseconds().toString(16).padStart(3, '0')}${randomBytes(2).toString('hex').slice(0, 3)}`;
}

export function isBackupId(value: string): boolean {
  return ID_PATTERN.test(value);
}

/** The start time encoded in an id. */
export function backupIdTime(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id);
  if (!m) throw new Error(`not a backup id: ${id}`);
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
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

/**
 * Drill reports, beside the backups in the same repository (or under `--report-dir`):
 *
 *   reports/drills/<yyyy-mm-dd>/<database>.{json,md,html}              the day's first drill
 *   reports/drills/<yyyy-mm-dd>/<database>-<HHMMSS>Z[-<n>].{json,md,html}  later drills that day
 *
 * Repositories are write-once, so a second drill on the same day gets its start time (UTC) as a
 * suffix, and `-2`, `-3`… if even that is taken. The JSON is written last: a report whose JSON
 * exists is complete, and only JSON files are read back (for the trend).
 */
export const REPORTS_ROOT = 'reports';
export const DRILL_REPORTS_DIR = 'drills';
export const DRILL_REPORT_FORMATS = ['html', 'md', 'json'] as const;
export type DrillReportFormat = (typeof DRILL_REPORT_FORMATS)[number];

/** The folder of every drill report under `prefix` (`reports/` in a backup repository, '' in a report dir). */
export function drillReportsPrefix(prefix: string): string {
  return `${prefix}${DRILL_REPORTS_DIR}/`;
}

/** Key of one drill report file without its extension; `attempt` 0 is the day's first drill. */
export function drillReportBase(prefix: string, database: string, at: Date, attempt = 0): string {
  const iso = at.toISOString();
  const day = iso.slice(0, 10);
  const time = `${iso.slice(11, 19).replace(/:/g, '')}Z`;
  const suffix = attempt === 0 ? '' : attempt === 1 ? `-${time}` : `-${time}-${attempt}`;
  return `${drillReportsPrefix(prefix)}${day}/${database}${suffix}`;
}

/** Whether `key` is the JSON drill report of `database` (any day, any same-day suffix). */
export function isDrillReportJsonKey(key: string, prefix: string, database: string): boolean {
  const head = drillReportsPrefix(prefix);
  if (!key.startsWith(head)) return false;
  const rest = key.slice(head.length);
  const slash = rest.indexOf('/');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(rest.slice(0, slash))) return false;
  const name = rest.slice(slash + 1);
  if (!name.startsWith(database) || !name.endsWith('.json')) return false;
  return /^(-\d{6}Z(-\d+)?)?$/.test(name.slice(database.length, -'.json'.length));
}
