/**
 * How far behind the point-in-time recovery archive is: the age of the newest archived WAL
 * segment (the recovery point objective actually met) and of the newest base backup, read from
 * a pgBackRest repository through the same Repository abstraction as the logical backups.
 *
 * pgBackRest's repository layout (stable across 2.x, the same on posix and S3):
 *   archive/<stanza>/<pg major>-<history id>/<timeline+log, 16 hex>/<segment, 24 hex>-<sha1>[.gz|.zst|.lz4|.bz2|.xz]
 *   backup/<stanza>/<label>/backup.manifest   with labels 20260115-143000F, 20260115-143000F_20260116-020000D|I
 * A backup's `backup.manifest` is written when it completes (only `.copy` exists while it runs),
 * so its modification time is the backup's stop time.
 */
import { DrError } from '../errors.ts';
import { STANZA_NAME } from '../names.ts';
import type { Repository } from '../repository/index.ts';

const ARCHIVE_ID = /^(\d+)-(\d+)\/$/;
const WAL_DIR = /^[0-9A-F]{16}\/$/;
/** A WAL segment file (not a .backup label, .history or a .partial from promotion). */
const WAL_SEGMENT = /^([0-9A-F]{24})-[0-9a-f]{40}(\.(gz|zst|lz4|bz2|xz))?$/;
const BACKUP_LABEL = /^(\d{8}-\d{6})F(?:_(\d{8}-\d{6})([DI]))?\/$/;

export interface WalStatus {
  /** e.g. 000000010000000A0000003F */
  readonly segment: string;
  /** The timeline it belongs to: the one the primary is writing. */
  readonly timeline: number;
  /** Runs of segments missing between the timeline's oldest and newest archived segment. */
  readonly gaps: WalGap[];
  /** The pgBackRest archive id, `<pg major>-<history id>`, e.g. 15-1. */
  readonly archiveId: string;
  readonly key: string;
  readonly archivedAt: Date;
  readonly ageSeconds: number;
}

export interface WalGap {
  /** The last segment present before the gap and the first one after it. */
  readonly after: string;
  readonly before: string;
  readonly missing: number;
}

export interface BaseBackupStatus {
  readonly label: string;
  readonly type: 'full' | 'diff' | 'incr';
  readonly key: string;
  readonly completedAt: Date;
  readonly ageSeconds: number;
}

export interface PitrStatus {
  readonly repository: string;
  readonly stanza: string;
  readonly checkedAt: Date;
  /** Newest archived WAL segment; undefined when nothing has been archived. */
  readonly wal?: WalStatus;
  /** Newest complete backup of any type (each one is a valid restore base). */
  readonly baseBackup?: BaseBackupStatus;
  /** Newest complete full backup. */
  readonly fullBackup?: BaseBackupStatus;
}

/** The newest archived WAL segment and base backups of `stanza`, with their ages at `now`. */
export async function pitrStatus(repo: Repository, stanza: string, now: Date = new Date()): Promise<PitrStatus> {
  if (!STANZA_NAME.test(stanza)) {
    throw new DrError(
      `invalid pgBackRest stanza "${stanza}"`,
      'use letters, digits, _, - and . (e.g. crypto_stock), as in pgbackrest.conf',
    );
  }
  const [wal, backups] = await Promise.all([newestWal(repo, stanza, now), newestBackups(repo, stanza, now)]);
  return { repository: repo.url, stanza, checkedAt: now, wal, ...backups };
}

/**
 * The newest archived segment of the timeline the primary is writing: of each timeline's newest
 * segment, the one stored last. Not simply the highest timeline folder: a restored server (a drill,
 * a test restore) that archived a timeline 2 into the stanza and stopped would make the primary's
 * fresh timeline 1 look stale (a false WalArchiveTooOld).
 */
async function newestWal(repo: Repository, stanza: string, now: Date): Promise<WalStatus | undefined> {
  const root = `archive/${stanza}/`;
  // The highest history id is the current one (a stanza-upgrade after a major upgrade adds one).
  const archiveIds = (await repo.list(root, { delimiter: '/' }))
    .map((key) => key.slice(root.length))
    .map((name) => ({ name, match: ARCHIVE_ID.exec(name) }))
    .filter((a): a is { name: string; match: RegExpExecArray } => a.match !== null)
    .sort((a, b) => Number(b.match[2]) - Number(a.match[2]));
  for (const { name: archiveDir } of archiveIds) {
    const idPrefix = `${root}${archiveDir}`;
    const walDirs = (await repo.list(idPrefix, { delimiter: '/' }))
      .filter((key) => WAL_DIR.test(key.slice(idPrefix.length)))
      .sort();
    const byTimeline = new Map<string, string[]>();
    for (const dir of walDirs) {
      const timeline = dir.slice(idPrefix.length, idPrefix.length + 8);
      byTimeline.set(timeline, [...(byTimeline.get(timeline) ?? []), dir]);
    }
    const newestPerTimeline = (
      await Promise.all(
        [...byTimeline.values()].map(async (dirs) => {
          // Newest log folder first: the last one with a segment holds the timeline's newest.
          for (const dir of [...dirs].reverse()) {
            const key = (await repo.list(dir))
              .filter((k) => WAL_SEGMENT.test(k.slice(dir.length)))
              .sort()
              .at(-1);
            if (key === undefined) continue;
            const info = await repo.head(key);
            if (info) return { key, dir, lastModified: info.lastModified }; // else expired between list and head
          }
          return undefined;
        }),
      )
    ).filter((w): w is { key: string; dir: string; lastModified: Date } => w !== undefined);
    const newest = newestPerTimeline.sort(
      (a, b) => b.lastModified.getTime() - a.lastModified.getTime() || b.key.localeCompare(a.key),
    )[0];
    if (!newest) continue;
    const segment = WAL_SEGMENT.exec(newest.key.slice(newest.dir.length))![1]!;
    return {
      segment,
      timeline: Number.parseInt(segment.slice(0, 8), 16),
      archiveId: archiveDir.slice(0, -1),
      key: newest.key,
      archivedAt: newest.lastModified,
      ageSeconds: ageSeconds(newest.lastModified, now),
      gaps: await gapsOnTimeline(
        repo,
        walDirs.filter((d) => d.startsWith(`${idPrefix}${segment.slice(0, 8)}`)),
      ),
    };
  }
  return undefined;
}

/**
 * Missing segments between the oldest and the newest archived segment of one timeline (expire
 * removes WAL only before the oldest backup, so the range kept must be whole). 16 MiB segments.
 */
async function gapsOnTimeline(repo: Repository, dirs: string[]): Promise<WalGap[]> {
  const seqs = (await Promise.all(dirs.map((dir) => repo.list(dir))))
    .flat()
    .map((key) => WAL_SEGMENT.exec(key.slice(key.lastIndexOf('/') + 1))?.[1])
    .filter((s): s is string => s !== undefined)
    .map((s) => ({ name: s, seq: Number.parseInt(s.slice(8, 16), 16) * 256 + Number.parseInt(s.slice(16, 24), 16) }))
    .sort((a, b) => a.seq - b.seq);
  const gaps: WalGap[] = [];
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i]!.seq !== seqs[i - 1]!.seq + 1)
      gaps.push({ after: seqs[i - 1]!.name, before: seqs[i]!.name, missing: seqs[i]!.seq - seqs[i - 1]!.seq - 1 });
  }
  return gaps;
}

async function newestBackups(
  repo: Repository,
  stanza: string,
  now: Date,
): Promise<Pick<PitrStatus, 'baseBackup' | 'fullBackup'>> {
  const root = `backup/${stanza}/`;
  const labels = (await repo.list(root, { delimiter: '/' }))
    .map((key) => key.slice(root.length))
    .map((name) => ({ name, match: BACKUP_LABEL.exec(name) }))
    .filter((l): l is { name: string; match: RegExpExecArray } => l.match !== null)
    // By the backup's own start time: the second part of a diff/incr label.
    .sort((a, b) => ownStart(b.match).localeCompare(ownStart(a.match)));
  let baseBackup: BaseBackupStatus | undefined;
  for (const { name, match } of labels) {
    const type = match[3] === 'D' ? 'diff' : match[3] === 'I' ? 'incr' : 'full';
    if (baseBackup && type !== 'full') continue;
    const key = `${root}${name}backup.manifest`;
    const info = await repo.head(key);
    if (!info) continue; // still running, or aborted
    const status: BaseBackupStatus = {
      label: name.slice(0, -1),
      type,
      key,
      completedAt: info.lastModified,
      ageSeconds: ageSeconds(info.lastModified, now),
    };
    baseBackup ??= status;
    if (type === 'full') return { baseBackup, fullBackup: status };
  }
  return { baseBackup };
}

function ownStart(match: RegExpExecArray): string {
  return match[2] ?? match[1]!;
}

function ageSeconds(at: Date, now: Date): number {
  return Math.max(0, Math.round((now.getTime() - at.getTime()) / 1000));
}
