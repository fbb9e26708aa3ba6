/**
 * Dropping drill scratch databases (`drill_<db>_<yyyymmdd>`, named by core/drill/run.ts
 * scratchDatabaseName) on the staging server, refusing anything not named `drill_*`, so a wrong
 * input to the cleanup Lambda can never drop a production database.
 */
import type pg from 'pg';
import { DrError } from '../errors.ts';
import { quoteIdent } from '../pg/connection.ts';

export const SCRATCH_PREFIX = 'drill_';

/** PostgreSQL's identifier limit. */
const MAX_IDENTIFIER = 63;
/** Longest database name whose scratch name is not shortened: `drill_` + name + `_yyyymmdd` within 63 bytes. */
export const MAX_DRILLED_NAME = MAX_IDENTIFIER - SCRATCH_PREFIX.length - '_yyyymmdd'.length;

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
