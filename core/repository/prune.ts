/**
 * `dr prune`: the vault's lifecycle rules for repositories that have none (a file:// directory,
 * a bucket without the stack): a backup goes once it is older than its tier's retention (daily
 * 7 days, weekly 28, monthly 180: core/repository/tiers.ts), except
 *   - the newest backup that passed a drill (the drill reports in the repository), and the
 *     newest that passes `dr check` now (read back newest first until one passes): a repository
 *     is never pruned down to nothing trustworthy;
 *   - a locked object (S3 Object Lock retention the store reports, or a file the OS refuses to
 *     remove): the backup stays, and the result says which and why.
 * Interrupted backups (files, no manifest) older than a day are removed too.
 *
 * A backup is removed manifest first: from that moment it is no backup any more (list and restore
 * ignore it), so an interrupted prune never leaves a backup that looks complete but is not.
 */
import { checkBackups } from '../backup/check.ts';
import { readDrillHistory } from '../drill/report/store.ts';
import { DrError } from '../errors.ts';
import { completeBackupIds, incompleteBackupIds, listDatabases, readManifest } from './backups.ts';
import { backupIdTime, backupPrefix, manifestKey, REPORTS_ROOT } from './layout.ts';
import { RETENTION_DAYS, type Tier } from './tiers.ts';
import type { Repository } from './types.ts';

const DAY_MS = 86_400_000;
/** An interrupted backup younger than this may still be running. */
const INCOMPLETE_GRACE_MS = DAY_MS;

export interface PruneOptions {
  /** Only say what would go. @default false */
  readonly dryRun?: boolean;
  /** @default - every database in the repository */
  readonly database?: string;
  /** @default - now */
  readonly now?: Date;
  readonly log?: (message: string) => void;
}

export interface PrunedBackup {
  readonly database: string;
  readonly id: string;
  /** null for an interrupted backup (no manifest). */
  readonly tier: Tier | null;
  readonly ageDays: number;
  readonly files: number;
}

export interface KeptBackup {
  readonly database: string;
  readonly id: string;
  /** Why a backup past its retention stays. */
  readonly reason: string;
}

export interface PruneResult {
  /** False when some object could not be removed (see failures); the exit status follows it. */
  readonly passed: boolean;
  readonly dryRun: boolean;
  readonly repository: string;
  /** Removed (or, with dryRun, to be removed). */
  readonly removed: PrunedBackup[];
  /** Past retention but kept: protected, or locked. */
  readonly kept: KeptBackup[];
  /** Backups within retention. */
  readonly retained: number;
  /** Objects that could not be removed, with the reason (the backup then lacks its manifest: no longer listed). */
  readonly failures: { readonly key: string; readonly reason: string }[];
}

export async function pruneRepository(repo: Repository, options: PruneOptions = {}): Promise<PruneResult> {
  const log = options.log ?? (() => {});
  const now = options.now ?? new Date();
  const dryRun = options.dryRun === true;
  if (!dryRun && !repo.delete) throw new DrError(`${repo.url} cannot delete objects`, 'prune another repository type');
  const databases = options.database ? [options.database] : await listDatabases(repo);
  const removed: PrunedBackup[] = [];
  const kept: KeptBackup[] = [];
  const failures: PruneResult['failures'] = [];
  let retained = 0;

  for (const database of databases) {
    const ids = await completeBackupIds(repo, database);
    const manifests = new Map<string, { tier: Tier }>();
    for (const id of ids) {
      const m = await readManifest(repo, database, id).catch(() => undefined);
      // An unreadable manifest: tier unknown, so the longest retention applies.
      manifests.set(id, { tier: m?.tier ?? 'monthly' });
    }
    const age = (id: string) => now.getTime() - backupIdTime(id).getTime();
    const expired = ids.filter((id) => age(id) >= RETENTION_DAYS[manifests.get(id)!.tier] * DAY_MS);
    retained += ids.length - expired.length;

    const protectedIds = new Map<string, string>();
    if (expired.length > 0) {
      // The newest backup a drill passed on (its reports beside the backups).
      const drills = await readDrillHistory(repo, database, { prefix: `${REPORTS_ROOT}/` }).catch(() => []);
      const drilled = drills
        .filter((d) => d.passed && d.backupId && ids.includes(d.backupId))
        .map((d) => d.backupId!)
        .sort()
        .at(-1);
      if (drilled) protectedIds.set(drilled, 'the newest backup that passed a drill');
      // The newest backup that passes check, read back newest first.
      for (const id of ids) {
        log(`checking backup ${id} of ${database} (the newest that passes check is kept)`);
        const result = await checkBackups(repo, { backup: id, database });
        if (result.passed) {
          protectedIds.set(
            id,
            protectedIds.has(id)
              ? 'the newest backup that passed check and a drill'
              : 'the newest backup that passes check',
          );
          break;
        }
      }
    }

    for (const id of expired) {
      const reason = protectedIds.get(id);
      if (reason) {
        kept.push({ database, id, reason });
        continue;
      }
      const lock = await lockOf(repo, manifestKey(database, id), now);
      if (lock) {
        kept.push({ database, id, reason: lock });
        log(`keeping ${database}/${id}: ${lock}`);
        continue;
      }
      const tier = manifests.get(id)!.tier;
      const files = await repo.list(backupPrefix(database, id));
      removed.push({ database, id, tier, ageDays: Math.floor(age(id) / DAY_MS), files: files.length + 1 });
      if (dryRun) continue;
      log(`removing ${database}/${id} (${tier}, ${Math.floor(age(id) / DAY_MS)} days old)`);
      // The manifest first: if it cannot go, nothing else goes either.
      try {
        await repo.delete!(manifestKey(database, id));
      } catch (err) {
        removed.pop();
        kept.push({ database, id, reason: reasonOf(err) });
        continue;
      }
      for (const key of files)
        await repo.delete!(key).catch((err: unknown) => failures.push({ key, reason: reasonOf(err) }));
    }

    for (const id of await incompleteBackupIds(repo, database)) {
      if (now.getTime() - backupIdTime(id).getTime() < INCOMPLETE_GRACE_MS) continue;
      const files = await repo.list(backupPrefix(database, id));
      const lock = files.length ? await lockOf(repo, files[0]!, now) : undefined;
      if (lock) {
        kept.push({ database, id, reason: `interrupted backup, ${lock}` });
        continue;
      }
      removed.push({
        database,
        id,
        tier: null,
        ageDays: Math.floor((now.getTime() - backupIdTime(id).getTime()) / DAY_MS),
        files: files.length,
      });
      if (dryRun) continue;
      log(`removing interrupted backup ${database}/${id} (no manifest)`);
      for (const key of files)
        await repo.delete!(key).catch((err: unknown) => failures.push({ key, reason: reasonOf(err) }));
    }
  }
  return { passed: failures.length === 0, dryRun, repository: repo.url, removed, kept, retained, failures };
}

/** "locked (Object Lock COMPLIANCE until …)" when the store says the object is retained. */
async function lockOf(repo: Repository, key: string, now: Date): Promise<string | undefined> {
  const info = await repo.head(key);
  if (info?.lock && info.lock.until.getTime() > now.getTime())
    return `locked (Object Lock ${info.lock.mode} until ${info.lock.until.toISOString()})`;
  return undefined;
}

function reasonOf(err: unknown): string {
  return err instanceof DrError ? err.message : String((err as Error)?.message ?? err);
}
