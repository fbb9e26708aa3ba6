/**
 * The newest verified backup never expires: when a drill or `dr check` has verified a backup, the
 * newest verified backup of its database holds an S3 Legal Hold on every one of its objects
 * (manifest included), and the holds on any older one are released. A Legal Hold outlives the
 * lifecycle rules and retention dates (and needs no date), so the last backup known to restore is
 * always there, whatever the tiers would expire.
 *
 * The holds are the record: the held manifest marks the newest verified backup, so nothing else is
 * written and the state cannot drift from what S3 enforces. Order makes interruptions harmless:
 * the manifest is held first and released last, so a backup is "held" as long as any of its
 * holds may remain, and the next run finishes (or undoes) what an interrupted one left.
 *
 * Repositories without holds (file://) make this a no-op, reported as `supported: false`: nothing
 * expires there on its own, and dr prune never removes the newest backup that passed a drill or check.
 */
import { completeBackupIds } from './backups.ts';
import { backupIdTime, backupPrefix, manifestKey } from './layout.ts';
import type { Repository } from './types.ts';

export interface VerifiedHold {
  readonly database: string;
  /** False when the repository has no Legal Holds (file://): nothing was held or released. */
  readonly supported: boolean;
  /** The newest verified backup, now held (null when unsupported). */
  readonly held: string | null;
  /** Older backups whose holds were released. */
  readonly released: readonly string[];
  /** Hours from the held backup's start to `now`: the VerifiedBackupAgeHours metric. */
  readonly ageHours: number | null;
}

export interface HoldOptions {
  /** @default - now */
  readonly now?: Date;
  readonly log?: (message: string) => void;
}

type HoldingRepository = Repository & Required<Pick<Repository, 'setLegalHold' | 'legalHold'>>;

function canHold(repo: Repository): repo is HoldingRepository {
  return typeof repo.setLegalHold === 'function' && typeof repo.legalHold === 'function';
}

/** Every object of a backup: its files, then its manifest (the commit marker) last. */
async function backupKeys(repo: Repository, database: string, id: string): Promise<string[]> {
  return [...(await repo.list(backupPrefix(database, id))), manifestKey(database, id)];
}

/** Complete backups of `database` whose manifest is held, newest first. */
export async function heldBackups(repo: Repository, database: string): Promise<string[]> {
  if (!canHold(repo)) return [];
  const held: string[] = [];
  for (const id of await completeBackupIds(repo, database)) {
    if (await repo.legalHold(manifestKey(database, id))) held.push(id);
  }
  return held;
}

/** The newest verified (held) backup of `database` and its age, without changing anything. */
export async function newestVerifiedBackup(
  repo: Repository,
  database: string,
  now: Date = new Date(),
): Promise<{ id: string; ageHours: number } | undefined> {
  const id = (await heldBackups(repo, database))[0];
  return id === undefined ? undefined : { id, ageHours: ageHours(id, now) };
}

/**
 * `verifiedId` of `database` has just been verified: hold it if it is newer than the backup held
 * so far (else keep that one), then release every other held backup of the database.
 */
export async function holdNewestVerified(
  repo: Repository,
  database: string,
  verifiedId: string,
  options: HoldOptions = {},
): Promise<VerifiedHold> {
  const now = options.now ?? new Date();
  if (!canHold(repo)) return { database, supported: false, held: null, released: [], ageHours: null };
  const log = options.log ?? (() => {});
  const held = await heldBackups(repo, database);
  // Ids sort by start time, so the newest verified is the greatest of the two.
  const newest = held[0] !== undefined && held[0] > verifiedId ? held[0] : verifiedId;
  // Manifest first: once it is held, the backup counts as held until its last hold is released.
  const keys = await backupKeys(repo, database, newest);
  for (const key of [keys.at(-1)!, ...keys.slice(0, -1)]) await repo.setLegalHold(key, true);
  if (newest === verifiedId && held[0] !== verifiedId)
    log(`legal hold placed on ${database}/${verifiedId}: the newest verified backup`);
  const released: string[] = [];
  for (const id of held.filter((h) => h !== newest)) {
    // Files first, manifest last: an interrupted release is finished by the next run.
    for (const key of await backupKeys(repo, database, id)) await repo.setLegalHold(key, false);
    released.push(id);
    log(`legal hold released on ${database}/${id}: ${newest} is a newer verified backup`);
  }
  return { database, supported: true, held: newest, released, ageHours: ageHours(newest, now) };
}

function ageHours(id: string, now: Date): number {
  return Math.round(((now.getTime() - backupIdTime(id).getTime()) / 3_600_000) * 100) / 100;
}
