/** `dr pitr mark NAME`: a named restore point on the primary, archived right away. */
import { DrError } from '../errors.ts';
import { connect, parsePgUrl } from '../pg/connection.ts';
import { onlyRow } from '../pg/rows.ts';
import { checkRestorePointName } from './plan.ts';

export interface RestorePoint {
  readonly name: string;
  readonly lsn: string;
  /** Server time, UTC, microseconds. */
  readonly time: string;
  readonly timeline: number;
  /** The segment closed by pg_switch_wal (null with --no-switch). */
  readonly walFile: string | null;
}

export async function createRestorePoint(url: string, name: string, switchWal = true): Promise<RestorePoint> {
  checkRestorePointName(name, 'NAME');
  const target = parsePgUrl(url, '--db');
  const client = await connect(target.url, 'database');
  try {
    const state = onlyRow(
      await client.query<{ recovery: boolean; archive: string }>(
        `SELECT pg_is_in_recovery() AS recovery, current_setting('archive_mode') AS archive`,
      ),
    );
    if (state.recovery)
      throw new DrError(
        `${target.display} is a standby: restore points are created on the primary`,
        'pass the primary with --db',
      );
    if (state.archive === 'off')
      throw new DrError(
        `${target.display} does not archive WAL (archive_mode=off): a restore point there cannot be recovered to`,
        'set up archiving first (dr pitr config)',
      );
    let lsn: string;
    try {
      ({ lsn } = onlyRow(
        await client.query<{ lsn: string }>('SELECT pg_create_restore_point($1)::text AS lsn', [name]),
      ));
    } catch (err) {
      throw new DrError(
        `cannot create restore point "${name}" on ${target.display}: ${(err as Error).message}`,
        'connect as a superuser, or GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) to the role',
      );
    }
    const meta = onlyRow(
      await client.query<{ time: string; timeline: number }>(
        `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS time, (SELECT timeline_id FROM pg_control_checkpoint())::int AS timeline`,
      ),
    );
    let walFile: string | null = null;
    if (switchWal) {
      try {
        ({ walFile } = onlyRow(
          await client.query<{ walFile: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS "walFile"'),
        ));
      } catch (err) {
        throw new DrError(
          `restore point "${name}" created at ${lsn}, but pg_switch_wal failed: ${(err as Error).message}`,
          'it reaches the archive with the next segment (archive_timeout); or pass --no-switch',
        );
      }
    }
    return { name, lsn, time: meta.time, timeline: meta.timeline, walFile };
  } finally {
    await client.end().catch(() => {});
  }
}
