/**
 * `dr restore` (full): verify the backup, restore it into a staging database next to the target,
 * and only then put it in the target's place. The target is never touched before the backup is
 * verified, and a failed restore leaves the target as it was.
 */
import { rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '../backup/manifest.ts';
import { DrError } from '../errors.ts';
import { firstErrorLine, type PgTools, type PgUrl, parsePgUrl, runTool, withDatabase } from '../pg/connection.ts';
import { TIMESCALE_EXTENSION } from '../pg/timescale.ts';
import { resolveBackup } from '../repository/backups.ts';
import type { Repository } from '../repository/types.ts';
import { firstVerified } from './fallback.ts';
import { type FetchedBackup, fetchVerified } from './fetch.ts';
import { workDirFor } from './leftovers.ts';
import type { RestoreResult } from './result.ts';
import { assertExtensionsAvailable, openTarget, restoreDumpIntoTarget } from './target.ts';

export interface RestoreOptions {
  readonly repository: Repository;
  /** `latest` or a backup id. */
  readonly backup: string;
  /** Source database name in the repository; @default - the only one, or the one holding `backup` */
  readonly database?: string;
  /** Target database URL; the database is created when missing. */
  readonly target: string;
  /** Replace a non-empty target. @default false */
  readonly overwrite?: boolean;
  /** Apply the backup's roles and tablespaces to the target server first. @default false */
  readonly withGlobals?: boolean;
  /** Skip restoring ownership (for a server without the source's roles). @default false */
  readonly noOwner?: boolean;
  /** @default - the CPU count */
  readonly jobs?: number;
  /**
   * Keep restored TimescaleDB policy jobs from running (see JobSchedule.hold): for a copy that is
   * restored to be verified, as drills do.
   * @default false - each job is next due when the source had it due
   */
  readonly holdTimescaleJobs?: boolean;
  /** Where remote backups are downloaded. @default - the OS temp directory */
  readonly workDir?: string;
  readonly tools?: PgTools;
  readonly log?: (message: string) => void;
}

export async function runRestore(options: RestoreOptions): Promise<RestoreResult> {
  const log = options.log ?? (() => {});
  const tools = options.tools ?? {};
  const repo = options.repository;
  const jobs = options.jobs ?? Math.max(1, cpus().length);
  if (!Number.isInteger(jobs) || jobs < 1)
    throw new DrError(`--jobs must be a whole number ≥ 1, got ${jobs}`, 'e.g. --jobs 4');
  const started = Date.now();
  const target = parsePgUrl(options.target, '--target');
  const warnings: string[] = [];

  const candidates = await resolveBackup(repo, options.backup, options.database);

  // Check the target before downloading anything: refusing late would waste the download.
  const opened = await openTarget(target, { overwrite: options.overwrite, tools });
  const admin = opened.admin;
  for (const line of opened.cleaned) {
    log(line);
    warnings.push(line);
  }
  let workDir: string | undefined;
  try {
    const checkTargetMs = Date.now() - started;
    const verifyStarted = Date.now();
    let attemptStarted = verifyStarted;
    const {
      manifest,
      value: fetched,
      fallbacks,
      warnings: fallbackWarnings,
    } = await firstVerified(repo, candidates, log, async (manifest) => {
      // The time until the attempt that succeeds went into backups that failed verification.
      attemptStarted = Date.now();
      if (workDir) await rm(workDir, { recursive: true, force: true });
      workDir = await workDirFor(options.workDir ?? tmpdir(), 'restore');
      await assertExtensionsAvailable(admin, manifest);
      log(`verifying backup ${manifest.id} of ${candidates.database} (${manifest.totals.files} files)`);
      return fetchVerified(repo, manifest, { workDir, concurrency: Math.max(4, jobs) });
    });
    warnings.push(...fallbackWarnings);

    // The backup is verified: from here on the target server is touched.
    if (options.withGlobals) await applyGlobals(tools, fetched, target, manifest, warnings, log);
    const { restoreMs, swapMs } = await restoreDumpIntoTarget(
      opened,
      {
        dumpDir: fetched.dumpDir,
        id: manifest.id,
        databaseOptions: manifest.databaseOptions,
        databaseProperties: manifest.databaseProperties,
        timescaleVersion: manifest.extensions.find((e) => e.name === TIMESCALE_EXTENSION)?.version,
        timescaleJobs: {
          hold: options.holdTimescaleJobs,
          recorded: new Map((manifest.timescale?.jobs ?? []).map((j) => [j.id, j.nextStart])),
        },
      },
      { noOwner: options.noOwner, jobs, tools, log, warnings },
    );
    const targetExists = opened.exists;
    log(
      `restored backup ${manifest.id} into ${target.display}${targetExists ? ' (replaced the previous database)' : ''}`,
    );
    const durationMs = Date.now() - started;
    const fallbackMs = fallbacks.length > 0 ? attemptStarted - verifyStarted : 0;
    const measured = {
      checkTargetMs,
      fallbackMs,
      downloadMs: fetched.downloadMs,
      verifyMs: fetched.verifyMs,
      restoreMs,
      swapMs,
    };
    const otherMs = durationMs - Object.values(measured).reduce((a, b) => a + b, 0);
    return {
      backup: { id: manifest.id, database: manifest.database, tier: manifest.tier, startedAt: manifest.startedAt },
      fallbacks,
      target: target.display,
      replaced: targetExists,
      files: manifest.totals.files,
      bytes: manifest.totals.bytes,
      tables: manifest.tables.length,
      rows: manifest.totals.rows,
      durationMs,
      phases: { ...measured, otherMs },
      warnings,
    };
  } finally {
    await admin.end().catch(() => {});
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }
}

async function applyGlobals(
  tools: PgTools,
  fetched: FetchedBackup,
  target: PgUrl,
  manifest: Manifest,
  warnings: string[],
  log: (m: string) => void,
): Promise<void> {
  if (!manifest.globals) {
    warnings.push(`backup ${manifest.id} has no globals; roles were not created`);
    return;
  }
  log('applying roles and tablespaces (globals)');
  // Without ON_ERROR_STOP: on a server that has some of the roles, "already exists" is expected.
  const result = await runTool(tools, 'psql', [
    '-X',
    '-q',
    '-v',
    'ON_ERROR_STOP=0',
    `--dbname=${withDatabase(target.url, 'postgres')}`,
    '-f',
    join(fetched.root, manifest.globals.path),
  ]);
  const errors = result.stderr.split('\n').filter((l) => /ERROR:/.test(l));
  if (result.code !== 0)
    throw new DrError(
      `applying globals failed: ${firstErrorLine(result.stderr)}`,
      'check the target server and user rights',
    );
  const [firstError] = errors;
  if (firstError !== undefined)
    warnings.push(`globals: ${errors.length} statements failed, e.g. ${firstError.replace(/^.*ERROR:\s*/, '')}`);
}
