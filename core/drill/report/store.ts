/** Drill reports in the repository: written once per drill in three formats, read back for the trend. */
import { text } from 'node:stream/consumers';
import {
  DRILL_REPORT_FORMATS,
  type DrillReportFormat,
  drillReportBase,
  drillReportsPrefix,
  isDrillReportJsonKey,
} from '../../repository/layout.ts';
import { EVIDENCE } from '../../repository/tiers.ts';
import type { Repository } from '../../repository/types.ts';
import { type ReportSigner, signReport } from '../evidence.ts';
import { type DrillReport, renderJson, StoredReportSchema, TREND_LENGTH, type TrendPoint } from './model.ts';
import { renderHtml } from './render-html.ts';
import { renderMarkdown } from './render-md.ts';

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
