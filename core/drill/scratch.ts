/**
 * Drill scratch databases `drill_<db>_<yyyymmdd>`: their name, stated once for `dr drill`, the
 * drill workflow (as a States.Format template) and the cleanup Lambda (as the pattern its sweep
 * looks for), and dropping them on the staging server, refusing anything not named `drill_*`, so
 * a wrong input to the cleanup Lambda can never drop a production database.
 */
import type pg from 'pg';
import { DrError } from '../errors.ts';
import { quoteIdent } from '../pg/connection.ts';

const SCRATCH_PREFIX = 'drill_';

/** PostgreSQL's identifier limit. */
const MAX_IDENTIFIER = 63;
/** Longest database name whose scratch name is not shortened: `drill_` + name + `_yyyymmdd` within 63 bytes. */
export const MAX_DRILLED_NAME = MAX_IDENTIFIER - SCRATCH_PREFIX.length - '_yyyymmdd'.length;

/** The UTC day of `at` as a scratch name carries it: yyyymmdd. */
export function scratchDay(at: Date): string {
  return at.toISOString().slice(0, 10).replace(/-/g, '');
}

/** `drill_<db>_<yyyymmdd>` (UTC), shortened to PostgreSQL's 63-byte identifier limit. */
export function scratchDatabaseName(database: string, at: Date): string {
  const suffix = `_${scratchDay(at)}`;
  let base = `${SCRATCH_PREFIX}${database}`;
  while (Buffer.byteLength(base + suffix) > MAX_IDENTIFIER) base = base.slice(0, -1);
  return base + suffix;
}

/**
 * scratchDatabaseName as a States.Format template, `{}` being the database and the yyyymmdd day:
 * the workflow accepts only databases of at most MAX_DRILLED_NAME bytes, whose names are not shortened.
 */
export const SCRATCH_NAME_FORMAT = `${SCRATCH_PREFIX}{}_{}`;

/** Every scratch name, as a regular expression for PostgreSQL's `~` (and JavaScript's RegExp). */
export const SCRATCH_NAME_PATTERN = `^${SCRATCH_PREFIX}.+_[0-9]{8}$`;

/** Throws unless `name` is a drill scratch database name. */
export function assertScratchName(name: string): void {
  if (
    !name.startsWith(SCRATCH_PREFIX) ||
    name.length <= SCRATCH_PREFIX.length ||
    Buffer.byteLength(name) > MAX_IDENTIFIER ||
    !/^[A-Za-z0-9_-]+$/.test(name)
  ) {
    throw new DrError(
      `refusing to drop "${name}": not a drill scratch database`,
      `only databases named ${SCRATCH_PREFIX}<db>_<yyyymmdd> (letters, digits, _ and -, at most ${MAX_IDENTIFIER}) are dropped`,
    );
  }
}

export interface DropResult {
  readonly database: string;
  /** The scratch database is gone (also when it never existed); what a drill report's cleanup checks. */
  readonly dropped: true;
  /** Whether it existed, i.e. this call dropped it (false: the drill failed before the restore created it). */
  readonly existed: boolean;
}

/**
 * Drops the scratch database `name` through `client` (connected to another database of the same
 * server, e.g. `postgres`), ending its sessions first (WITH (FORCE), PostgreSQL 13+).
 */
export async function dropScratchDatabase(client: pg.Client, name: string): Promise<DropResult> {
  assertScratchName(name);
  const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (exists.rowCount === 0) return { database: name, dropped: true, existed: false };
  await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  return { database: name, dropped: true, existed: true };
}
