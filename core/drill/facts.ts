/**
 * What a drill's report is built from (DrillFacts, core/drill/report/model.ts). The backup's facts
 * come from its manifest the same way in the local drill (core/drill/run.ts) and the AWS drill;
 * gatherFacts assembles the AWS drill's from what the state machine's steps returned (the restore
 * job's recorded result, Catch causes as one-line reasons, task timings where a result has none).
 */
import { z } from 'zod';
import type { Manifest } from '../backup/manifest.ts';
import { jobResultKey, readJobResult } from '../job-result.ts';
import { readManifest } from '../repository/backups.ts';
import { backupIdTime, isBackupId } from '../repository/layout.ts';
import type { Repository } from '../repository/types.ts';
import { BackupRefSchema, FallbackSchema, FullRestoreResultSchema, RestorePhasesSchema } from '../restore/result.ts';
import type { DrillFacts } from './report/model.ts';

/**
 * A full restore's `dr restore --json` result (core/restore/result.ts FullRestoreResultSchema), as a
 * report reads it: results that older jobs recorded lack the backup's tier, the later phases and
 * some totals, and still make a report.
 */
export const RestoreResultSchema = FullRestoreResultSchema.partial({
  target: true,
  replaced: true,
  files: true,
  bytes: true,
  tables: true,
  rows: true,
})
  .extend({
    backup: BackupRefSchema.partial({ tier: true }).loose(),
    durationMs: z.number().nonnegative(),
    phases: RestorePhasesSchema.partial({ checkTargetMs: true, fallbackMs: true, swapMs: true, otherMs: true }),
    fallbacks: z.array(FallbackSchema).default([]),
    warnings: z.array(z.string()).default([]),
  })
  .loose();

/** The backup of a drill as its manifest describes it: size and tier too. */
export function backupFacts(manifest: Manifest): NonNullable<DrillFacts['backup']> {
  return { id: manifest.id, startedAt: manifest.startedAt, bytes: manifest.totals.bytes, tier: manifest.tier };
}

interface Timing {
  readonly startedAt?: number;
  readonly stoppedAt?: number;
}

/** What the AWS drill's steps got through (lambdas/drill-report DrillReportEventSchema, parsed). */
export interface DrillSteps {
  readonly database: string;
  readonly backupId?: string;
  readonly startedAt?: string;
  readonly rtoSeconds?: number;
  readonly healthUrls?: readonly string[];
  readonly restore?: z.output<typeof RestoreResultSchema>;
  /** The DR_RESULT_NAME the restore job was given: its record is read when `restore` is absent. */
  readonly restoreResultName?: string;
  readonly verify?: NonNullable<DrillFacts['verification']>;
  readonly scratch?: DrillFacts['scratch'];
  readonly timings?: { readonly restore?: Timing; readonly verify?: Timing; readonly cleanup?: Timing };
  /** Step Functions Catch outputs (`{Error, Cause}`) named by their step, or plain messages. */
  readonly errors: readonly { step: string; message?: string; Error?: string; Cause?: string }[];
}

/** The facts of an AWS drill: its steps' results, the restore job's recorded result, the backup's manifest. */
export async function gatherFacts(repo: Repository, steps: DrillSteps, finishedAt: Date): Promise<DrillFacts> {
  const errors = steps.errors.map((e) => ({ step: e.step, message: e.message ?? causeMessage(e.Error, e.Cause) }));
  let restore = steps.restore;
  if (!restore && steps.restoreResultName) {
    const key = jobResultKey('restore', steps.restoreResultName);
    try {
      const record = await readJobResult(repo, key);
      const result = record?.result;
      if (result?.ok === true) restore = RestoreResultSchema.parse(result);
      else if (result && typeof result.error === 'string' && !errors.some((e) => e.step === 'restore')) {
        errors.push({
          step: 'restore',
          message: [result.error, result.hint].filter((s) => typeof s === 'string' && s).join('; '),
        });
      } else if (!record && !errors.some((e) => e.step === 'restore')) {
        errors.push({ step: 'restore', message: `the restore job recorded no result (${key})` });
      }
    } catch (err) {
      errors.push({ step: 'restore', message: `reading the restore result ${key}: ${(err as Error).message}` });
    }
  }

  const backupId = restore?.backup.id ?? steps.backupId;
  let backup: DrillFacts['backup'];
  if (backupId && isBackupId(backupId)) {
    // The manifest has the size and tier; a drill whose restore failed still reports them.
    const manifest = await readManifest(repo, steps.database, backupId).catch(() => undefined);
    backup = manifest
      ? backupFacts(manifest)
      : {
          id: backupId,
          startedAt: restore?.backup.startedAt ?? backupIdTime(backupId).toISOString(),
          bytes: restore?.bytes ?? null,
          tier: restore?.backup.tier ?? null,
        };
  }

  const span = (t?: Timing) =>
    t?.startedAt !== undefined && t.stoppedAt !== undefined ? t.stoppedAt - t.startedAt : undefined;
  const startedAt = steps.startedAt
    ? new Date(steps.startedAt)
    : new Date(steps.timings?.restore?.startedAt ?? finishedAt.getTime());
  return {
    database: steps.database,
    startedAt,
    finishedAt,
    rtoSeconds: steps.rtoSeconds,
    backup,
    scratch: steps.scratch,
    restore,
    restoreMs: restore ? undefined : span(steps.timings?.restore),
    verification: steps.verify
      ? { ...steps.verify, durationMs: steps.verify.durationMs ?? span(steps.timings?.verify) }
      : undefined,
    cleanupMs: span(steps.timings?.cleanup),
    errors,
    healthUrls: steps.healthUrls,
  };
}

/**
 * A one-line reason from a Catch's Cause: a Lambda's errorMessage, an ECS task's stopped reason
 * or exit code, else the text itself (shortened).
 */
export function causeMessage(error: string | undefined, cause: string | undefined): string {
  if (!cause) return error ?? 'failed (no cause recorded)';
  try {
    const c = JSON.parse(cause) as Record<string, unknown>;
    if (typeof c.errorMessage === 'string')
      return `${typeof c.errorType === 'string' ? `${c.errorType}: ` : ''}${c.errorMessage}`;
    const containers = Array.isArray(c.Containers) ? (c.Containers as Record<string, unknown>[]) : [];
    const exit = containers.find((x) => typeof x.ExitCode === 'number' && x.ExitCode !== 0)?.ExitCode;
    const reason = [c.StoppedReason, containers.find((x) => typeof x.Reason === 'string')?.Reason]
      .filter((s) => typeof s === 'string' && s)
      .join(': ');
    if (reason || exit !== undefined)
      return `${reason || 'task stopped'}${exit !== undefined ? ` (exit code ${exit})` : ''}`;
  } catch {
    // not JSON: the cause is the message
  }
  return `${error ? `${error}: ` : ''}${cause.length > 500 ? `${cause.slice(0, 500)}…` : cause}`;
}
