/**
 * Where a point-in-time recovery stops and on which timeline, decided before anything is restored:
 * the target (time to the microsecond, end of the archive, LSN, transaction id or named restore
 * point), the base backup to start from, the timeline to follow, and the archive's continuity
 * from that backup to the target. A gap refuses the recovery and names the last point that can be
 * reached; --accept-gap recovers up to it, loudly.
 */
import { DrError } from '../errors.ts';
import {
  type ArchiveGap,
  type ArchiveState,
  type BackupWal,
  gapAfterBackup,
  lsnSeq,
  parseLsn,
  segmentName,
  segmentParts,
} from './archive.ts';
import { type PgbackrestContext, parseAt, recoveryTargetTime, restoreCommand, type TimeTarget } from './pgbackrest.ts';

export type RecoveryTarget =
  | { readonly kind: 'time'; readonly at: TimeTarget }
  | { readonly kind: 'latest' }
  | { readonly kind: 'lsn'; readonly lsn: string }
  | { readonly kind: 'xid'; readonly xid: string }
  | { readonly kind: 'name'; readonly name: string };

export interface TargetOptions {
  readonly at?: string;
  readonly latest?: boolean;
  readonly lsn?: string;
  readonly xid?: string;
  readonly restorePoint?: string;
  readonly now?: Date;
}

const TARGET_FIX =
  'pass --at 2026-01-15T14:30:00Z, or one of --latest, --lsn 0/3000060, --xid 1234, --restore-point NAME';

export function parseTarget(options: TargetOptions): RecoveryTarget {
  const given = [
    options.at !== undefined && '--at',
    options.latest === true && '--latest',
    options.lsn !== undefined && '--lsn',
    options.xid !== undefined && '--xid',
    options.restorePoint !== undefined && '--restore-point',
  ].filter((g): g is string => typeof g === 'string');
  if (given.length === 0) throw new DrError('say where recovery stops', TARGET_FIX, 2);
  if (given.length > 1) throw new DrError(`${given.join(' and ')} exclude each other`, TARGET_FIX, 2);
  if (options.at !== undefined) return { kind: 'time', at: parseAt(options.at, options.now) };
  if (options.latest) return { kind: 'latest' };
  if (options.lsn !== undefined) {
    parseLsn(options.lsn);
    return { kind: 'lsn', lsn: options.lsn.toUpperCase() };
  }
  if (options.xid !== undefined) {
    if (!/^[1-9]\d{0,19}$/.test(options.xid))
      throw new DrError(
        `--xid "${options.xid}" is not a transaction id`,
        'give the number, e.g. --xid 73412 (txid_current())',
        2,
      );
    return { kind: 'xid', xid: options.xid };
  }
  return { kind: 'name', name: checkRestorePointName(options.restorePoint!) };
}

export function checkRestorePointName(name: string, flag = '--restore-point'): string {
  if (!/^[A-Za-z0-9_.:-]{1,63}$/.test(name))
    throw new DrError(
      `${flag} "${name}" is not a usable restore point name`,
      'use letters, digits, "_", "-", "." or ":" (at most 63), e.g. before-migration-42',
      2,
    );
  return name;
}

export function describeTarget(target: RecoveryTarget): string {
  switch (target.kind) {
    case 'time':
      return target.at.iso;
    case 'latest':
      return 'the end of the archived WAL';
    case 'lsn':
      return `WAL location ${target.lsn}`;
    case 'xid':
      return `transaction ${target.xid}`;
    case 'name':
      return `restore point "${target.name}"`;
  }
}

export type TimelineChoice = 'current' | 'latest' | number;

export function parseTimeline(value: string | undefined): TimelineChoice | undefined {
  if (value === undefined) return undefined;
  if (value === 'current' || value === 'latest') return value;
  if (/^[1-9]\d{0,9}$/.test(value)) return Number(value);
  throw new DrError(
    `--timeline "${value}" is not a timeline`,
    "use current (the base backup's), latest, or a number such as 2",
    2,
  );
}

export interface RecoveryPlan {
  readonly target: RecoveryTarget;
  readonly backup: BackupWal;
  /** The timeline recovery follows (always passed to PostgreSQL as a number). */
  readonly timeline: number;
  /** The last segment recovery will read on that path (end of the archive, or before the accepted gap). */
  readonly lastSegment: string | null;
  readonly gap?: ArchiveGap;
  readonly warnings: string[];
}

/** Timelines recovery from `backup` can follow, and the path to each one's end. */
function reachableTimelines(state: ArchiveState, backup: BackupWal): number[] {
  return [...state.histories.keys()]
    .filter((t) => gapAfterBackup(state, backup, t).ranges.length > 0)
    .sort((a, b) => a - b);
}

/** When timeline `child` branched off its parent (microseconds), conservatively early; undefined when its parent stopped there. */
function contestedSince(state: ArchiveState, child: number, backup: BackupWal): bigint | undefined {
  const history = state.histories.get(child);
  const parent = history?.ancestors.at(-1);
  if (!parent) return undefined;
  const switchSeq = lsnSeq(parent.switchLsn);
  const parentSegments = state.segments.get(parent.timeline);
  // The parent kept writing past the branch (a primary that went on, a split brain): both hold data after it.
  if (![...(parentSegments?.keys() ?? [])].some((s) => s >= switchSeq)) return undefined;
  if (parent.switchTime !== undefined) return parent.switchTime;
  const before = parentSegments?.get(switchSeq - 1n);
  const backupStop = BigInt(Date.parse(backup.stop)) * 1000n;
  return before ? BigInt(before.archivedAt.getTime() - 1000) * 1000n : backupStop;
}

function lastSegmentOf(state: ArchiveState, timeline: number): string | null {
  const seqs = [...(state.segments.get(timeline)?.keys() ?? [])];
  if (seqs.length === 0) return null;
  // biome-ignore lint/complexity/useMathMinMax: segment numbers are bigint, which Math.max does not take.
  const last = seqs.reduce((a, b) => (b > a ? b : a));
  return segmentName(timeline, last);
}

export function planRecovery(
  state: ArchiveState,
  stanza: string,
  target: RecoveryTarget,
  choice: TimelineChoice | undefined,
  acceptGap: boolean,
): RecoveryPlan {
  const warnings: string[] = [];
  if (state.backups.length === 0)
    throw new DrError(
      `stanza ${stanza} has no base backup`,
      `take one on the database host: pgbackrest --stanza=${stanza} --type=full backup`,
    );
  const known = [...state.histories.keys()];
  if (typeof choice === 'number' && !known.includes(choice)) {
    throw new DrError(
      `timeline ${choice} does not exist in stanza ${stanza} (it has ${known.sort((a, b) => a - b).join(', ')})`,
      'choose one of those with --timeline, or current / latest',
    );
  }
  // Backups that can lead to the chosen timeline (all of them for current / latest / none).
  let candidates =
    typeof choice === 'number'
      ? state.backups.filter((b) => gapAfterBackup(state, b, choice).ranges.length > 0)
      : state.backups;
  if (candidates.length === 0)
    throw new DrError(
      `no base backup of stanza ${stanza} leads to timeline ${choice}`,
      'dr pitr check shows each timeline and its backups; choose another --timeline',
    );
  let backup: BackupWal;
  if (target.kind === 'time') {
    // pgBackRest stores whole seconds: a backup counts as finished one second after its stop second.
    const usable = candidates.filter((b) => Date.parse(b.stop) + 1000 <= target.at.date.getTime());
    if (usable.length === 0) {
      const oldest = candidates[0]!;
      throw new DrError(
        `--at ${target.at.iso} is before the oldest base backup of stanza ${stanza} (${oldest.label}, finished ${oldest.stop}): no backup can be recovered to that point`,
        `choose an --at after ${new Date(Date.parse(oldest.stop) + 1000).toISOString()}, or use a logical backup (dr list)`,
      );
    }
    candidates = usable;
    backup = usable[usable.length - 1]!;
  } else if (target.kind === 'lsn') {
    const lsn = parseLsn(target.lsn);
    const usable = candidates.filter((b) => b.lsnStop !== null && parseLsn(b.lsnStop) <= lsn);
    if (usable.length === 0)
      throw new DrError(
        `--lsn ${target.lsn} is before the end of the oldest base backup of stanza ${stanza} (${candidates[0]!.label})`,
        'choose a later --lsn, or --at / --latest',
      );
    backup = usable[usable.length - 1]!;
  } else if (target.kind === 'latest') {
    backup = candidates[candidates.length - 1]!;
  } else {
    // A transaction id or restore point has no known position: the oldest backup reaches every later one.
    backup = candidates[0]!;
  }

  const reachable = reachableTimelines(state, backup);
  let timeline: number;
  if (typeof choice === 'number') timeline = choice;
  else if (choice === 'current') timeline = backup.timeline;
  else timeline = reachable[reachable.length - 1] ?? backup.timeline;

  if (choice === undefined && reachable.length > 1) {
    // A time before the branch is on one history only; any other target may be on either branch.
    const contested = reachable
      .map((t) => ({ t, since: contestedSince(state, t, backup) }))
      .filter(
        (c): c is { t: number; since: bigint } =>
          c.since !== undefined && (target.kind !== 'time' || target.at.micros >= c.since),
      );
    if (contested.length > 0) {
      const names = [
        ...new Set(contested.flatMap((c) => [state.histories.get(c.t)!.ancestors.at(-1)!.timeline, c.t])),
      ].sort((a, b) => a - b);
      throw new DrError(
        target.kind === 'time'
          ? `--at ${target.at.iso} exists on more than one timeline of stanza ${stanza} (${names.join(' and ')}: timeline ${contested[0]!.t} branched off before it and both were archived after it)`
          : `${describeTarget(target)} is ambiguous in stanza ${stanza}: timelines ${names.join(' and ')} both continue after timeline ${contested[0]!.t} branched off`,
        `choose one with --timeline ${names.join('|')} (current = the base backup's, latest = the newest); dr pitr check shows each timeline's window`,
      );
    }
  }

  const { gap } = gapAfterBackup(state, backup, timeline);
  let lastSegment = lastSegmentOf(state, timeline);
  if (gap) {
    const reach = gap.reachableSegment
      ? `recovery from ${backup.label} cannot go past segment ${gap.reachableSegment}${gap.reachableUntil ? ` (archived ${gap.reachableUntil})` : ''}`
      : `recovery from ${backup.label} cannot even reach a consistent state`;
    const what = `the archive of stanza ${stanza} has a gap on timeline ${gap.timeline}: WAL segment ${gap.firstMissing} is missing from the archive${gap.missingCount > 1 ? ` (${gap.missingCount} segments, up to ${gap.lastMissing})` : ''}; ${reach}`;
    const blocks = (() => {
      if (!gap.reachableSegment) return true;
      switch (target.kind) {
        case 'time':
          return gap.reachableUntil === null || target.at.date.getTime() >= Date.parse(gap.reachableUntil);
        case 'lsn':
          return lsnSeq(target.lsn) >= segmentParts(gap.firstMissing).seq;
        default:
          return !acceptGap;
      }
    })();
    if (blocks) {
      if (!gap.reachableSegment)
        throw new DrError(
          what,
          "the base backup's own WAL is missing: choose a later backup (a later --at) or take a new full backup on the database host",
        );
      const hint =
        target.kind === 'latest' || target.kind === 'xid' || target.kind === 'name'
          ? `pass --accept-gap to recover up to that point and lose the WAL after it, or restore the missing segments to the repository first`
          : `choose a target before ${gap.reachableUntil ?? gap.reachableSegment}, or --latest --accept-gap to recover up to the gap (the WAL after it is lost)`;
      throw new DrError(what, hint);
    }
    if (target.kind === 'latest' || target.kind === 'xid' || target.kind === 'name') {
      warnings.push(
        `${what}: --accept-gap recovers up to it; everything archived after segment ${gap.reachableSegment} is LOST in this recovery`,
      );
      lastSegment = gap.reachableSegment;
    }
  }
  return { target, backup, timeline, lastSegment, gap, warnings };
}

/** pgBackRest restore options for the plan: target, timeline, and dr's restore_command. */
export function restoreArgs(
  plan: RecoveryPlan,
  ctx: Pick<PgbackrestContext, 'repo' | 'stanza' | 'credentialEnv'>,
  pgPath: string,
  action: 'pause' | 'promote',
): string[] {
  const args = [
    `--pg1-path=${pgPath}`,
    `--set=${plan.backup.label}`,
    `--target-timeline=${plan.timeline}`,
    `--recovery-option=restore_command=${restoreCommand(ctx, pgPath)}`,
  ];
  const t = plan.target;
  if (t.kind === 'time') args.push('--type=time', `--target=${recoveryTargetTime(t.at)}`);
  else if (t.kind === 'lsn') args.push('--type=lsn', `--target=${t.lsn}`);
  else if (t.kind === 'xid') args.push('--type=xid', `--target=${t.xid}`);
  else if (t.kind === 'name') args.push('--type=name', `--target=${t.name}`);
  if (t.kind !== 'latest') args.push(`--target-action=${action}`);
  return args;
}

export function targetValue(t: RecoveryTarget): string | null {
  return t.kind === 'time'
    ? t.at.iso
    : t.kind === 'lsn'
      ? t.lsn
      : t.kind === 'xid'
        ? t.xid
        : t.kind === 'name'
          ? t.name
          : null;
}
