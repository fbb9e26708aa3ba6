/**
 * The restore state machine's output: what `dr restore --json` recorded (core/job-result.ts),
 * shaped into a summary a person reads at the console — backup used, any fallback, checksums
 * verified before the target was touched, rows, duration — or, on failure, a one-line reason for
 * the alert. Works for full restores (core/restore/full.ts), table/range restores (core/restore/tables.ts)
 * and point-in-time restores (core/pitr/restore.ts).
 */
import { z } from 'zod';
import type { JobResultRecord } from '../job-result.ts';
import type { RestoreRequest } from './request.ts';
import { FullRestoreResultSchema, PitrRestoreResultSchema, printed, TableRestoreResultSchema } from './result.ts';

/** Where and why a result failed its schema: `path: message` of the first issue (a failed parse has one). */
const firstIssue = (error: z.ZodError): string => {
  const issue = error.issues[0]!;
  return `${issue.path.join('.')}: ${issue.message}`;
};

/** dr restore's --json result as the job recorded it: a full restore's, or a table or range restore's. */
const RestoreJsonSchema = z.union([printed(FullRestoreResultSchema), printed(TableRestoreResultSchema)]);

/** dr restore --at's --json result. */
const PitrJsonSchema = printed(PitrRestoreResultSchema);

export interface RestoreSummary {
  readonly status: 'SUCCEEDED';
  readonly execution: string;
  readonly mode: RestoreRequest['mode'];
  readonly database: string;
  readonly targetDatabase: string;
  /** The backup restored. */
  readonly backup: { readonly id: string; readonly tier: string; readonly startedAt: string };
  /** Set when `latest` skipped newer backups that failed verification. */
  readonly fallback: {
    readonly used: true;
    readonly skipped: readonly { readonly id: string; readonly reason: string }[];
    readonly note: string;
  } | null;
  /** dr restore verifies every file it uses against the manifest's SHA-256 before it touches the target. */
  readonly checksums: {
    readonly verified: true;
    readonly files: number;
    readonly bytes: number;
    readonly note: string;
  };
  /** Rows restored (full: the whole database; table/range: inserted from the backup). */
  readonly rows: number | null;
  /** Table/range: rows of the target moved to safety tables. */
  readonly rowsReplaced: number | null;
  /** Table/range: per table, rows replaced and restored and the safety table's name. */
  readonly tables:
    | readonly {
        readonly table: string;
        readonly rowsReplaced: number;
        readonly rowsRestored: number;
        readonly safetyTable: string | null;
      }[]
    | null;
  readonly range: { readonly since: string; readonly until: string } | null;
  /** Point-in-time restores: the target time and where recovery provably stopped. */
  readonly pointInTime: {
    readonly at: string;
    readonly stanza: string;
    readonly lastCommit: string | null;
    /** The first transaction left out; null for targets other than a time (end of the archive, LSN, …). */
    readonly stoppedBefore: string | null;
  } | null;
  /** The restore itself (dr's durationMs). */
  readonly restoreSeconds: number;
  /** From the execution's start to this summary (task start-up included). */
  readonly executionSeconds: number;
  readonly warnings: readonly string[];
  /** The full dr result, in the vault. */
  readonly resultKey: string;
}

export interface RestoreOutcome {
  readonly ok: boolean;
  /** On success. */
  readonly summary: RestoreSummary | null;
  /** On failure: why, in one line, for the alert and the execution's cause. */
  readonly reason: string | null;
}

export interface SummarizeOptions {
  readonly record: JobResultRecord | undefined;
  readonly request: RestoreRequest;
  readonly exitCode: number | undefined;
  readonly executionName: string;
  readonly executionStartedAt: string;
  readonly resultKey: string;
  readonly now?: Date;
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;

export function summarizeRestore(options: SummarizeOptions): RestoreOutcome {
  const { record, request, exitCode, resultKey } = options;
  const failed = (reason: string): RestoreOutcome => ({ ok: false, summary: null, reason });
  if (exitCode === undefined)
    return failed(
      'the restore task stopped without an exit code (it did not start or was stopped); see the ECS task in the execution history',
    );
  if (!record) {
    return exitCode === 0
      ? failed(
          `dr restore exited 0 but recorded no result at ${resultKey}; check the job logs before trusting the target`,
        )
      : failed(`dr restore exited with code ${exitCode} and recorded no result; see the job logs`);
  }
  if (exitCode !== 0 || record.result?.ok !== true) {
    const result = record.result ?? {};
    const what = typeof result.error === 'string' ? result.error : 'no error message recorded';
    const hint = typeof result.hint === 'string' ? `; ${result.hint}` : '';
    return failed(`dr restore exited with code ${exitCode}: ${what}${hint}`);
  }
  if (request.mode === 'pitr') return summarizePitr(options, record.result);
  const parsed = RestoreJsonSchema.safeParse(record.result);
  if (!parsed.success) {
    return failed(
      `dr restore exited 0 but its result at ${resultKey} is not a restore result (${firstIssue(parsed.error)})`,
    );
  }
  const r = parsed.data;
  const perTable = Array.isArray(r.tables) ? tableRows(r.tables) : null;
  const files = Array.isArray(r.files) ? r.files.length : r.files;
  const [newest] = r.fallbacks;
  return succeeded(options, {
    backup: { id: r.backup.id, tier: r.backup.tier, startedAt: r.backup.startedAt },
    fallback:
      newest === undefined
        ? null
        : {
            used: true,
            skipped: r.fallbacks,
            note: `the newest backup ${newest.id} failed verification; restored ${r.backup.id} instead`,
          },
    checksums: {
      verified: true,
      files,
      bytes: r.bytes,
      note: `${files} files verified against the manifest's SHA-256 before the target was touched`,
    },
    ...rowTotals(perTable, 'rows' in r ? r.rows : null),
    range: 'range' in r ? r.range : null,
    pointInTime: null,
    restoreSeconds: seconds(r.durationMs),
    warnings: r.warnings,
  });
}

type TableRow = NonNullable<RestoreSummary['tables']>[number];

function tableRows(tables: readonly TableRow[]): TableRow[] {
  return tables.map((t) => ({
    table: t.table,
    rowsReplaced: t.rowsReplaced,
    rowsRestored: t.rowsRestored,
    safetyTable: t.safetyTable,
  }));
}

/** Table/range restores count rows per table; a full restore reports the database's rows. */
function rowTotals(
  perTable: TableRow[] | null,
  fullRows: number | null,
): Pick<RestoreSummary, 'rows' | 'rowsReplaced' | 'tables'> {
  if (!perTable) return { rows: fullRows, rowsReplaced: null, tables: null };
  return {
    rows: perTable.reduce((n, t) => n + t.rowsRestored, 0),
    rowsReplaced: perTable.reduce((n, t) => n + t.rowsReplaced, 0),
    tables: perTable,
  };
}

/** The fields every successful summary shares, around what the restore itself reported. */
function succeeded(
  options: SummarizeOptions,
  restore: Omit<
    RestoreSummary,
    'status' | 'execution' | 'mode' | 'database' | 'targetDatabase' | 'executionSeconds' | 'resultKey'
  >,
): RestoreOutcome {
  const now = options.now ?? new Date();
  return {
    ok: true,
    reason: null,
    summary: {
      status: 'SUCCEEDED',
      execution: options.executionName,
      mode: options.request.mode,
      database: options.request.database,
      targetDatabase: options.request.target.database,
      ...restore,
      executionSeconds: seconds(now.getTime() - Date.parse(options.executionStartedAt)),
      resultKey: options.resultKey,
    },
  };
}

function summarizePitr(options: SummarizeOptions, result: unknown): RestoreOutcome {
  const { request, resultKey } = options;
  const parsed = PitrJsonSchema.safeParse(result);
  if (!parsed.success) {
    return {
      ok: false,
      summary: null,
      reason: `dr restore --at exited 0 but its result at ${resultKey} is not a point-in-time restore result (${firstIssue(parsed.error)})`,
    };
  }
  const r = parsed.data;
  return succeeded(options, {
    backup: { id: r.backup, tier: 'pgbackrest', startedAt: r.at },
    fallback: null,
    // pgBackRest checks every file it restores against its manifest's checksum, and WAL segments on replay.
    checksums: {
      verified: true,
      files: 0,
      bytes: 0,
      note: `pgBackRest verified base backup ${r.backup} and the WAL it replayed before the target was touched`,
    },
    ...rowTotals(r.tables ? tableRows(r.tables) : null, null),
    range: request.since && request.until ? { since: request.since, until: request.until } : null,
    pointInTime: { at: r.at, stanza: r.stanza, lastCommit: r.lastCommit, stoppedBefore: r.stoppedBefore },
    restoreSeconds: seconds(r.durationMs),
    warnings: r.warnings,
  });
}
