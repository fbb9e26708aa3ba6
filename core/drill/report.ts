/**
 * Drill reports: what a restore drill proved, as one object rendered to JSON, Markdown and a
 * self-contained HTML page (inline CSS and SVG, no external assets). `dr drill` and the
 * drill-report Lambda both build them here, so a local drill and a monthly one read the same.
 *
 * PASS means: the restore completed within the RTO, the verification passed, and every checklist
 * item that is configured is ✓.
 */
import { text } from 'node:stream/consumers';
import { z } from 'zod';
import { formatBytes as formatByteSize, formatSeconds } from '../format.ts';
import {
  DRILL_REPORT_FORMATS,
  type DrillReportFormat,
  drillReportBase,
  drillReportsPrefix,
  isDrillReportJsonKey,
} from '../repository/layout.ts';
import { EVIDENCE } from '../repository/tiers.ts';
import type { Repository } from '../repository/types.ts';
import { describeFailure, type VerifyCheck } from '../verify/verify.ts';
import { type ReportSignature, type ReportSigner, signReport } from './evidence.ts';

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
/** The label of `other` when the restore failed: its time is known only as a whole. */
const FAILED_RESTORE_LABEL = 'Restore until it failed (not broken down)';

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

/** The chart and the trend look back this far. */
const TREND_WINDOW_DAYS = 365;

const medianOf = (values: readonly number[]): number | null => {
  const v = [...values].sort((a, b) => a - b);
  return v.length === 0 ? null : v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

/** Growth of the restore time and the days left before it reaches the RTO, from drills oldest first (this one last). */
export function restoreTrend(
  points: readonly { startedAt: string; restoreSeconds: number | null }[],
  rtoSeconds: number,
): { growthPercent: number | null; daysToRto: number | null } {
  const known = points.filter((p): p is { startedAt: string; restoreSeconds: number } => p.restoreSeconds !== null);
  const recent = medianOf(known.slice(-3).map((p) => p.restoreSeconds));
  const before = medianOf(known.slice(-6, -3).map((p) => p.restoreSeconds));
  const growthPercent =
    known.length >= 6 && recent !== null && before !== null && before > 0
      ? Math.round(((recent - before) / before) * 1000) / 10
      : null;
  if (known.length < 3) return { growthPercent, daysToRto: null };
  const xs = known.map((p) => Date.parse(p.startedAt) / 86_400_000);
  const ys = known.map((p) => p.restoreSeconds);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  const sxx = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  const slope = sxx === 0 ? 0 : xs.reduce((a, x, i) => a + (x - mx) * (ys[i] - my), 0) / sxx;
  const last = ys[ys.length - 1];
  if (slope <= 0) return { growthPercent, daysToRto: null };
  return { growthPercent, daysToRto: Math.max(0, Math.round(((rtoSeconds - last) / slope) * 10) / 10) };
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
  /** The restore result (core/restore/full.ts RestoreResult, or the job's `dr restore --json`). */
  readonly restore?: {
    readonly durationMs: number;
    /** core/restore/full.ts RestorePhases; results of older jobs carry only the first three (the rest shows as "other"). */
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

const seconds = (ms: number | undefined | null) => (ms === undefined || ms === null ? null : Math.round(ms) / 1000);

export function buildDrillReport(facts: DrillFacts): DrillReport {
  const rtoSeconds = facts.rtoSeconds ?? DEFAULT_RTO_SECONDS;
  const errors = facts.errors ?? [];
  const restore = facts.restore;
  const restoreSeconds = seconds(restore?.durationMs ?? facts.restoreMs);
  const restoreCompleted = restore !== undefined && !errors.some((e) => e.step === 'restore');
  const rtoPassed = restoreCompleted && restoreSeconds !== null && restoreSeconds <= rtoSeconds;
  const checks = [...(facts.verification?.checks ?? [])];
  const totals = facts.verification?.totals ?? {
    checks: checks.length,
    failed: checks.filter((c) => !c.passed).length,
  };

  const issues: DrillIssue[] = [];
  for (const e of errors) issues.push({ kind: 'error', step: e.step, message: e.message });
  for (const f of restore?.fallbacks ?? [])
    issues.push({
      kind: 'fallback',
      step: 'restore',
      message: `backup ${f.id} failed verification and was skipped: ${f.reason}`,
    });
  for (const w of restore?.warnings ?? [])
    if (!w.startsWith('FALLBACK')) issues.push({ kind: 'warning', step: 'restore', message: w });
  for (const c of checks)
    if (!c.passed) issues.push({ kind: 'failed-check', step: 'verify-data', message: describeFailure(c) });
  if (restoreCompleted && !rtoPassed)
    issues.push({
      kind: 'error',
      step: 'restore',
      message: `restore took ${formatSeconds(restoreSeconds)}, over the RTO of ${formatSeconds(rtoSeconds)}`,
    });
  if (facts.scratch && !facts.scratch.dropped && !errors.some((e) => e.step === 'cleanup')) {
    issues.push({
      kind: 'error',
      step: 'cleanup',
      message: `scratch database ${facts.scratch.database} was not dropped`,
    });
  }

  const checklist = buildChecklist(facts, restoreCompleted, checks);
  const verificationPassed = facts.verification?.passed === true;
  const passed =
    rtoPassed &&
    verificationPassed &&
    !issues.some((i) => i.kind === 'error') &&
    checklist.every((c) => c.state !== 'fail');

  const phases: DrillReport['phases'] = [];
  const phase = (name: PhaseName, ms: number | undefined | null, inRestoreTime = false, label = PHASE_LABELS[name]) =>
    phases.push({ name, label, seconds: seconds(ms), inRestoreTime });
  if (facts.freshBackupMs !== undefined || facts.backup?.fresh) phase('backup', facts.freshBackupMs);
  if (restore) {
    const p = restore.phases;
    const measured: [PhaseName, number | undefined][] = [
      ['check-target', p.checkTargetMs],
      // Only when a newer backup was skipped: otherwise there is no such phase.
      ['fallback', p.fallbackMs ? p.fallbackMs : undefined],
      ['download', p.downloadMs],
      ['verify-checksums', p.verifyMs],
      ['restore', p.restoreMs],
      ['swap', p.swapMs],
    ];
    let accounted = 0;
    for (const [name, ms] of measured) {
      if (ms === undefined) continue;
      phase(name, ms, true);
      accounted += Math.round(ms);
    }
    // Whole milliseconds on both sides, so the shown seconds sum to the headline exactly.
    phase('other', Math.round(restore.durationMs) - accounted, true);
  } else if (restoreSeconds !== null) {
    phase('other', facts.restoreMs, true, FAILED_RESTORE_LABEL);
  }
  phase('verify-data', facts.verification?.durationMs);
  if (facts.scratch) phase('cleanup', facts.cleanupMs);

  const windowStart = new Date(facts.startedAt.getTime() - TREND_WINDOW_DAYS * 86_400_000).toISOString();
  const previous = [...(facts.previous ?? [])]
    .filter((p) => p.startedAt < facts.startedAt.toISOString() && p.startedAt >= windowStart)
    .sort((a, b) => (a.startedAt < b.startedAt ? -1 : 1))
    .slice(-TREND_LENGTH);
  const lastSeconds = [...previous].reverse().find((p) => p.restoreSeconds !== null)?.restoreSeconds ?? null;
  const known = previous
    .map((p) => p.restoreSeconds)
    .filter((s): s is number => s !== null)
    .sort((a, b) => a - b);
  const median =
    known.length === 0
      ? null
      : known.length % 2
        ? known[(known.length - 1) / 2]
        : (known[known.length / 2 - 1] + known[known.length / 2]) / 2;

  const failedItems = checklist.filter((c) => c.state === 'fail').map((c) => c.item);
  const summary =
    `${passed ? 'PASS' : 'FAIL'} ${facts.database}: ` +
    (restoreSeconds === null
      ? 'no restore time'
      : `restore ${formatSeconds(restoreSeconds)} of RTO ${formatSeconds(rtoSeconds)} (${rtoPassed ? 'met' : restoreCompleted ? 'exceeded' : 'restore failed'})`) +
    (facts.verification ? `, ${totals.checks - totals.failed}/${totals.checks} checks passed` : ', not verified') +
    (failedItems.length ? `; failed: ${failedItems.join(', ')}` : '');

  return {
    kind: DRILL_REPORT_KIND,
    formatVersion: DRILL_REPORT_FORMAT_VERSION,
    database: facts.database,
    startedAt: facts.startedAt.toISOString(),
    finishedAt: facts.finishedAt.toISOString(),
    passed,
    summary,
    backup: facts.backup
      ? {
          id: facts.backup.id,
          startedAt: facts.backup.startedAt,
          ageHours:
            Math.round(((facts.startedAt.getTime() - Date.parse(facts.backup.startedAt)) / 3_600_000) * 100) / 100,
          bytes: facts.backup.bytes ?? null,
          tier: facts.backup.tier ?? null,
          fresh: facts.backup.fresh === true,
        }
      : null,
    scratch: facts.scratch ?? null,
    phases,
    restore: {
      completed: restoreCompleted,
      seconds: restoreSeconds,
      rtoSeconds,
      rtoPassed,
      tables: restore?.tables ?? null,
      rows: restore?.rows ?? null,
    },
    verification: facts.verification
      ? { passed: facts.verification.passed, seconds: seconds(facts.verification.durationMs), totals, checks }
      : null,
    issues,
    checklist,
    evidence: facts.evidence ?? null,
    trend: {
      previous,
      changeSeconds:
        restoreSeconds !== null && lastSeconds !== null
          ? Math.round((restoreSeconds - lastSeconds) * 1000) / 1000
          : null,
      medianSeconds: median,
      ...restoreTrend(
        [
          ...previous,
          { startedAt: facts.startedAt.toISOString(), restoreSeconds: restoreCompleted ? restoreSeconds : null },
        ],
        rtoSeconds,
      ),
    },
  };
}

const HEALTH_PATH = /\/(health|healthz|ready|readyz|live|livez|status|ping)\b/i;

/** Which checklist item a health URL stands for: ws(s):// → WebSocket, health-like paths → "Production health endpoint answers", the rest → API. */
export function healthUrlKind(url: string): 'websocket' | 'application' | 'api' {
  if (/^wss?:/i.test(url)) return 'websocket';
  return HEALTH_PATH.test(url) ? 'application' : 'api';
}

function buildChecklist(facts: DrillFacts, restoreCompleted: boolean, checks: readonly VerifyCheck[]): ChecklistItem[] {
  const errors = facts.errors ?? [];
  const restoreError = errors.find((e) => e.step === 'restore' || e.step === 'backup');
  const verifyError = errors.find((e) => e.step === 'verify-data');
  const notVerified = (): [ChecklistState, string] =>
    !restoreCompleted
      ? ['fail', 'not reached: the restore did not complete']
      : ['fail', `not verified${verifyError ? `: ${verifyError.message}` : ''}`];

  /** ✓ when every check named `names` passed, ✗ naming the failures; ✗ "not reached" without a verification. */
  const fromChecks = (names: readonly string[], what: string): [ChecklistState, string] => {
    if (!facts.verification) return notVerified();
    const relevant = checks.filter((c) => names.includes(c.name));
    const failed = relevant.filter((c) => !c.passed);
    if (failed.length)
      return [
        'fail',
        `${failed.length} of ${relevant.length} failed: ${failed
          .slice(0, 5)
          .map((c) => c.object)
          .join(', ')}${failed.length > 5 ? ', …' : ''}`,
      ];
    if (!relevant.length && facts.verification.omittedPassedChecks)
      return ['pass', `all passed (passing checks omitted from the result)`];
    if (!relevant.length) return ['fail', `no ${what} checks in the verification`];
    return ['pass', `${relevant.length} ${what} checked`];
  };

  const urls =
    facts.healthUrls ?? checks.filter((c) => c.name === 'health-url' || c.name === 'websocket').map((c) => c.object);
  const fromUrls = (kinds: readonly ReturnType<typeof healthUrlKind>[]): [ChecklistState, string] => {
    const wanted = urls.filter((u) => kinds.includes(healthUrlKind(u)));
    if (!wanted.length) return ['not-configured', 'no URL configured'];
    if (!facts.verification) return notVerified();
    const results = wanted.map((u) =>
      checks.find((c) => (c.name === 'health-url' || c.name === 'websocket') && c.object === u),
    );
    // An HTTP status is an answer: say which; only a timeout or a refused connection is "no answer".
    const failed = wanted.map((u, i) => ({ u, r: results[i] })).filter(({ r }) => !r?.passed);
    if (failed.length) {
      return [
        'fail',
        failed
          .map(({ u, r }) =>
            r && /^\d{3}$/.test(String(r.actual))
              ? `${u} answered ${r.actual}`
              : `no answer from ${u}${r?.actual ? ` (${r.actual})` : ''}`,
          )
          .join('; '),
      ];
    }
    return ['pass', wanted.join(', ')];
  };

  /** The count(*) and MAX(time) queries of the verification answered (their values are judged by the items above). */
  const dataQueries = (): [ChecklistState, string] => {
    if (!facts.verification) return notVerified();
    const queries = checks.filter((c) => c.name === 'row-count' || c.name === 'freshness');
    const unanswered = queries.filter((c) => c.actual === null && c.expected !== null);
    if (!queries.length && facts.verification.omittedPassedChecks)
      return ['pass', 'all answered (passing checks omitted from the result)'];
    if (!queries.length) return ['fail', 'no count(*) or MAX(time) queries in the verification'];
    if (unanswered.length)
      return [
        'fail',
        `no answer for ${unanswered
          .slice(0, 5)
          .map((c) => `${c.name} ${c.object}`)
          .join(', ')}`,
      ];
    return ['pass', `${queries.length} count(*) and MAX(time) queries answered`];
  };

  // A backup is accessible when the one asked for verified. With `latest`, a newer backup that
  // failed verification is a FAIL here, even though the restore went on with an older one.
  const fallbacks = facts.restore?.fallbacks ?? [];
  const restoredId = facts.backup?.id;
  const restoreStepFailed =
    restoreError !== undefined && /pg_restore failed|applying globals|could not replace/.test(restoreError.message);
  let accessible: [ChecklistState, string];
  if (fallbacks.length) {
    accessible = [
      'fail',
      `${fallbacks.map((f) => `newest backup ${f.id} is damaged (${f.reason})`).join('; ')}; fell back to ${restoredId ? `the older backup ${restoredId}` : 'an older backup'}, which verified`,
    ];
  } else if (facts.restore) accessible = ['pass', 'every file present and matching its SHA-256'];
  else if (restoreStepFailed) accessible = ['pass', 'files verified; the restore itself failed'];
  else if (restoreError) accessible = ['fail', restoreError.message];
  else accessible = ['fail', 'not reached'];

  // What pg_restore and the steps after it said; damaged backups are "Backup accessible"'s, not the logs'.
  const logErrors = [
    ...(restoreStepFailed ? [restoreError!.message] : []),
    ...(facts.restore?.warnings ?? []).filter((w) => !w.startsWith('FALLBACK') && /fail|error/i.test(w)),
  ];
  const restoreLogs: [ChecklistState, string] = logErrors.length
    ? ['fail', logErrors.join('; ')]
    : !restoreCompleted
      ? [
          'fail',
          restoreError && !restoreStepFailed
            ? 'not reached: no backup could be read (see Backup accessible)'
            : 'not reached',
        ]
      : ['pass', 'pg_restore ran with --exit-on-error and reported none'];

  const items: Record<ChecklistItemName, [ChecklistState, string]> = {
    'Backup accessible': accessible,
    'Restore completed': restoreCompleted
      ? [
          'pass',
          `${facts.restore?.tables === undefined ? '? tables' : plural(facts.restore.tables, 'table')} (as the backup's manifest lists them), ${facts.restore?.rows ?? '?'} rows`,
        ]
      : ['fail', restoreError?.message ?? 'not reached'],
    'All tables present': tablesPresent(facts, checks, notVerified),
    'Row counts match': fromChecks(['row-count'], 'row counts'),
    'Indexes created': fromChecks(['index'], 'indexes'),
    'Production health endpoint answers': fromUrls(['application']),
    'API endpoints respond': fromUrls(['api']),
    'WebSocket connects': fromUrls(['websocket']),
    'Data queries work': dataQueries(),
    'No errors in the restore logs': restoreLogs,
  };
  return CHECKLIST_ITEMS.map((item) => ({ item, state: items[item][0], detail: items[item][1] }));
}

/**
 * "All tables present" counts the manifest's tables, as "Restore completed" does: one table-present
 * check per table. The table-count check and tables that should not be there are said apart.
 */
function tablesPresent(
  facts: DrillFacts,
  checks: readonly VerifyCheck[],
  notVerified: () => [ChecklistState, string],
): [ChecklistState, string] {
  if (!facts.verification) return notVerified();
  const present = checks.filter((c) => c.name === 'table-present');
  const unexpected = checks.filter((c) => c.name === 'unexpected-table' && !c.passed);
  const count = checks.find((c) => c.name === 'table-count');
  if (!present.length && !unexpected.length && !count) {
    return facts.verification.omittedPassedChecks
      ? ['pass', 'all passed (passing checks omitted from the result)']
      : ['fail', 'no table checks in the verification'];
  }
  const missing = present.filter((c) => !c.passed);
  // Without the passing checks (omitted by the verify Lambda), the manifest's count is the total.
  const total = facts.verification.omittedPassedChecks
    ? Math.max(facts.restore?.tables ?? present.length, present.length)
    : present.length;
  const list = (cs: readonly VerifyCheck[]) =>
    `${cs
      .slice(0, 5)
      .map((c) => c.object)
      .join(', ')}${cs.length > 5 ? ', …' : ''}`;
  const parts: string[] = [];
  if (missing.length)
    parts.push(`${missing.length} of ${plural(total, 'table')} missing or of another kind: ${list(missing)}`);
  if (unexpected.length) parts.push(`${plural(unexpected.length, 'table')} not in the backup: ${list(unexpected)}`);
  if (count && !count.passed)
    parts.push(`${count.actual ?? '?'} tables restored, the manifest lists ${count.expected ?? '?'}`);
  if (parts.length) return ['fail', parts.join('; ')];
  return ['pass', `${total} of ${plural(total, 'table')} present, none unexpected`];
}

function formatBytes(bytes: number | null): string {
  return bytes === null ? '—' : formatByteSize(bytes);
}

// ---------------------------------------------------------------- rendering

export function renderJson(report: DrillReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

const mdCell = (s: string | number | null) =>
  String(s ?? '—')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');

export function renderMarkdown(r: DrillReport): string {
  const lines: string[] = [];
  lines.push(`# Restore drill ${r.passed ? 'PASS' : 'FAIL'}: ${r.database}`, '');
  lines.push(r.summary, '');
  lines.push(`- **Started:** ${r.startedAt}, **finished:** ${r.finishedAt}`);
  if (r.backup) {
    lines.push(
      `- **Backup:** \`${r.backup.id}\`${r.backup.fresh ? ' (fresh)' : ''}, ${r.backup.tier ?? 'unknown tier'}, ${formatBytes(r.backup.bytes)}, ${r.backup.ageHours.toFixed(1)} h old at drill time`,
    );
  } else lines.push('- **Backup:** none found');
  if (r.scratch)
    lines.push(
      `- **Scratch database:** \`${r.scratch.database}\` on ${r.scratch.server}, ${r.scratch.dropped ? 'dropped' : '**NOT dropped**'}`,
    );
  lines.push(
    `- **Restore time:** ${formatSeconds(r.restore.seconds)} against an RTO of ${formatSeconds(r.restore.rtoSeconds)}: **${r.restore.rtoPassed ? 'PASS' : 'FAIL'}**`,
    '',
  );

  lines.push('## Phases', '', '| Phase | Duration |', '| --- | ---: |');
  for (const row of phaseRows(r))
    lines.push(
      row.total
        ? `| **${row.label}** | **${row.duration}** |`
        : `| ${row.sub ? '· ' : ''}${row.label} | ${row.duration} |`,
    );
  lines.push('', PHASES_NOTE, '');

  lines.push('## Checklist', '', '| | Item | Detail |', '| --- | --- | --- |');
  for (const c of r.checklist) lines.push(`| ${CHECKLIST_SYMBOLS[c.state]} | ${c.item} | ${mdCell(c.detail)} |`);
  lines.push('');

  lines.push('## Issues', '');
  if (!r.issues.length) lines.push('None.');
  for (const i of r.issues) lines.push(`- **${i.kind}** (${i.step}): ${i.message}`);
  lines.push('');

  lines.push('## Verification', '');
  if (!r.verification) lines.push('Not run.');
  else {
    const failed = r.verification.checks.filter((c) => !c.passed);
    lines.push(
      `${r.verification.passed ? 'Passed' : 'Failed'}: ${r.verification.totals.checks - r.verification.totals.failed} of ${r.verification.totals.checks} checks passed in ${formatSeconds(r.verification.seconds)}.`,
      '',
    );
    if (failed.length) {
      lines.push('| Check | Object | Expected | Actual |', '| --- | --- | --- | --- |');
      for (const c of failed)
        lines.push(`| ${mdCell(c.name)} | ${mdCell(c.object)} | ${mdCell(c.expected)} | ${mdCell(c.actual)} |`);
    }
  }
  lines.push('');

  lines.push('## Evidence', '', ...evidenceLines(r).map((l) => `- ${l}`), '');

  lines.push('## Trend', '');
  if (!r.trend.previous.length) lines.push('First drill of this database: no previous drills to compare with.');
  else {
    lines.push(
      `Previous ${plural(r.trend.previous.length, 'drill')}: median restore ${formatSeconds(r.trend.medianSeconds)}; this drill ${formatSeconds(r.restore.seconds)}${r.trend.changeSeconds === null ? '' : ` (${r.trend.changeSeconds >= 0 ? '+' : ''}${r.trend.changeSeconds.toFixed(1)} s vs the previous drill)`}.`,
      '',
    );
    lines.push('| Drill | Backup | Restore | RTO | Result |', '| --- | --- | ---: | ---: | --- |');
    for (const p of [...r.trend.previous, currentPoint(r)]) {
      lines.push(
        `| ${p.startedAt.slice(0, 16).replace('T', ' ')} | ${p.backupId ?? '—'} | ${formatSeconds(p.restoreSeconds)} | ${formatSeconds(p.rtoSeconds)} | ${p.passed ? 'PASS' : 'FAIL'} |`,
      );
    }
  }
  lines.push('');
  return lines.join('\n');
}

const PHASES_NOTE =
  'The indented phases add up to the restore time measured against the RTO; the others run before or after it.';

/** A phase's duration in the phases table: to the millisecond below 100 s, so the parts visibly add up. */
function phaseDuration(s: number | null): string {
  return s !== null && s < 100 ? `${s.toFixed(3)} s` : formatSeconds(s);
}

/** The phases table: the restore time as a total row, its phases under it, the other phases around it. */
function phaseRows(r: DrillReport): { label: string; duration: string; total: boolean; sub: boolean }[] {
  const rows: { label: string; duration: string; total: boolean; sub: boolean }[] = [];
  let totalShown = false;
  for (const p of r.phases) {
    if (p.inRestoreTime && !totalShown) {
      rows.push({
        label: 'Restore time (against the RTO)',
        duration: phaseDuration(r.restore.seconds),
        total: true,
        sub: false,
      });
      totalShown = true;
    }
    rows.push({ label: p.label, duration: phaseDuration(p.seconds), total: false, sub: p.inRestoreTime === true });
  }
  return rows;
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

const esc = (s: unknown) =>
  String(s ?? '—')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:960px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.badge{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600;margin-right:8px}
.pass{background:#1a7f37}.fail{background:#cf222e}
.summary{color:#57606a;margin:0 0 16px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:4px 16px 12px;margin-bottom:16px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{font-weight:600;color:#57606a}td.num{text-align:right;font-variant-numeric:tabular-nums}
.s-pass{color:#1a7f37;font-weight:700}.s-fail{color:#cf222e;font-weight:700}.s-not-configured{color:#6e7781}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:12px 0}dt{color:#57606a}dd{margin:0}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f0f2f4;padding:1px 4px;border-radius:3px}
ul.issues{margin:8px 0;padding-left:20px}.kind{font-weight:600}
svg text{font:11px system-ui,sans-serif;fill:#57606a}
footer{color:#6e7781;font-size:12px;margin-top:24px}
td.sub{padding-left:24px}tr.total td{font-weight:600}.note{color:#57606a;font-size:12px}
`;

export function renderHtml(r: DrillReport): string {
  const verdict = (ok: boolean) => `<span class="badge ${ok ? 'pass' : 'fail'}">${ok ? 'PASS' : 'FAIL'}</span>`;
  const failedChecks = r.verification?.checks.filter((c) => !c.passed) ?? [];
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Restore drill ${r.passed ? 'PASS' : 'FAIL'}: ${esc(r.database)} ${esc(r.startedAt.slice(0, 10))}</title>
<style>${CSS}</style>
</head>
<body><main>
<h1>${verdict(r.passed)}Restore drill: ${esc(r.database)}</h1>
<p class="summary">${esc(r.summary)}</p>
<section><h2>Overview</h2><dl>
<dt>Started</dt><dd>${esc(r.startedAt)}</dd>
<dt>Finished</dt><dd>${esc(r.finishedAt)}</dd>
<dt>Backup</dt><dd>${r.backup ? `<code>${esc(r.backup.id)}</code>${r.backup.fresh ? ' (fresh)' : ''}, ${esc(r.backup.tier ?? 'unknown tier')}, ${esc(formatBytes(r.backup.bytes))}, ${esc(r.backup.ageHours.toFixed(1))} h old at drill time` : 'none found'}</dd>
<dt>Scratch database</dt><dd>${r.scratch ? `<code>${esc(r.scratch.database)}</code> on ${esc(r.scratch.server)}, ${r.scratch.dropped ? 'dropped' : '<strong class="s-fail">not dropped</strong>'}` : '—'}</dd>
<dt>Restore time</dt><dd>${esc(formatSeconds(r.restore.seconds))} against an RTO of ${esc(formatSeconds(r.restore.rtoSeconds))} ${verdict(r.restore.rtoPassed)}</dd>
<dt>Verification</dt><dd>${r.verification ? `${r.verification.totals.checks - r.verification.totals.failed} of ${r.verification.totals.checks} checks passed ${verdict(r.verification.passed)}` : 'not run'}</dd>
</dl></section>
<section><h2>Phases</h2><table><tr><th>Phase</th><th class="num">Duration</th></tr>
${phaseRows(r)
  .map(
    (row) =>
      `<tr${row.total ? ' class="total"' : ''}><td${row.sub ? ' class="sub"' : ''}>${esc(row.label)}</td><td class="num">${esc(row.duration)}</td></tr>`,
  )
  .join('\n')}
</table><p class="note">${esc(PHASES_NOTE)}</p></section>
<section><h2>Checklist</h2><table><tr><th></th><th>Item</th><th>Detail</th></tr>
${r.checklist.map((c) => `<tr><td class="s-${c.state}">${esc(CHECKLIST_SYMBOLS[c.state])}</td><td>${esc(c.item)}</td><td>${esc(c.detail)}</td></tr>`).join('\n')}
</table></section>
<section><h2>Issues</h2>${r.issues.length ? `<ul class="issues">${r.issues.map((i) => `<li><span class="kind">${esc(i.kind)}</span> (${esc(i.step)}): ${esc(i.message)}</li>`).join('')}</ul>` : '<p>None.</p>'}</section>
<section><h2>Verification</h2>${
    !r.verification
      ? '<p>Not run.</p>'
      : failedChecks.length
        ? `<table><tr><th>Check</th><th>Object</th><th>Expected</th><th>Actual</th></tr>${failedChecks.map((c) => `<tr><td>${esc(c.name)}</td><td><code>${esc(c.object)}</code></td><td>${esc(c.expected)}</td><td>${esc(c.actual)}</td></tr>`).join('')}</table>`
        : `<p>All ${r.verification.totals.checks} checks passed${r.verification.checks.length ? ` (${esc(checkCounts(r.verification.checks))})` : ''}.</p>`
  }</section>
<section><h2>Evidence</h2><ul>${evidenceLines(r)
    .map((l) => `<li>${esc(l)}</li>`)
    .join('')}</ul></section>
<section><h2>Trend</h2>${trendSvg(r)}
<p>${r.trend.previous.length ? `Median of the previous ${plural(r.trend.previous.length, 'drill')}: ${esc(formatSeconds(r.trend.medianSeconds))}.${r.trend.changeSeconds === null ? '' : ` Change since the previous drill: ${r.trend.changeSeconds >= 0 ? '+' : ''}${esc(r.trend.changeSeconds.toFixed(1))} s.`}` : 'First drill of this database.'}</p></section>
<footer>crypto-stock-dr drill report, format ${r.formatVersion}</footer>
</main></body>
</html>
`;
}

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** The evidence section's lines, the same in Markdown and HTML. */
function evidenceLines(r: DrillReport): string[] {
  const e = r.evidence;
  const lines = [
    r.signature
      ? `Signed (${r.signature.algorithm}, key ${r.signature.keyId}): check with dr report verify <report>.json`
      : `UNSIGNED: ${r.unsigned ?? 'no signing key configured'}`,
  ];
  if (!e) return [...lines, 'No evidence recorded (older report).'];
  lines.push(`Manifest SHA-256: ${e.manifestSha256 ?? 'unknown'}`);
  lines.push(
    e.achievedRpo
      ? `Achieved RPO: ${formatSeconds(e.achievedRpo.seconds)} (newest restored row ${e.achievedRpo.newestRow} in ${e.achievedRpo.table}, before the backup's snapshot)`
      : 'Achieved RPO: unknown (no time column recorded)',
  );
  lines.push(
    `Versions: crypto-stock-dr ${e.versions.dr}, pg_dump ${e.versions.pgDump ?? '—'}, PostgreSQL ${e.versions.server ?? '—'}${e.versions.timescaledb ? `, TimescaleDB ${e.versions.timescaledb}` : ''}`,
  );
  return lines;
}

function checkCounts(checks: readonly VerifyCheck[]): string {
  const counts = new Map<string, number>();
  for (const c of checks) counts.set(c.name, (counts.get(c.name) ?? 0) + 1);
  return [...counts].map(([name, n]) => `${n} ${name}`).join(', ');
}

/**
 * Restore seconds of the previous drills and this one, with the RTO as a dashed line. When the RTO
 * dwarfs the restore times (seconds against an hour), the scale follows the restore times and the
 * RTO line sits at the top marked "off scale", so the trend stays readable.
 */
export function trendSvg(r: DrillReport): string {
  const points = [...r.trend.previous, currentPoint(r)];
  const W = 880;
  const H = 240;
  const left = 56;
  const right = 16;
  const bottom = 40;
  const values = points.map((p) => p.restoreSeconds ?? 0);
  const maxValue = Math.max(...values, 0.001);
  const rto = r.restore.rtoSeconds;
  const rtoOnScale = rto <= maxValue * 4;
  // Off scale, the RTO line gets a band of its own above the plot: drawn on the top gridline it
  // would read as that gridline's value (a single 0.3 s drill put "RTO 1 h" at "0.4 s").
  const top = rtoOnScale ? 20 : 44;
  const offScaleRtoY = 22;
  const yMax = rtoOnScale ? Math.max(maxValue, rto) * 1.1 : maxValue * 1.25;
  const y = (v: number) => top + (H - top - bottom) * (1 - Math.min(v, yMax) / yMax);
  const step = (W - left - right) / points.length;
  const x = (i: number) => left + step * (i + 0.5);
  const barW = Math.min(48, step * 0.6);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => yMax * f);
  // Dates label the bars; with two drills on one day, the time tells them apart.
  const days = points.map((p) => p.startedAt.slice(5, 10));
  const label = (p: TrendPoint, i: number) =>
    days.indexOf(days[i]) !== days.lastIndexOf(days[i]) ? `${days[i]} ${p.startedAt.slice(11, 16)}` : days[i];
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="Restore seconds of the last ${points.length} drills against the RTO">`,
  );
  for (const t of ticks) {
    parts.push(
      `<line class="grid" x1="${left}" x2="${W - right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#eaeef2"/>`,
    );
    parts.push(
      `<text x="${left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${esc(formatSeconds(Math.round(t * 10) / 10))}</text>`,
    );
  }
  points.forEach((p, i) => {
    const current = i === points.length - 1;
    const v = p.restoreSeconds;
    const fill = p.passed ? '#1a7f37' : '#cf222e';
    if (v !== null) {
      parts.push(
        `<rect x="${(x(i) - barW / 2).toFixed(1)}" y="${y(v).toFixed(1)}" width="${barW.toFixed(1)}" height="${(y(0) - y(v)).toFixed(1)}" fill="${fill}" fill-opacity="${current ? 1 : 0.55}"><title>${esc(p.startedAt)}: ${esc(formatSeconds(v))} ${p.passed ? 'PASS' : 'FAIL'}</title></rect>`,
      );
      parts.push(
        `<text x="${x(i).toFixed(1)}" y="${(y(v) - 4).toFixed(1)}" text-anchor="middle">${esc(formatSeconds(v))}</text>`,
      );
    } else {
      parts.push(
        `<text x="${x(i).toFixed(1)}" y="${(y(0) - 4).toFixed(1)}" text-anchor="middle" fill="#cf222e">✗</text>`,
      );
    }
    parts.push(
      `<text x="${x(i).toFixed(1)}" y="${H - bottom + 16}" text-anchor="middle"${current ? ' font-weight="700"' : ''}>${esc(label(p, i))}</text>`,
    );
  });
  const rtoY = rtoOnScale ? y(rto) : offScaleRtoY;
  parts.push(
    `<line class="rto" x1="${left}" x2="${W - right}" y1="${rtoY.toFixed(1)}" y2="${rtoY.toFixed(1)}" stroke="#cf222e" stroke-width="1.5" stroke-dasharray="6 4"/>`,
  );
  parts.push(
    `<text x="${W - right}" y="${(rtoY - 5).toFixed(1)}" text-anchor="end" fill="#cf222e">RTO ${esc(formatSeconds(rto))}${rtoOnScale ? '' : ' (off scale, above)'}</text>`,
  );
  parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(0)}" y2="${y(0)}" stroke="#8c959f"/>`);
  parts.push(`<text x="${left}" y="${H - 6}">restore time per drill (this drill in bold, right)</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}

// ---------------------------------------------------------------- storage

/** The fields of a stored report the trend needs; older or newer reports parse as long as these are there. */
const StoredReportSchema = z.object({
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

/** Sort key of a report key: its day, then the same-day suffix (the day's first drill has none). */
function reportOrder(key: string): string {
  const m = /(\d{4}-\d{2}-\d{2})\/[^/]*?(?:-(\d{6})Z(?:-(\d+))?)?\.json$/.exec(key);
  return `${m?.[1] ?? ''} ${m?.[2] ?? ''} ${(m?.[3] ?? '').padStart(6, '0')}`;
}

/**
 * Previous drills of `database` from the stored JSON reports under `prefix` (newest TREND_LENGTH
 * files), plus the trend each of them carried: reports expire with the vault's lifecycle rules,
 * but the newest one still remembers the drills before it. Unreadable reports are skipped.
 */
export async function readDrillHistory(
  repo: Repository,
  database: string,
  options: { readonly prefix?: string } = {},
): Promise<TrendPoint[]> {
  const prefix = options.prefix ?? '';
  const keys = (await repo.list(drillReportsPrefix(prefix))).filter((k) => isDrillReportJsonKey(k, prefix, database));
  keys.sort((a, b) => (reportOrder(a) < reportOrder(b) ? -1 : 1));
  const byStart = new Map<string, TrendPoint>();
  const reports = await Promise.all(
    keys.slice(-TREND_LENGTH).map(async (key) => {
      try {
        const parsed = StoredReportSchema.safeParse(JSON.parse(await text(await repo.get(key))));
        return parsed.success && parsed.data.database === database ? parsed.data : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  for (const r of reports) {
    if (!r) continue;
    for (const p of r.trend?.previous ?? []) if (!byStart.has(p.startedAt)) byStart.set(p.startedAt, p);
    byStart.set(r.startedAt, {
      startedAt: r.startedAt,
      backupId: r.backup?.id ?? null,
      restoreSeconds: r.restore.seconds,
      rtoSeconds: r.restore.rtoSeconds,
      passed: r.passed,
    });
  }
  return [...byStart.values()].sort((a, b) => (a.startedAt < b.startedAt ? -1 : 1)).slice(-TREND_LENGTH);
}

export type DrillReportKeys = Readonly<Record<DrillReportFormat, string>>;

const CONTENT_TYPES: Readonly<Record<DrillReportFormat, string>> = {
  html: 'text/html; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  json: 'application/json',
};

/**
 * Writes the report as HTML, Markdown and JSON (JSON last: its presence marks a complete report)
 * under `prefix` (`reports/` in a backup repository). The day's first drill of a database takes
 * `<db>.*`; a later one, whose keys are taken (write-once), its start time as suffix.
 */
export async function writeDrillReport(
  repo: Repository,
  unsignedReport: DrillReport,
  options: {
    readonly prefix?: string;
    /** Signs the JSON (core/drill/evidence.ts). @default - none: the report is marked unsigned */
    readonly signer?: ReportSigner;
    /** Why it is unsigned, when `signer` is absent (e.g. the key could not be read). */
    readonly unsignedReason?: string;
  } = {},
): Promise<DrillReportKeys> {
  const prefix = options.prefix ?? '';
  // Signed once: a report the caller already signed (to return it) is written as it is.
  const report =
    'signature' in unsignedReport
      ? unsignedReport
      : await signReport(unsignedReport, options.signer, options.unsignedReason);
  const at = new Date(report.startedAt);
  const bodies: Record<DrillReportFormat, string> = {
    html: renderHtml(report),
    md: renderMarkdown(report),
    json: renderJson(report),
  };
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = drillReportBase(prefix, report.database, at, attempt);
    const keys = Object.fromEntries(DRILL_REPORT_FORMATS.map((f) => [f, `${base}.${f}`])) as Record<
      DrillReportFormat,
      string
    >;
    const taken = await Promise.all(DRILL_REPORT_FORMATS.map((f) => repo.head(keys[f])));
    if (taken.some(Boolean)) continue;
    // Evidence: kept (and, on a locking S3 repository, COMPLIANCE-locked) for EVIDENCE_RETENTION_DAYS,
    // so twelve months of drills stay readable for the trend and for an auditor.
    for (const f of DRILL_REPORT_FORMATS)
      await repo.put(keys[f], bodies[f], { tier: EVIDENCE, contentType: CONTENT_TYPES[f] });
    return keys;
  }
  throw new Error(`100 drill reports of ${report.database} already exist for ${report.startedAt.slice(0, 10)}`);
}
