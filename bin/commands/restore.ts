import { formatBytes } from '../../core/backup.ts';
import { runRestore } from '../../core/restore.ts';
import { COMMON, type Command, jobs, optionalString, PG, REPO, repository, required } from './args.ts';

export const restoreCommand: Command = {
  summary: 'Verify a backup and restore it into a target database',
  usage: `Usage: dr restore --repo URL --backup latest|ID --target URL [flags]

  --repo URL         file:///dir or s3://bucket/prefix
  --backup ID        a backup id from dr list, or latest (default): the newest complete backup;
                     if it fails verification, the previous one is used and the fallback reported
  --database NAME    source database in the repository (needed when it holds several)
  --target URL       target database; created when missing (postgres://user@host:5432/crypto_stock_restored)
  --overwrite        replace a non-empty target: the backup is verified and restored into a staging
                     database first; the target is swapped only when that succeeded
  --with-globals     first create the backup's roles and tablespaces on the target server
  --no-owner         do not restore ownership and privileges (target lacks the source's roles)
  -j, --jobs N       parallel pg_restore jobs (default: CPU count)
  --pg-bin DIR       directory of pg_restore/psql (default: PATH)
  --work-dir DIR     where s3:// backups are downloaded (default: OS temp dir)
  --json, --quiet`,
  options: {
    ...COMMON,
    ...REPO,
    ...PG,
    backup: { type: 'string', default: 'latest' },
    database: { type: 'string' },
    target: { type: 'string' },
    overwrite: { type: 'boolean', default: false },
    'with-globals': { type: 'boolean', default: false },
    'no-owner': { type: 'boolean', default: false },
  },
  async run(v, io) {
    return runRestore({
      repository: repository(v),
      backup: required(v, 'backup'),
      database: optionalString(v, 'database'),
      target: required(v, 'target'),
      overwrite: v.overwrite === true,
      withGlobals: v['with-globals'] === true,
      noOwner: v['no-owner'] === true,
      jobs: jobs(v),
      tools: { binDir: optionalString(v, 'pg-bin') },
      workDir: optionalString(v, 'work-dir'),
      log: io.log,
    });
  },
  human: (r: Awaited<ReturnType<typeof runRestore>>) =>
    [
      ...r.fallbacks.map((f) => `FALLBACK: backup ${f.id} failed verification: ${f.reason}`),
      `restored backup ${r.backup.id} of ${r.backup.database} into ${r.target}${r.replaced ? ' (replaced)' : ''}`,
      `  ${r.files} files, ${formatBytes(r.bytes)} verified, ${r.tables} tables, ${r.rows} rows, ${(r.durationMs / 1000).toFixed(1)} s`,
      ...r.warnings.filter((w) => !w.startsWith('FALLBACK')).map((w) => `  warning: ${w}`),
    ].join('\n'),
};
