/**
 * Archive continuity and the recoverable window of a pgBackRest stanza, read through pgBackRest
 * itself (`info`, `repo-ls`, `repo-get`), so every repository type, endpoint and credential that
 * pgBackRest reaches is checked the same way the restore will read it.
 *
 * pgBackRest's own `check` and `verify` do not look at continuity: a segment removed from the
 * middle of the archive goes unnoticed, and PostgreSQL, asking for it, takes "not found" for the
 * end of WAL and promotes there. dr computes, for every timeline, the chain of segments a recovery
 * from the oldest backup needs (following the timeline history files) and names every gap.
 *
 * Segments are assumed to be PostgreSQL's default 16 MiB (256 per log file), as pgBackRest's
 * archive layout and dr's nextSegment already do.
 */
import { DrError } from '../errors.ts';
import {
  type InfoJson,
  type PgbackrestContext,
  parseServerTime,
  pgbackrest,
  pgbackrestError,
  RepositoryUnreachable,
  readInfo,
} from './pgbackrest.ts';

export { RepositoryUnreachable };

const SEGMENTS_PER_LOG = 0x100n;
const SEGMENT_BYTES = 16n * 1024n * 1024n;
const SEGMENT_FILE = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})-[0-9a-f]{40}(\.(gz|zst|lz4|bz2|xz))?$/;
const HISTORY_FILE = /^([0-9A-F]{8})\.history$/;

export interface ArchivedSegment {
  readonly name: string;
  readonly timeline: number;
  /** Position in the WAL stream: log * 256 + segment. */
  readonly seq: bigint;
  /** When pgBackRest stored it (whole seconds, rounded down): every commit it holds happened before the next second. */
  readonly archivedAt: Date;
}

/** One line of a timeline history file: `timeline` ended at `switchLsn`, its child began there. */
export interface TimelineSwitch {
  readonly timeline: number;
  readonly switchLsn: string;
  /** The recovery target that ended it, when it was a time (`before 2026-01-15 14:30:00.123456+00`). */
  readonly switchTime?: bigint;
}

export interface TimelineHistory {
  readonly timeline: number;
  /** Ancestors, oldest first; empty for timeline 1. */
  readonly ancestors: TimelineSwitch[];
  /** When the history file was archived: the moment the timeline was created (promotion). */
  readonly createdAt?: Date;
}

export interface BackupWal {
  readonly label: string;
  readonly type: 'full' | 'diff' | 'incr';
  readonly start: string;
  readonly stop: string;
  readonly timeline: number;
  readonly walStart: string;
  readonly walStop: string;
  readonly lsnStop: string | null;
}

export interface ArchiveGap {
  readonly timeline: number;
  /** First and last missing segment of this gap, and how many. */
  readonly firstMissing: string;
  readonly lastMissing: string;
  readonly missingCount: number;
  /** The last segment present before the gap: recovery on this timeline cannot go past its end. */
  readonly reachableSegment: string | null;
  /** Its archive time: every commit recovery can still reach happened before it. */
  readonly reachableUntil: string | null;
}

export interface TimelineWindow {
  readonly timeline: number;
  readonly parent: number | null;
  /** The LSN at which it branched from its parent. */
  readonly branchLsn: string | null;
  readonly createdAt: string | null;
  readonly segments: number;
  readonly firstSegment: string | null;
  readonly lastSegment: string | null;
  /** The oldest backup recovery on this timeline can start from, and when it finished. */
  readonly oldestBackup: string | null;
  readonly from: string | null;
  /** The end of the recoverable window: the archive time of the last reachable segment. */
  readonly until: string | null;
  readonly gaps: ArchiveGap[];
}

export interface ArchiveReport {
  readonly repository: string;
  readonly stanza: string;
  readonly reachable: boolean;
  /** pgBackRest's own message when the repository or stanza cannot be read. */
  readonly error: string | null;
  readonly pgVersion: string | null;
  readonly archiveId: string | null;
  readonly backups: BackupWal[];
  readonly timelines: TimelineWindow[];
  readonly gaps: ArchiveGap[];
  /** Reachable, at least one backup, no gap. */
  readonly ok: boolean;
  readonly durationMs: number;
}

// ---------------------------------------------------------------------------------------------
// WAL names and LSNs

export function segmentParts(name: string): { timeline: number; seq: bigint } {
  return {
    timeline: Number.parseInt(name.slice(0, 8), 16),
    seq: BigInt(`0x${name.slice(8, 16)}`) * SEGMENTS_PER_LOG + BigInt(`0x${name.slice(16, 24)}`),
  };
}

export function segmentName(timeline: number, seq: bigint): string {
  const hex = (n: bigint | number, w = 8) => n.toString(16).toUpperCase().padStart(w, '0');
  return `${hex(timeline)}${hex(seq / SEGMENTS_PER_LOG)}${hex(seq % SEGMENTS_PER_LOG)}`;
}

export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(lsn.trim());
  if (!m) throw new DrError(`"${lsn}" is not a WAL location`, 'use the form 0/3000060 (pg_current_wal_lsn())', 2);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** The segment holding the byte at `lsn`. */
export function lsnSeq(lsn: string): bigint {
  return parseLsn(lsn) / SEGMENT_BYTES;
}

export function parseHistory(timeline: number, text: string, createdAt?: Date): TimelineHistory {
  const ancestors: TimelineSwitch[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+([0-9A-F]+\/[0-9A-F]+)\s*(.*)$/i.exec(line);
    if (!m) continue;
    const time = /(?:before|after)\s+(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?[+-]\d{2}(?::?\d{2})?)/.exec(
      m[3]!,
    )?.[1];
    ancestors.push({
      timeline: Number(m[1]),
      switchLsn: m[2]!.toUpperCase(),
      switchTime: time ? parseServerTime(time) : undefined,
    });
  }
  return { timeline, ancestors, createdAt };
}

/**
 * The segments recovery from `fromSeq` (on an ancestor of, or on, `history.timeline`) needs to
 * reach the end of that timeline, as [timeline, first seq, last seq | undefined = open end].
 * The segment holding a switch point is read with the child's timeline id.
 */
export function requiredRanges(
  history: TimelineHistory,
  fromTimeline: number,
  fromSeq: bigint,
): { timeline: number; from: bigint; to?: bigint }[] {
  const chain = [...history.ancestors, { timeline: history.timeline, switchLsn: '' }];
  const start = chain.findIndex((c) => c.timeline === fromTimeline);
  if (start === -1) return [];
  const ranges: { timeline: number; from: bigint; to?: bigint }[] = [];
  let from = fromSeq;
  for (let i = start; i < chain.length; i++) {
    const { timeline, switchLsn } = chain[i]!;
    if (!switchLsn) {
      ranges.push({ timeline, from });
      break;
    }
    const switchSeq = lsnSeq(switchLsn);
    // A backup taken after this switch point cannot lead here (it is on another branch).
    if (switchSeq < from) return [];
    if (switchSeq > from) ranges.push({ timeline, from, to: switchSeq - 1n });
    from = switchSeq;
  }
  return ranges;
}

/** Every run of missing segments in `ranges`, each with the last segment present before it. */
export function gapsIn(
  ranges: { timeline: number; from: bigint; to?: bigint }[],
  byTimeline: Map<number, Map<bigint, ArchivedSegment>>,
): ArchiveGap[] {
  const gaps: ArchiveGap[] = [];
  let previous: ArchivedSegment | undefined;
  for (const range of ranges) {
    const { timeline, from } = range;
    const present = byTimeline.get(timeline) ?? new Map<bigint, ArchivedSegment>();
    // The open end of the last range is the newest segment of its timeline.
    const last = range.to ?? [...present.keys()].reduce((a, b) => (b > a ? b : a), from - 1n);
    for (let seq = from; seq <= last; seq++) {
      const segment = present.get(seq);
      if (segment) {
        previous = segment;
        continue;
      }
      let end = seq;
      while (end + 1n <= last && !present.has(end + 1n)) end++;
      gaps.push({
        timeline,
        firstMissing: segmentName(timeline, seq),
        lastMissing: segmentName(timeline, end),
        missingCount: Number(end - seq + 1n),
        reachableSegment: gaps.length === 0 ? (previous?.name ?? null) : gaps[0]!.reachableSegment,
        // Archive times are whole seconds (rounded down): its commits happened before the next second.
        reachableUntil:
          gaps.length === 0
            ? previous
              ? new Date(previous.archivedAt.getTime() + 1000).toISOString()
              : null
            : gaps[0]!.reachableUntil,
      });
      seq = end;
    }
  }
  return gaps;
}

// ---------------------------------------------------------------------------------------------
// Reading the repository

interface RepoLsEntry {
  type: 'path' | 'file' | 'link';
  size?: number;
  time?: number;
}

async function repoLs(ctx: PgbackrestContext, path: string): Promise<Record<string, RepoLsEntry>> {
  const result = await pgbackrest(ctx, 'repo-ls', ['--recurse', '--output=json'], [path]);
  if (result.code !== 0)
    throw new RepositoryUnreachable(
      `cannot list ${path} in ${ctx.repo.url}: ${pgbackrestError(result.stderr)}`,
      'check access to the repository',
    );
  return JSON.parse(result.stdout || '{}') as Record<string, RepoLsEntry>;
}

async function repoGet(ctx: PgbackrestContext, path: string): Promise<string> {
  const result = await pgbackrest(ctx, 'repo-get', [], [path]);
  if (result.code !== 0)
    throw new RepositoryUnreachable(
      `cannot read ${path} in ${ctx.repo.url}: ${pgbackrestError(result.stderr)}`,
      'check access to the repository',
    );
  return result.stdout;
}

export interface ArchiveState {
  readonly info: InfoJson;
  readonly archiveId: string;
  readonly pgVersion: string;
  readonly backups: BackupWal[];
  readonly segments: Map<number, Map<bigint, ArchivedSegment>>;
  readonly histories: Map<number, TimelineHistory>;
}

/** Everything continuity needs, in three pgBackRest calls plus one per history file. */
export async function readArchive(ctx: PgbackrestContext): Promise<ArchiveState> {
  const info = await readInfo(ctx);
  const current = info.db.reduce((a, b) => (b.id > a.id ? b : a));
  const archiveId = info.archive.find((a) => a.database.id === current.id)?.id ?? `${current.version}-${current.id}`;
  const entries = await repoLs(ctx, `archive/${ctx.stanza}/${archiveId}`);
  const segments = new Map<number, Map<bigint, ArchivedSegment>>();
  const historyFiles: { timeline: number; path: string; time?: Date }[] = [];
  for (const [path, entry] of Object.entries(entries)) {
    if (entry.type !== 'file') continue;
    const name = path.slice(path.lastIndexOf('/') + 1);
    const archivedAt = new Date((entry.time ?? 0) * 1000);
    const m = SEGMENT_FILE.exec(name);
    if (m) {
      const segment = name.slice(0, 24);
      const { timeline, seq } = segmentParts(segment);
      if (!segments.has(timeline)) segments.set(timeline, new Map());
      segments.get(timeline)!.set(seq, { name: segment, timeline, seq, archivedAt });
      continue;
    }
    const h = HISTORY_FILE.exec(name);
    if (h) historyFiles.push({ timeline: Number.parseInt(h[1]!, 16), path, time: entry.time ? archivedAt : undefined });
  }
  const histories = new Map<number, TimelineHistory>([[1, { timeline: 1, ancestors: [] }]]);
  await Promise.all(
    historyFiles.map(async (f) => {
      histories.set(
        f.timeline,
        parseHistory(f.timeline, await repoGet(ctx, `archive/${ctx.stanza}/${archiveId}/${f.path}`), f.time),
      );
    }),
  );
  // A timeline with segments but no history file (e.g. a new stanza after a restore) has no known ancestors.
  for (const timeline of segments.keys())
    if (!histories.has(timeline)) histories.set(timeline, { timeline, ancestors: [] });
  const backups = info.backup
    .filter((b) => b.database.id === current.id && b.archive.start && b.archive.stop)
    .map((b) => ({
      label: b.label,
      type: b.type,
      start: new Date(b.timestamp.start * 1000).toISOString(),
      stop: new Date(b.timestamp.stop * 1000).toISOString(),
      timeline: segmentParts(b.archive.start!).timeline,
      walStart: b.archive.start!,
      walStop: b.archive.stop!,
      lsnStop: b.lsn?.stop ?? null,
    }))
    .sort((a, b) => a.stop.localeCompare(b.stop));
  return { info, archiveId, pgVersion: current.version, backups, segments, histories };
}

/** The path from `backup` to the end of `timeline`, and its first gap. */
export function gapAfterBackup(
  state: ArchiveState,
  backup: BackupWal,
  timeline: number,
): { ranges: ReturnType<typeof requiredRanges>; gap?: ArchiveGap } {
  const history = state.histories.get(timeline) ?? { timeline, ancestors: [] };
  const ranges = requiredRanges(history, backup.timeline, segmentParts(backup.walStart).seq);
  return { ranges, gap: gapsIn(ranges, state.segments)[0] };
}

/** Backups from which recovery can follow `timeline` (on it, or on an ancestor before the branch). */
export function backupsFor(state: ArchiveState, timeline: number): BackupWal[] {
  return state.backups.filter((b) => gapAfterBackup(state, b, timeline).ranges.length > 0);
}

export function timelineWindows(state: ArchiveState): TimelineWindow[] {
  const timelines = [...new Set([...state.segments.keys(), ...state.backups.map((b) => b.timeline)])].sort(
    (a, b) => a - b,
  );
  return timelines.map((timeline) => {
    const history = state.histories.get(timeline) ?? { timeline, ancestors: [] };
    const present = [...(state.segments.get(timeline)?.values() ?? [])].sort((a, b) => (a.seq < b.seq ? -1 : 1));
    const usable = backupsFor(state, timeline);
    const oldest = usable[0];
    let gaps: ArchiveGap[] = [];
    let until: string | null = null;
    if (oldest) {
      gaps = gapsIn(gapAfterBackup(state, oldest, timeline).ranges, state.segments);
      until = gaps.length ? gaps[0]!.reachableUntil : (present.at(-1)?.archivedAt.toISOString() ?? null);
    }
    const parent = history.ancestors.at(-1);
    return {
      timeline,
      parent: parent?.timeline ?? null,
      branchLsn: parent?.switchLsn ?? null,
      createdAt: history.createdAt?.toISOString() ?? null,
      segments: present.length,
      firstSegment: present[0]?.name ?? null,
      lastSegment: present.at(-1)?.name ?? null,
      oldestBackup: oldest?.label ?? null,
      from: oldest ? new Date(Date.parse(oldest.stop) + 1000).toISOString() : null,
      until,
      gaps,
    };
  });
}

/** `dr pitr check`: never throws for an unreachable repository; the report says so. */
export async function checkArchive(ctx: PgbackrestContext): Promise<ArchiveReport> {
  const started = Date.now();
  const base = { repository: ctx.repo.url, stanza: ctx.stanza };
  let state: ArchiveState;
  try {
    state = await readArchive(ctx);
  } catch (err) {
    if (!(err instanceof DrError)) throw err;
    return {
      ...base,
      reachable: !(err instanceof RepositoryUnreachable),
      error: err.oneLine(),
      pgVersion: null,
      archiveId: null,
      backups: [],
      timelines: [],
      gaps: [],
      ok: false,
      durationMs: Date.now() - started,
    };
  }
  const timelines = timelineWindows(state);
  const gaps = timelines
    .flatMap((t) => t.gaps)
    .filter((g, i, all) => all.findIndex((o) => o.firstMissing === g.firstMissing) === i);
  return {
    ...base,
    reachable: true,
    error: state.backups.length === 0 ? `stanza ${ctx.stanza} has no base backup` : null,
    pgVersion: state.pgVersion,
    archiveId: state.archiveId,
    backups: state.backups,
    timelines,
    gaps,
    ok: state.backups.length > 0 && gaps.length === 0,
    durationMs: Date.now() - started,
  };
}

export function renderArchiveReport(r: ArchiveReport): string {
  const lines = [`pgBackRest stanza ${r.stanza} in ${r.repository}`];
  if (!r.reachable || (r.error && r.backups.length === 0 && r.timelines.length === 0)) {
    lines.push(`  ${r.reachable ? 'error' : 'UNREACHABLE'}: ${r.error}`);
    return lines.join('\n');
  }
  lines.push(`  repository reachable; PostgreSQL ${r.pgVersion}, archive ${r.archiveId}`);
  lines.push(`  backups (${r.backups.length}):`);
  for (const b of r.backups)
    lines.push(
      `    ${b.label} ${b.type.padEnd(4)} ${b.start} → ${b.stop}  timeline ${b.timeline}, WAL ${b.walStart}..${b.walStop}`,
    );
  lines.push('  recoverable window per timeline:');
  for (const t of r.timelines) {
    const origin =
      t.parent === null ? '' : ` (branched from ${t.parent} at ${t.branchLsn}${t.createdAt ? `, ${t.createdAt}` : ''})`;
    const window = t.from ? `${t.from} → ${t.until ?? 'none'}` : 'none (no base backup leads here)';
    lines.push(
      `    timeline ${t.timeline}${origin}: ${window}; ${t.segments} segments ${t.firstSegment ?? ''}..${t.lastSegment ?? ''}`,
    );
    for (const g of t.gaps) {
      lines.push(
        `      GAP: ${g.missingCount} segment(s) ${g.firstMissing}${g.missingCount > 1 ? `..${g.lastMissing}` : ''} missing; recovery cannot go past ${g.reachableSegment ?? 'the base backup'}${g.reachableUntil ? ` (archived ${g.reachableUntil})` : ''}`,
      );
    }
  }
  if (r.error) lines.push(`  error: ${r.error}`);
  lines.push(
    r.ok
      ? '  archive continuous: ok'
      : `  NOT OK: ${r.gaps.length ? `${r.gaps.length} gap(s) in the archive; take a new full backup on the database host (pgbackrest --stanza=${r.stanza} --type=full backup) to start a continuous window` : (r.error ?? '')}`,
  );
  return lines.join('\n');
}
