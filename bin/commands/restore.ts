import { formatBytes } from '../../core/format.ts';
import { runRestore } from '../../core/restore/full.ts';
import { restoreFlagProblem, restoreModeOf } from '../../core/restore/request.ts';
import type { PitrRestoreResult, TableRestoreResult } from '../../core/restore/result.ts';
import { runTableRestore, splitTableList } from '../../core/restore/tables.ts';
import { COMMON, optionalString, PG, positiveInt, REPO_READ, repository, required, usage } from './args.ts';
import { defineCommand } from './command.ts';
import { lockTimeout } from './lock-timeout.ts';
import { humanPitrRestore, PG_SERVER_BIN, PITR_S3_OPTIONS, PITR_TARGET_OPTIONS, pitrRestoreFromFlags } from './pitr.ts';

type FullResult = Awaited<ReturnType<typeof runRestore>>;

export const restoreCommand = defineCommand({
  summary: 'Verify a backup and restore it into a target database',
  synopsis: 'restore --repo URL [--backup latest|ID] --target URL [flags]',
  flags: {
    ...COMMON,
    ...REPO_READ,
    backup: {
      type: 'string',
      default: 'latest',
      arg: 'ID',
      help: 'a backup id from dr list, or latest (default): the newest complete backup\nthat is not suspect (shrank against the one before; latest-any takes those too);\nif it fails verification, the previous one is used and the fallback reported',
    },
    database: { type: 'string', arg: 'NAME', help: 'source database in the repository (needed when it holds several)' },
    target: {
      type: 'string',
      arg: 'URL',
      help: 'target database; created when missing (postgres://user@host:5432/crypto_stock_restored)',
    },
    overwrite: {
      type: 'boolean',
      default: false,
      help: 'replace a non-empty target: the backup is verified and restored into a staging\ndatabase first; the target is swapped only when that succeeded',
    },
    'with-globals': {
      type: 'boolean',
      default: false,
      help: "first create the backup's roles and tablespaces on the target server",
    },
    'no-owner': {
      type: 'boolean',
      default: false,
      help: "do not restore ownership and privileges (target lacks the source's roles)",
    },
    'hold-timescale-jobs': {
      type: 'boolean',
      default: false,
      help: 'keep the restored TimescaleDB policy jobs from running (next start infinity),\nfor a copy restored to be verified (drills); default: each job is next due\nwhen the source had it due',
    },
    tables: {
      type: 'string',
      arg: 'A,B',
      help: 'restore only these tables (name, schema.name or "Schema"."Name") into the existing\ntarget, each in full with all its partitions; the other tables stay as they are.\nThe replaced rows are kept in a safety table <table>__dr_saved_<UTC time>',
    },
    since: {
      type: 'string',
      arg: 'TIME',
      help: 'with --tables and --until: restore only rows with since <= time < until',
    },
    until: { type: 'string', arg: 'TIME', help: '(ISO 8601 with a zone, e.g. 2026-01-10T00:00:00Z)' },
    'time-column': {
      type: 'string',
      arg: 'COL',
      help: 'column the range applies to (default: the one the backup recorded)',
    },
    merge: {
      type: 'boolean',
      default: false,
      help: "with --tables: insert only the backup's rows whose primary key the target\nlacks, and keep every target row (any range, or whole tables)",
    },
    'replace-newer': {
      type: 'boolean',
      default: false,
      help: 'with --since/--until: replace the range even where the target holds rows\nnewer than the backup (refused by default, counting them)',
    },
    'lock-timeout': {
      type: 'string',
      arg: 'D',
      help: "with --tables: how long to wait for another session's lock on a table\n(default 5m; e.g. 30s), then fail naming the session holding it",
    },
    jobs: { ...PG.jobs, help: 'parallel pg_restore jobs (default: CPU count)' },
    'pg-bin': { ...PG['pg-bin'], help: 'directory of pg_restore/psql (default: PATH)' },
    'work-dir': {
      ...PG['work-dir'],
      help: "where s3:// backups are downloaded (default: OS temp dir); with --pitr it holds\nthe temporary cluster and its dump (about twice the cluster's size)",
    },
    pitr: {
      type: 'string',
      arg: 'URL',
      help: 'the pgBackRest repository, s3://bucket/pitr or file:///dir (instead of --repo)',
      section:
        'Point-in-time recovery from a pgBackRest repository (set up with dr pitr config):\n  dr restore --at TIME --pitr URL --stanza NAME --database NAME --target URL [--tables … --since … --until …]',
    },
    stanza: {
      type: 'string',
      arg: 'NAME',
      help: 'its stanza; --database names the database inside the recovered cluster',
    },
    ...PITR_TARGET_OPTIONS,
    ...PITR_S3_OPTIONS,
    'pg-server-bin': PG_SERVER_BIN,
  },
  async run(v, io) {
    // --backup always has a value (latest by default): it counts as given when it names a backup.
    const given = (flag: string) =>
      flag === 'backup'
        ? optionalString(v, flag) !== 'latest'
        : v[flag] === true || optionalString(v, flag) !== undefined;
    const mode = restoreModeOf({
      pointInTime: given('at') || given('pitr') || given('latest'),
      range: given('since') || given('until') || given('time-column'),
      tables: given('tables'),
    });
    const problem = restoreFlagProblem(mode, given);
    if (problem) throw usage(problem);
    if (mode === 'pitr') return pitrRestoreFromFlags(v, io);
    if (mode === 'full')
      return runRestore({
        repository: repository(v),
        backup: required(v, 'backup'),
        database: optionalString(v, 'database'),
        target: required(v, 'target'),
        overwrite: v.overwrite === true,
        withGlobals: v['with-globals'] === true,
        noOwner: v['no-owner'] === true,
        holdTimescaleJobs: v['hold-timescale-jobs'] === true,
        jobs: positiveInt(v, 'jobs'),
        tools: { binDir: optionalString(v, 'pg-bin') },
        workDir: optionalString(v, 'work-dir'),
        log: io.log,
      });
    return runTableRestore({
      repository: repository(v),
      backup: required(v, 'backup'),
      database: optionalString(v, 'database'),
      target: required(v, 'target'),
      tables: splitTableList(required(v, 'tables')),
      since: optionalString(v, 'since'),
      until: optionalString(v, 'until'),
      timeColumn: optionalString(v, 'time-column'),
      merge: v.merge === true,
      replaceNewer: v['replace-newer'] === true,
      noOwner: v['no-owner'] === true,
      jobs: positiveInt(v, 'jobs'),
      tools: { binDir: optionalString(v, 'pg-bin') },
      workDir: optionalString(v, 'work-dir'),
      lockTimeoutMs: lockTimeout(v),
      log: io.log,
    });
  },
  human: (r: FullResult | TableRestoreResult | PitrRestoreResult) =>
    'stanza' in r ? humanPitrRestore(r) : 'mode' in r ? humanTables(r) : humanFull(r),
});

function humanFull(r: FullResult): string {
  return [
    ...r.fallbacks.map((f) => `FALLBACK: backup ${f.id} failed verification: ${f.reason}`),
    `restored backup ${r.backup.id} of ${r.backup.database} into ${r.target}${r.replaced ? ' (replaced)' : ''}`,
    `  ${r.files} files, ${formatBytes(r.bytes)} verified, ${r.tables} tables, ${r.rows} rows, ${(r.durationMs / 1000).toFixed(1)} s`,
    ...r.warnings.filter((w) => !w.startsWith('FALLBACK')).map((w) => `  warning: ${w}`),
  ].join('\n');
}

function humanTables(r: TableRestoreResult): string {
  const range = r.range ? ` rows in [${r.range.since}, ${r.range.until})` : '';
  return [
    ...r.fallbacks.map((f) => `FALLBACK: backup ${f.id} failed verification: ${f.reason}`),
    `restored ${r.tables.length} table(s)${range} from backup ${r.backup.id} of ${r.backup.database} into ${r.target}`,
    ...r.tables.map(
      (t) =>
        `  ${t.table}${t.timeColumn && r.range ? ` (by ${t.timeColumn})` : ''}: ${t.rowsRestored} rows inserted, ${t.rowsReplaced} replaced, ${t.rowsKept} kept` +
        `${t.created ? ', table created from the backup' : ''}; ${t.safetyTable ? `previous rows kept in ${t.safetyTable}` : 'no previous rows'}`,
    ),
    `  ${r.files.length} files, ${formatBytes(r.bytes)} of ${formatBytes(r.backupBytes)} verified, ${(r.durationMs / 1000).toFixed(1)} s` +
      ` (download ${(r.phases.downloadMs / 1000).toFixed(1)} s, stage ${(r.phases.stageMs / 1000).toFixed(1)} s, apply ${(r.phases.applyMs / 1000).toFixed(1)} s)`,
    ...r.warnings.filter((w) => !w.startsWith('FALLBACK')).map((w) => `  warning: ${w}`),
  ].join('\n');
}
