/**
 * Drill reports: what a restore drill proved, as one object rendered to JSON, Markdown and a
 * self-contained HTML page (inline CSS and SVG, no external assets). `dr drill` and the
 * drill-report Lambda both build them (build.ts), so a local drill and a monthly one read the same.
 * This file holds the report's shape; build.ts fills it, render-*.ts and chart.ts draw it, and
 * store.ts keeps it in the repository.
 *
 * PASS means: the restore completed within the RTO, the verification passed, and every checklist
 * item that is configured is ✓.
 */
import { z } from 'zod';
import type { VerifyCheck } from '../../verify/verify.ts';
import type { ReportSignature } from '../evidence.ts';

export const DRILL_REPORT_KIND = 'crypto-stock-dr/drill-report';
export const DRILL_REPORT_FORMAT_VERSION = 1;
/** The guide's RTO for critical databases. */
export const DEFAULT_RTO_SECONDS = 3600;
/** How many previous drills the trend shows. */
export const TREND_LENGTH = 12;

/**
 * Phases of a drill. The restore time (the headline, measured against the RTO) is the sum of the
 * phases with `inRestoreTime`: check-target … other. `other` is what the restore did not measure
 * separately (the headline minus the measured phases), so the parts always add up to the whole.
 */
export type PhaseName =
  | 'backup'
  | 'check-target'
  | 'fallback'
  | 'download'
  | 'verify-checksums'
  | 'restore'
  | 'swap'
  | 'other'
  | 'verify-data'
  | 'cleanup';
export const PHASE_LABELS: Readonly<Record<PhaseName, string>> = {
  backup: 'Fresh backup',
  'check-target': 'Find the backup, check the target server',
  fallback: 'Verify damaged backups that were skipped',
  download: 'Download',
  'verify-checksums': 'Verify checksums',
  restore: 'Restore (pg_restore)',
  swap: 'Database properties, swap into place',
  other: 'Other (not measured separately)',
  'verify-data': 'Verify data',
  cleanup: 'Drop scratch database',
};

export type ChecklistState = 'pass' | 'fail' | 'not-configured';
export const CHECKLIST_SYMBOLS: Readonly<Record<ChecklistState, string>> = {
  pass: '✓',
  fail: '✗',
  'not-configured': 'not configured',
};

/** The recovery guide's drill checklist, in its order. */
export const CHECKLIST_ITEMS = [
  'Backup accessible',
  'Restore completed',
  'All tables present',
  'Row counts match',
  'Indexes created',
  // The guide's "Application starts": a drill cannot start the application on the scratch
  // database, so this item says what it checks, the configured (production) health URLs.
  'Production health endpoint answers',
  'API endpoints respond',
  'WebSocket connects',
  'Data queries work',
  'No errors in the restore logs',
] as const;
export type ChecklistItemName = (typeof CHECKLIST_ITEMS)[number];

export interface ChecklistItem {
  readonly item: ChecklistItemName;
  readonly state: ChecklistState;
  readonly detail: string;
}

export interface DrillIssue {
  /** failed-check: a verification check; error: a step failed; fallback: a newer backup was damaged; warning: from the restore. */
  readonly kind: 'failed-check' | 'error' | 'fallback' | 'warning';
  readonly step: string;
  readonly message: string;
}

export interface TrendPoint {
  readonly startedAt: string;
  readonly backupId: string | null;
  readonly restoreSeconds: number | null;
  readonly rtoSeconds: number;
  readonly passed: boolean;
}

export interface DrillReport {
  readonly kind: typeof DRILL_REPORT_KIND;
  readonly formatVersion: typeof DRILL_REPORT_FORMAT_VERSION;
  readonly database: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly passed: boolean;
  /** One line: PASS/FAIL, restore time against the RTO, what failed. */
  readonly summary: string;
  /** The backup restored (after any fallback); null when none was found. */
  readonly backup: {
    readonly id: string;
    /** When its snapshot was taken: the data is as of then. */
    readonly startedAt: string;
    /** Age of that snapshot when the drill started. */
    readonly ageHours: number;
    readonly bytes: number | null;
    readonly tier: string | null;
    /** Taken by this drill (dr drill --db) rather than picked from the repository. */
    readonly fresh: boolean;
  } | null;
  readonly scratch: { readonly database: string; readonly server: string; readonly dropped: boolean } | null;
  /**
   * Each phase's duration; null when it did not run (or its duration is unknown). The phases with
   * `inRestoreTime` add up to `restore.seconds`. @default inRestoreTime - false (older reports)
   */
  readonly phases: {
    readonly name: PhaseName;
    readonly label: string;
    readonly seconds: number | null;
    readonly inRestoreTime?: boolean;
  }[];
  /** Restore time = the whole restore (target checks, download, checksums, pg_restore, swap), measured against the RTO. */
  readonly restore: {
    readonly completed: boolean;
    readonly seconds: number | null;
    readonly rtoSeconds: number;
    readonly rtoPassed: boolean;
    readonly tables: number | null;
    readonly rows: number | null;
  };
  /** `checks` may lack passing checks the verify Lambda omitted; `totals` counts them all. */
  readonly verification: {
    readonly passed: boolean;
    readonly seconds: number | null;
    readonly totals: { readonly checks: number; readonly failed: number };
    readonly checks: VerifyCheck[];
  } | null;
  readonly issues: DrillIssue[];
  readonly checklist: ChecklistItem[];
  /** What an auditor checks it against: the manifest's SHA-256, the RPO achieved, the versions. @default - null (older reports) */
  readonly evidence?: DrillEvidence | null;
  /** Set when written (core/drill/evidence.ts signReport): the signature, or null with `unsigned` saying why. */
  readonly signature?: ReportSignature | null;
  readonly unsigned?: string;
  readonly trend: {
    /** Up to TREND_LENGTH previous drills of this database, oldest first. */
    readonly previous: TrendPoint[];
    /** This drill's restore time minus the previous drill's, in seconds; null without both. */
    readonly changeSeconds: number | null;
    /** Median restore time of the previous drills. */
    readonly medianSeconds: number | null;
    /**
     * Median restore time of the last three drills (this one included) over the three before, in
     * percent (+25 = 25% slower); null with fewer than six. Alarm: above DrillTrend.growthAlarmPercent.
     */
    readonly growthPercent?: number | null;
    /**
     * Days until the restore time reaches the RTO at the last 12 months' rate (least squares over
     * the drills); null when it is not growing or there are fewer than three. Alarm: below DrillTrend.rtoHorizonDays.
     */
    readonly daysToRto?: number | null;
  };
}

export interface DrillEvidence {
  /** SHA-256 of the restored backup's manifest as stored; `dr report verify --repo` checks it. */
  readonly manifestSha256: string | null;
  /** The backup's snapshot time minus the newest restored row (the most recent table's MAX(time)). */
  readonly achievedRpo: { readonly seconds: number; readonly table: string; readonly newestRow: string } | null;
  readonly versions: {
    readonly dr: string;
    readonly pgDump: string | null;
    readonly server: string | null;
    readonly timescaledb: string | null;
  };
}

/** What a drill did, as far as it got; every step's result is optional because any step can fail. */
export interface DrillFacts {
  readonly database: string;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  /** @default DEFAULT_RTO_SECONDS */
  readonly rtoSeconds?: number;
  readonly backup?: {
    readonly id: string;
    readonly startedAt: string;
    readonly bytes?: number | null;
    readonly tier?: string | null;
    readonly fresh?: boolean;
  };
  readonly freshBackupMs?: number;
  readonly scratch?: { readonly database: string; readonly server: string; readonly dropped: boolean };
  /** The restore result (core/restore/result.ts FullRestoreResultSchema, read by core/drill/facts.ts RestoreResultSchema). */
  readonly restore?: {
    readonly durationMs: number;
    /** core/restore/result.ts RestorePhasesSchema; results of older jobs carry only the first three (the rest shows as "other"). */
    readonly phases: {
      readonly downloadMs: number;
      readonly verifyMs: number;
      readonly restoreMs: number;
      readonly checkTargetMs?: number;
      readonly fallbackMs?: number;
      readonly swapMs?: number;
    };
    readonly fallbacks?: readonly { readonly id: string; readonly reason: string }[];
    readonly warnings?: readonly string[];
    readonly tables?: number;
    readonly rows?: number;
  };
  /** Restore time when the restore failed or its result is missing (e.g. from ECS task timings). */
  readonly restoreMs?: number;
  /** core/verify/verify.ts VerifyResult; the verify Lambda may omit passing checks (counted in `totals`). */
  readonly verification?: {
    readonly passed: boolean;
    readonly checks: readonly VerifyCheck[];
    readonly totals?: { readonly checks: number; readonly failed: number };
    readonly omittedPassedChecks?: number;
    readonly durationMs?: number;
  };
  readonly cleanupMs?: number;
  /** Steps that failed: `step` is backup, restore, verify-data, cleanup, report… */
  readonly errors?: readonly { readonly step: string; readonly message: string }[];
  /** Application URLs the drill was configured to check; decides "not configured" in the checklist. */
  readonly healthUrls?: readonly string[];
  /** Previous drills, any order (readDrillHistory). */
  readonly previous?: readonly TrendPoint[];
  readonly evidence?: DrillEvidence;
}

export function currentPoint(r: DrillReport): TrendPoint {
  return {
    startedAt: r.startedAt,
    backupId: r.backup?.id ?? null,
    restoreSeconds: r.restore.seconds,
    rtoSeconds: r.restore.rtoSeconds,
    passed: r.passed,
  };
}

/** The JSON form is the report itself. */
export function renderJson(report: DrillReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** The fields of a stored report the trend needs; older or newer reports parse as long as these are there. */
export const StoredReportSchema = z.object({
  kind: z.literal(DRILL_REPORT_KIND),
  database: z.string(),
  startedAt: z.string(),
  passed: z.boolean(),
  backup: z.object({ id: z.string() }).nullable(),
  restore: z.object({ seconds: z.number().nullable(), rtoSeconds: z.number() }),
  trend: z
    .object({
      previous: z.array(
        z.object({
          startedAt: z.string(),
          backupId: z.string().nullable(),
          restoreSeconds: z.number().nullable(),
          rtoSeconds: z.number(),
          passed: z.boolean(),
        }),
      ),
    })
    .optional(),
});
