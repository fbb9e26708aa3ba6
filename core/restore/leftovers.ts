/**
 * Databases a dr run leaves behind when it is killed (kill -9, a lost host) before its cleanup:
 * `<target>__dr_restore_<t>` (a full restore's staging copy), `<target>__dr_stage_<t>` (a table
 * restore's scratch copy) and `<target>__dr_old_<t>` (a replaced target whose drop failed). Their
 * names carry their creation time (`<t>`: 8 hex digits of Unix seconds), so the next restore on
 * that server drops those older than an hour that nobody is connected to, and says so.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { quoteIdent } from '../pg/connection.ts';

/** Leftovers younger than this may belong to a restore still running elsewhere. */
export const LEFTOVER_AGE_MS = 3_600_000;
const MARKERS = ['__dr_restore_', '__dr_stage_', '__dr_old_'] as const;

/** The suffix of a new staging/scratch/old database: marker + creation time (+ `extra`). */
export function leftoverSuffix(marker: (typeof MARKERS)[number], extra = '', at: Date = new Date()): string {
  return `${marker}${Math.floor(at.getTime() / 1000)
    .toString(16)
    .padStart(8, '0')}${extra}`;
}

/** When a dr database of that name was created, or undefined when the name is not one. */
export function leftoverCreatedAt(name: string): Date | undefined {
  for (const marker of MARKERS) {
    const at = name.lastIndexOf(marker);
    if (at < 0) continue;
    const m = /^([0-9a-f]{8})/.exec(name.slice(at + marker.length));
    if (!m) continue;
    const seconds = parseInt(m[1]!, 16);
    // Sanity: 2020 to 2100; anything else is a name that merely looks like one.
    if (seconds > 1_577_836_800 && seconds < 4_102_444_800) return new Date(seconds * 1000);
  }
  return undefined;
}

/** Drops dr's leftover databases older than an hour with no sessions; returns a message for each. */
export async function dropLeftovers(admin: pg.Client, now: Date = new Date()): Promise<string[]> {
  const { rows } = await admin.query<{ name: string; sessions: number }>(`
    SELECT d.datname AS name, (SELECT count(*)::int FROM pg_stat_activity a WHERE a.datname = d.datname) AS sessions
      FROM pg_database d WHERE d.datname ~ '__dr_(restore|stage|old)_[0-9a-f]{8}' ORDER BY 1`);
  const dropped: string[] = [];
  for (const r of rows) {
    const created = leftoverCreatedAt(r.name);
    if (!created || now.getTime() - created.getTime() < LEFTOVER_AGE_MS || r.sessions > 0) continue;
    try {
      await admin.query(`DROP DATABASE ${quoteIdent(r.name)}`);
      dropped.push(`dropped ${r.name}, left by an interrupted dr run (created ${created.toISOString()})`);
    } catch {
      // Someone connected meanwhile, or no right to drop it: the next run tries again.
    }
  }
  return dropped;
}

const WORK_DIR = /^dr-(backup|restore|table-restore)-(\d+)-/;

/**
 * A private work folder `dr-<kind>-<pid>-XXXXXX` in `parent`, after removing those of dr runs
 * whose process is gone (killed before their cleanup): their pid is in the name.
 */
export async function workDirFor(parent: string, kind: 'backup' | 'restore' | 'table-restore'): Promise<string> {
  await sweepWorkDirs(parent);
  return mkdtemp(join(parent, `dr-${kind}-${process.pid}-`));
}

/** Removes work folders of dr processes that no longer exist; returns their paths. */
export async function sweepWorkDirs(parent: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    const pid = Number(WORK_DIR.exec(name)?.[2]);
    if (!pid || pid === process.pid || isAlive(pid)) continue;
    await rm(join(parent, name), { recursive: true, force: true }).then(
      () => removed.push(join(parent, name)),
      () => {},
    );
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
