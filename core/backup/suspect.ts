/**
 * A backup that shrinks is suspect: each backup is compared with the previous complete backup of
 * its database, by tables, rows and bytes. Any table gone, or rows or bytes down by more than half
 * (the default threshold), marks it `suspect` in its manifest: dr backup warns, dr list shows it,
 * `--backup latest` skips it (`latest-any` takes it), and the job's result carries it.
 */
import { completeBackupIds, readManifest } from '../repository/backups.ts';
import type { Repository } from '../repository/types.ts';
import type { Manifest } from './manifest.ts';

export interface SuspectThresholds {
  /** A drop in rows (or bytes) beyond this fraction is suspect. @default 0.5 */
  readonly maxDrop?: number;
}

export interface Suspicion {
  /** The backup compared with. */
  readonly previous: string;
  /** What shrank, e.g. `8 tables gone (public.trades, …)`, `rows down 99.9% (239042 → 10)`. */
  readonly reasons: string[];
}

type Shape = Pick<Manifest, 'tables' | 'totals'>;

const name = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`;

/** The reasons `current` is suspect against `previous`, or [] when it is not. */
export function shrinkage(previous: Shape, current: Shape, thresholds: SuspectThresholds = {}): string[] {
  const maxDrop = thresholds.maxDrop ?? 0.5;
  const reasons: string[] = [];
  const now = new Set(current.tables.map(name));
  const gone = previous.tables.filter((t) => t.kind !== 'partition' && !now.has(name(t))).map(name);
  if (gone.length)
    reasons.push(
      `${gone.length} table${gone.length > 1 ? 's' : ''} gone (${gone.slice(0, 5).join(', ')}${gone.length > 5 ? ', …' : ''})`,
    );
  const drop = (before: number, after: number) => (before > 0 ? (before - after) / before : 0);
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const rows = drop(previous.totals.rows, current.totals.rows);
  if (rows > maxDrop) reasons.push(`rows down ${pct(rows)} (${previous.totals.rows} → ${current.totals.rows})`);
  const bytes = drop(previous.totals.bytes, current.totals.bytes);
  if (bytes > maxDrop)
    reasons.push(`size down ${pct(bytes)} (${previous.totals.bytes} → ${current.totals.bytes} bytes)`);
  return reasons;
}

/** Compares with the newest complete backup of `database` before this one; undefined when there is none or nothing shrank. */
export async function suspicionOf(
  repo: Repository,
  database: string,
  current: Shape,
  thresholds: SuspectThresholds = {},
): Promise<Suspicion | undefined> {
  for (const id of await completeBackupIds(repo, database).catch(() => [] as string[])) {
    const previous = await readManifest(repo, database, id).catch(() => undefined);
    if (!previous) continue;
    const reasons = shrinkage(previous, current, thresholds);
    return reasons.length ? { previous: id, reasons } : undefined;
  }
  return undefined;
}
