import { runBackup } from '../../core/backup/backup.ts';
import { formatBytes } from '../../core/format.ts';
import { isTier, TIERS } from '../../core/repository/tiers.ts';
import { COMMON, optionalString, PG, positiveInt, REPO, repository, required, usage } from './args.ts';
import { defineCommand } from './command.ts';
import { lockTimeout } from './lock-timeout.ts';

export const backupCommand = defineCommand({
  summary: 'Dump a database into a repository',
  synopsis: 'backup --db URL --repo URL [flags]',
  flags: {
    ...COMMON,
    db: { type: 'string', arg: 'URL', help: 'source database (postgres://user@host:5432/crypto_stock)' },
    repo: REPO.repo,
    tier: {
      type: 'string',
      arg: 'TIER',
      help: `force the retention tier: ${TIERS.join(' | ')}\n(default: monthly on the 1st (UTC), weekly on Sundays, daily otherwise)`,
    },
    jobs: { ...PG.jobs, help: 'parallel pg_dump jobs (default: CPU count)' },
    'kms-key-id': REPO['kms-key-id'],
    'object-lock': {
      ...REPO['object-lock'],
      help: "none | governance | tiered: lock each s3:// object until its\ntier's retention ends (Object Lock bucket; tiered: COMPLIANCE for\nweekly and monthly; default: none)",
    },
    'no-fingerprints': {
      type: 'boolean',
      default: false,
      help: 'skip the content fingerprints (every row hashed from the dump, per day);\ndr verify then checks row counts only, and says so',
    },
    'pg-bin': { ...PG['pg-bin'], help: 'directory of pg_dump/pg_dumpall (default: PATH)' },
    'work-dir': { ...PG['work-dir'], help: 'where pg_dump writes before upload (default: OS temp dir)' },
    'lock-timeout': {
      type: 'string',
      arg: 'D',
      help: "how long to wait for another session's lock on a table (default 5m; e.g. 30s, 10m);\nthen fail naming the table and the session holding it",
    },
  },
  async run(v, io) {
    const tier = optionalString(v, 'tier');
    if (tier !== undefined && !isTier(tier)) throw usage(`--tier must be one of ${TIERS.join(', ')}, got "${tier}"`);
    return runBackup({
      db: required(v, 'db'),
      repository: repository(v),
      jobs: positiveInt(v, 'jobs'),
      tier,
      fingerprints: v['no-fingerprints'] !== true,
      tools: { binDir: optionalString(v, 'pg-bin') },
      workDir: optionalString(v, 'work-dir'),
      lockTimeoutMs: lockTimeout(v),
      log: io.log,
    });
  },
  human: (r) =>
    [
      `backup ${r.id} of ${r.database} complete (${r.tier})`,
      `  ${r.files} files, ${formatBytes(r.bytes)}, ${r.tables} tables, ${r.rows} rows, ${(r.durationMs / 1000).toFixed(1)} s`,
      `  repository: ${r.repository}`,
      ...r.warnings.map((w) => `  warning: ${w}`),
    ].join('\n'),
});
