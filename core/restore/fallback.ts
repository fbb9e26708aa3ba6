/**
 * Falling back past a damaged newest backup: with `latest`, a restore tries the newest backup
 * first and takes the previous one when it fails verification, recording why.
 */
import type { Manifest } from '../backup/manifest.ts';
import { BackupIntegrityError, DrError } from '../errors.ts';
import { type BackupCandidates, readManifest } from '../repository/backups.ts';
import type { Repository } from '../repository/types.ts';
import type { FallbackRecord } from './result.ts';

export interface Verified<T> {
  readonly manifest: Manifest;
  readonly value: T;
  /** Newer backups that failed verification and were skipped (only with `latest`). */
  readonly fallbacks: FallbackRecord[];
  /** A `FALLBACK: …` line when a fallback happened, for the result's warnings. */
  readonly warnings: string[];
}

/**
 * Runs `attempt` (check, download and verify what the restore needs) on the newest candidate
 * first. With `latest`, a backup failing verification (BackupIntegrityError) is skipped for the
 * previous one and recorded; an explicit id never falls back.
 */
export async function firstVerified<T>(
  repo: Repository,
  candidates: BackupCandidates,
  log: (message: string) => void,
  attempt: (manifest: Manifest) => Promise<T>,
): Promise<Verified<T>> {
  const fallbacks: FallbackRecord[] = [];
  const suspects: string[] = [];
  for (const id of candidates.ids) {
    try {
      const manifest = await readManifest(repo, candidates.database, id);
      if (candidates.latest && !candidates.includeSuspect && manifest.suspect) {
        suspects.push(id);
        log(
          `WARNING: skipping suspect backup ${id} (${manifest.suspect.reasons.join('; ')}); --backup latest-any would take it`,
        );
        continue;
      }
      const value = await attempt(manifest);
      const [newest] = fallbacks;
      const warnings = [
        ...(newest
          ? [
              `FALLBACK: newest backup ${newest.id} failed verification (${newest.reason}); restored ${manifest.id} instead`,
            ]
          : []),
        ...suspects.map(
          (s) => `skipped suspect backup ${s} (it shrank against the one before; --backup latest-any takes it)`,
        ),
      ];
      return { manifest, value, fallbacks, warnings };
    } catch (err) {
      if (!(err instanceof BackupIntegrityError) || !candidates.latest) throw err;
      fallbacks.push({ id, reason: err.message });
      log(`WARNING: backup ${id} failed verification: ${err.message}; falling back to the previous backup`);
    }
  }
  if (fallbacks.length === 0 && suspects.length > 0) {
    throw new DrError(
      `every backup of ${candidates.database} is suspect (${suspects.join(', ')})`,
      'check them (dr list), then name one with --backup ID or take the newest with --backup latest-any',
    );
  }
  throw new DrError(
    `no backup of ${candidates.database} passed verification (${fallbacks.length} tried)`,
    `first failure: ${fallbacks[0]?.reason ?? 'unknown'}`,
  );
}
