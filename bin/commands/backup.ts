import { runBackup } from '../../core/backup/backup.ts';
import { formatBytes } from '../../core/format.ts';
import { isTier, TIERS } from '../../core/repository/tiers.ts';
import { COMMON, type Command, jobs, optionalString, PG, REPO, repository, required, usage } from './args.ts';
import { lockTimeout } from './lock-timeout.ts';

export const backupCommand: Command = {
  summary: 'Dump a database into a repository',
  usage: `Usage: dr backup --db URL --repo URL [flags]

  --db URL           source database (postgres://user@host:5432/crypto_stock)
  --repo URL         file:///dir or s3://bucket/prefix
  --tier TIER        force the retention tier: ${TIERS.join(' | ')}
                     (default: monthly on the 1st (UTC), weekly on Sundays, daily otherwise)
  -j, --jobs N       parallel pg_dump jobs (default: CPU count)
  --kms-key-id ID    SSE-KMS key for s3:// objects (default: the bucket's encryption)
  --object-lock MODE none | governance | tiered: lock each s3:// object until its
                     tier's retention ends (Object Lock bucket; tiered: COMPLIANCE for
                     weekly and monthly; default: none)
  --no-fingerprints  skip the content fingerprints (every row hashed from the dump, per day);
                     dr verify then checks row counts only, and says so
  --pg-bin DIR       directory of pg_dump/pg_dumpall (default: PATH)
  --work-dir DIR     where pg_dump writes before upload (default: OS temp dir)
  --lock-timeout D   how long to wait for another session's lock on a table (default 5m; e.g. 30s, 10m);
                     then fail naming the table and the session holding it
  --json, --quiet`,
  options: {
    ...COMMON,
    ...REPO,
    ...PG,
    db: { type: 'string' },
    tier: { type: 'string' },
    'no-fingerprints': { type: 'boolean', default: false },
    'lock-timeout': { type: 'string' },
  },
  async run(v, io) {
    const tier = optionalString(v, 'tier');
    if (tier !== undefined && !isTier(tier)) throw usage(`--tier must be one of ${TIERS.join(', ')}, got "${tier}"`);
    return runBackup({
      db: required(v, 'db'),
      repository: repository(v),
      jobs: jobs(v),
      tier,
      fingerprints: v['no-fingerprints'] !== true,
      tools: { binDir: optionalString(v, 'pg-bin') },
      workDir: optionalString(v, 'work-dir'),
      lockTimeoutMs: lockTimeout(v),
      log: io.log,
    });
  },
  human: (r: Awaited<ReturnType<typeof runBackup>>) =>
    [
      `backup ${r.id} of ${r.database} complete (${r.tier})`,
      `  ${r.files} files, ${formatBytes(r.bytes)}, ${r.tables} tables, ${r.rows} rows, ${(r.durationMs / 1000).toFixed(1)} s`,
      `  repository: ${r.repository}`,
      ...r.warnings.map((w) => `  warning: ${w}`),
    ].join('\n'),
};
