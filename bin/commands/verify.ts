import { parsePgUrl } from '../../core/pg/connection.ts';
import { readManifest, resolveBackup } from '../../core/repository/backups.ts';
import { parseHealthUrl } from '../../core/verify/probes.ts';
import { describeFailure, verifyAgainstManifest } from '../../core/verify/verify.ts';
import { COMMON, optionalString, positiveInt, REPO_READ, repository, required, strings } from './args.ts';
import { defineCommand } from './command.ts';

export const verifyCommand = defineCommand({
  summary: 'Check a restored database against its backup manifest (exit 1 on any difference)',
  synopsis: 'verify --repo URL --backup latest|ID --target URL [flags]',
  flags: {
    ...COMMON,
    ...REPO_READ,
    backup: {
      type: 'string',
      default: 'latest',
      arg: 'ID',
      help: 'the backup the target was restored from: an id from dr list, or latest\n(the newest complete backup; if dr restore fell back, pass the id it restored)',
    },
    database: { type: 'string', arg: 'NAME', help: 'source database in the repository (needed when it holds several)' },
    target: {
      type: 'string',
      arg: 'URL',
      help: 'the restored database (postgres://user@host:5432/crypto_stock_restored)',
    },
    'health-url': {
      type: 'string',
      multiple: true,
      arg: 'URL',
      help: 'an application health endpoint that must answer 2xx (repeatable)',
    },
    'health-timeout': { type: 'string', arg: 'MS', help: 'how long each health URL may take (default 5000)' },
  },
  notes: `Checks: table count, every table present and no unexpected ones, exact row counts (partitioned
parents = sum of partitions), MAX(time column) per table, indexes and constraints by name and
definition, sequences at or above the recorded values, extensions and versions, health URLs, and
each table's content: every row's fingerprint, per day, recomputed and compared with the one the
backup took from its own dump (backups without fingerprints: counts only, and verify says so).
Exit status: 0 when every check passed, 1 otherwise (the failing objects are listed).`,
  async run(v, io) {
    const target = required(v, 'target');
    // Bad input fails before the repository is read.
    const display = parsePgUrl(target, '--target').display;
    const healthUrls = strings(v, 'health-url');
    healthUrls.forEach(parseHealthUrl);
    const healthTimeoutMs = positiveInt(v, 'health-timeout', 'milliseconds');
    const repo = repository(v);
    const candidates = await resolveBackup(repo, required(v, 'backup'), optionalString(v, 'database'));
    const manifest = await readManifest(repo, candidates.database, candidates.ids[0]!);
    io.log(`verifying ${display} against backup ${manifest.id} of ${manifest.database}`);
    return verifyAgainstManifest({ manifest, target, healthUrls, healthTimeoutMs });
  },
  human: (r) => {
    const failed = r.checks.filter((c) => !c.passed);
    const head = `${r.passed ? 'PASS' : 'FAIL'}: ${r.target} against backup ${r.backupId} of ${r.database}: ${r.totals.checks - r.totals.failed}/${r.totals.checks} checks passed (${(r.durationMs / 1000).toFixed(1)} s)`;
    const content =
      r.content.method === 'counts only'
        ? '  content: counts only (the backup has no fingerprints)'
        : `  content: every row's fingerprint compared per day${r.content.countsOnly.length ? `; counts only for ${r.content.countsOnly.join(', ')}` : ''}`;
    return [head, content, ...failed.map((c) => `  FAIL ${c.name}: ${describeFailure(c)}`)].join('\n');
  },
  exitCode: (r) => (r.passed ? 0 : 1),
});
