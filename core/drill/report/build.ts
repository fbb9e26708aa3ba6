/** Builds a drill report from what the drill did: phases, issues, the guide's checklist, the trend. */
import { formatSeconds } from '../../format.ts';
import { describeFailure, type VerifyCheck } from '../../verify/verify.ts';
import {
  CHECKLIST_ITEMS,
  type ChecklistItem,
  type ChecklistItemName,
  type ChecklistState,
  DEFAULT_RTO_SECONDS,
  DRILL_REPORT_FORMAT_VERSION,
  DRILL_REPORT_KIND,
  type DrillFacts,
  type DrillIssue,
  type DrillReport,
  PHASE_LABELS,
  type PhaseName,
  TREND_LENGTH,
} from './model.ts';
import { plural } from './text.ts';

/** The label of `other` when the restore failed: its time is known only as a whole. */
const FAILED_RESTORE_LABEL = 'Restore until it failed (not broken down)';

/** The chart and the trend look back this far. */
const TREND_WINDOW_DAYS = 365;

const medianOf = (values: readonly number[]): number | null => {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return null;
  // Both indexes are within 0 .. length - 1 for a non-empty list.
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
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
  // xs and ys are both mapped from known, so ys[i] exists; known has at least 3 points here.
  const slope = sxx === 0 ? 0 : xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0) / sxx;
  const last = ys[ys.length - 1]!;
  if (slope <= 0) return { growthPercent, daysToRto: null };
  return { growthPercent, daysToRto: Math.max(0, Math.round(((rtoSeconds - last) / slope) * 10) / 10) };
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
  const median = medianOf(previous.map((p) => p.restoreSeconds).filter((s): s is number => s !== null));

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
