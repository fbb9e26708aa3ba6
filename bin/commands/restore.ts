import { formatBytes } from '../../core/format.ts';
import type { PitrRestoreResult } from '../../core/pitr/restore.ts';
import { runRestore } from '../../core/restore/full.ts';
import { runTableRestore, splitTableList, type TableRestoreResult } from '../../core/restore/tables.ts';
import { COMMON, type Command, jobs, optionalString, PG, REPO_READ, repository, required, usage } from './args.ts';
import { lockTimeout } from './lock-timeout.ts';
import {
  humanPitrRestore,
  PITR_S3_OPTIONS,
  PITR_TARGET_OPTIONS,
  PITR_TARGET_USAGE,
  pitrRestoreFromFlags,
} from './pitr.ts';

type FullResult = Awaited<ReturnType<typeof runRestore>>;

export const restoreCommand: Command = {
  summary: 'Verify a backup and restore it into a target database',
  usage: `Usage: dr restore --repo URL [--backup latest|ID] --target URL [flags]

  --repo URL         file:///dir or s3://bucket/prefix
  --backup ID        a backup id from dr list, or latest (default): the newest complete backup
                     that is not suspect (shrank against the one before; latest-any takes those too);
                     if it fails verification, the previous one is used and the fallback reported
  --database NAME    source database in the repository (needed when it holds several)
  --target URL       target database; created when missing (postgres://user@host:5432/crypto_stock_restored)
  --overwrite        replace a non-empty target: the backup is verified and restored into a staging
                     database first; the target is swapped only when that succeeded
  --with-globals     first create the backup's roles and tablespaces on the target server
  --no-owner         do not restore ownership and privileges (target lacks the source's roles)
  --hold-timescale-jobs  keep the restored TimescaleDB policy jobs from running (next start infinity),
                     for a copy restored to be verified (drills); default: each job is next due
                     when the source had it due
  --tables A,B       restore only these tables (name, schema.name or "Schema"."Name") into the existing
                     target, each in full with all its partitions; the other tables stay as they are.
                     The replaced rows are kept in a safety table <table>__dr_saved_<UTC time>
  --since TIME       with --tables and --until: restore only rows with since <= time < until
  --until TIME       (ISO 8601 with a zone, e.g. 2026-01-10T00:00:00Z)
  --time-column COL  column the range applies to (default: the one the backup recorded)
  --merge            with --tables: insert only the backup's rows whose primary key the target
                     lacks, and keep every target row (any range, or whole tables)
  --replace-newer    with --since/--until: replace the range even where the target holds rows
                     newer than the backup (refused by default, counting them)
  --lock-timeout D   with --tables: how long to wait for another session's lock on a table
                     (default 5m; e.g. 30s), then fail naming the session holding it
  -j, --jobs N       parallel pg_restore jobs (default: CPU count)
  --pg-bin DIR       directory of pg_restore/psql (default: PATH)
  --work-dir DIR     where s3:// backups are downloaded (default: OS temp dir)
  --json, --quiet

Point-in-time recovery from a pgBackRest repository (set up with dr pitr config):
  dr restore --at TIME --pitr URL --stanza NAME --database NAME --target URL [--tables … --since … --until …]
${PITR_TARGET_USAGE}
  --pitr URL         the pgBackRest repository, s3://bucket/pitr or file:///dir (instead of --repo)
  --stanza NAME      its stanza; --database names the database inside the recovered cluster
  --pg-server-bin DIR  PostgreSQL server binaries of the stanza's major (default /usr/lib/postgresql/<major>/bin)
  --work-dir DIR     holds the temporary cluster and its dump (about twice the cluster's size)`,
  options: {
    ...COMMON,
    ...REPO_READ,
    ...PG,
    backup: { type: 'string', default: 'latest' },
    database: { type: 'string' },
    target: { type: 'string' },
    overwrite: { type: 'boolean', default: false },
    'with-globals': { type: 'boolean', default: false },
    'no-owner': { type: 'boolean', default: false },
    'hold-timescale-jobs': { type: 'boolean', default: false },
    tables: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    'time-column': { type: 'string' },
    merge: { type: 'boolean', default: false },
    'replace-newer': { type: 'boolean', default: false },
    'lock-timeout': { type: 'string' },
    at: { type: 'string' },
    pitr: { type: 'string' },
    stanza: { type: 'string' },
    'pg-server-bin': { type: 'string' },
    ...PITR_TARGET_OPTIONS,
    ...PITR_S3_OPTIONS,
  },
  async run(v, io) {
    if (optionalString(v, 'at') !== undefined || optionalString(v, 'pitr') !== undefined || v.latest === true)
      return pitrRestoreFromFlags(v, io);
    for (const flag of ['stanza', 'pg-server-bin']) {
      if (optionalString(v, flag) !== undefined)
        throw usage(`--${flag} applies to point-in-time restores only; add --at and --pitr, or drop --${flag}`);
    }
    const tables = optionalString(v, 'tables');
    if (tables === undefined) {
      for (const flag of ['since', 'until', 'time-column']) {
        if (optionalString(v, flag) !== undefined)
          throw usage(`--${flag} needs --tables (a range restore applies to named tables)`);
      }
      for (const flag of ['merge', 'replace-newer']) {
        if (v[flag] === true) throw usage(`--${flag} applies to table restores only; add --tables, or drop --${flag}`);
      }
    } else {
      if (v.merge === true && v['replace-newer'] === true)
        throw usage("--merge keeps the target's rows and --replace-newer replaces them: give one");
      if (v['replace-newer'] === true && optionalString(v, 'since') === undefined)
        throw usage('--replace-newer applies to range restores (--since/--until) only; drop it');
      if (v.overwrite === true)
        throw usage(
          '--overwrite replaces a whole database and does not apply to --tables; drop it (a table restore keeps the replaced rows in a safety table)',
        );
      if (v['with-globals'] === true)
        throw usage('--with-globals applies to full restores only; drop it, or restore without --tables');
      if (v['hold-timescale-jobs'] === true)
        throw usage(
          "--hold-timescale-jobs applies to full restores only (a table restore keeps the target's jobs); drop it",
        );
      return runTableRestore({
        repository: repository(v),
        backup: required(v, 'backup'),
        database: optionalString(v, 'database'),
        target: required(v, 'target'),
        tables: splitTableList(tables),
        since: optionalString(v, 'since'),
        until: optionalString(v, 'until'),
        timeColumn: optionalString(v, 'time-column'),
        merge: v.merge === true,
        replaceNewer: v['replace-newer'] === true,
        noOwner: v['no-owner'] === true,
        jobs: jobs(v),
        tools: { binDir: optionalString(v, 'pg-bin') },
        workDir: optionalString(v, 'work-dir'),
        lockTimeoutMs: lockTimeout(v),
        log: io.log,
      });
    }
    if (optionalString(v, 'lock-timeout') !== undefined)
      throw usage('--lock-timeout applies to table restores (--tables) only; drop it');
    return runRestore({
      repository: repository(v),
      backup: required(v, 'backup'),
      database: optionalString(v, 'database'),
      target: required(v, 'target'),
      overwrite: v.overwrite === true,
      withGlobals: v['with-globals'] === true,
      noOwner: v['no-owner'] === true,
      holdTimescaleJobs: v['hold-timescale-jobs'] === true,
      jobs: jobs(v),
      tools: { binDir: optionalString(v, 'pg-bin') },
      workDir: optionalString(v, 'work-dir'),
      log: io.log,
    });
  },
  human: (r: FullResult | TableRestoreResult | PitrRestoreResult) =>
    'stanza' in r ? humanPitrRestore(r) : 'mode' in r ? humanTables(r) : humanFull(r),
};

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
