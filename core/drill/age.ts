/**
 * How long ago each database was last drilled, from the drill reports in the repository
 * (`reports/drills/<yyyy-mm-dd>/<db>….json`; a report's JSON is written last, so it marks a
 * finished drill, passed or failed). CloudWatch alarms look back at most 7 days, so "no drill in
 * 35 days" needs this age as a daily metric (lambdas/drill-age).
 */
import { drillReportsPrefix, isDrillReportJsonKey, REPORTS_ROOT } from '../repository/layout.ts';
import type { Repository } from '../repository/types.ts';

export interface DrillAge {
  readonly database: string;
  /** Day (UTC, yyyy-mm-dd) of the newest drill report, if any. */
  readonly lastDrill?: string;
  /** Whole days from that day's start to `now`; undefined when never drilled. */
  readonly days?: number;
}

const DAY_MS = 86_400_000;

export async function drillAges(
  repository: Repository,
  databases: readonly string[],
  now: Date = new Date(),
): Promise<DrillAge[]> {
  const prefix = `${REPORTS_ROOT}/`;
  // Reports are few (one per database and drill, kept as long as monthly backups): one listing reads them all.
  const keys = await repository.list(drillReportsPrefix(prefix));
  return databases.map((database) => {
    const days = keys
      .filter((key) => isDrillReportJsonKey(key, prefix, database))
      .map((key) => key.slice(drillReportsPrefix(prefix).length, drillReportsPrefix(prefix).length + 10))
      .sort();
    const lastDrill = days.at(-1);
    if (lastDrill === undefined) return { database };
    return {
      database,
      lastDrill,
      days: Math.max(0, Math.floor((now.getTime() - Date.parse(`${lastDrill}T00:00:00Z`)) / DAY_MS)),
    };
  });
}
