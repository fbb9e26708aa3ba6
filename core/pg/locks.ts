/**
 * Lock waits are bounded: a backup (pg_dump --lock-wait-timeout, and dr's own catalog queries) and
 * a table restore (lock_timeout) wait at most this long for another session's lock, then fail
 * naming the table and the session holding it, instead of waiting silently (on AWS only the task
 * timeout would end it).
 */
import { JobExit } from '../contract.ts';
import { DrError } from '../errors.ts';
import { connect } from './connection.ts';

/** @default 5 minutes */
export const DEFAULT_LOCK_TIMEOUT_MS = 300_000;

/** SQLSTATE lock_not_available: lock_timeout expired (or NOWAIT). */
export function isLockTimeout(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === '55P03';
}

function minutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}

/**
 * The sessions holding a conflicting lock on `table` (or, when unknown, an ACCESS EXCLUSIVE lock
 * on any table of the database), as `pid 123 (application psql, query started …)`.
 */
async function holders(url: string, table: string | undefined): Promise<{ table: string; text: string } | undefined> {
  const client = await connect(url, 'database');
  try {
    const { rows } = await client.query<{
      rel: string;
      pid: number;
      app: string;
      started: Date | null;
      mode: string;
      state: string | null;
    }>(
      `
      SELECT l.relation::regclass::text AS rel, a.pid, a.application_name AS app, a.query_start AS started, l.mode, a.state
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid JOIN pg_class c ON c.oid = l.relation
       WHERE l.locktype = 'relation' AND l.granted AND a.pid <> pg_backend_pid()
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND ($1::text IS NULL AND l.mode = 'AccessExclusiveLock' OR l.relation = to_regclass($1) AND l.mode IN ('AccessExclusiveLock', 'ExclusiveLock', 'ShareRowExclusiveLock', 'ShareLock', 'ShareUpdateExclusiveLock', 'RowExclusiveLock'))
       ORDER BY c.relispartition, l.mode = 'AccessExclusiveLock' DESC, a.query_start`,
      [table ?? null],
    );
    const [first] = rows;
    if (first === undefined) return undefined;
    // One line per session: a lock on a partitioned table also locks every partition.
    const sessions = rows.filter((r, i) => rows.findIndex((x) => x.pid === r.pid) === i).slice(0, 3);
    const text = sessions
      .map(
        (r) =>
          `pid ${r.pid} (application ${r.app || 'unnamed'}, ${r.state ?? 'state unknown'}, query started ${r.started ? r.started.toISOString() : 'unknown'}) holds ${r.mode
            .replace(/Lock$/, '')
            .replace(/([a-z])([A-Z])/g, '$1 $2')
            .toUpperCase()}`,
      )
      .join('; ');
    return { table: table ?? first.rel, text };
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

/** The one-line error for a lock wait that timed out; dr exits JobExit.lockTimeout with it, which the backup workflow retries. */
export async function lockTimeoutError(what: string, url: string, timeoutMs: number, table?: string): Promise<DrError> {
  const found = await holders(url, table);
  const on = found?.table ?? table ?? 'a table';
  return new DrError(
    `${what} waited ${minutes(timeoutMs)} for a lock on ${on}${found ? `: session ${found.text}` : ''}`,
    `wait for that session to finish or end it (SELECT pg_terminate_backend(<pid>)), or give more time with --lock-timeout; nothing was changed`,
    JobExit.lockTimeout,
  );
}

/** pg_dump's lock timeout (`canceling statement due to lock timeout … LOCK TABLE x IN ACCESS SHARE MODE`), as lockTimeoutError. */
export async function dumpLockError(stderr: string, url: string, timeoutMs: number): Promise<DrError | undefined> {
  if (!/lock timeout|could not obtain lock/i.test(stderr)) return undefined;
  const table = /LOCK TABLE (\S+) IN /.exec(stderr)?.[1];
  return lockTimeoutError('pg_dump', url, timeoutMs, table);
}

/** `SET lock_timeout` for a session. */
export function lockTimeoutSql(timeoutMs: number): string {
  return `SET lock_timeout = ${Math.max(1, Math.round(timeoutMs))}`;
}
