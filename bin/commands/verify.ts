import { parsePgUrl } from '../../core/pg/connection.ts';
import { readManifest, resolveBackup } from '../../core/repository/backups.ts';
import { parseHealthUrl } from '../../core/verify/probes.ts';
import { describeFailure, type VerifyResult, verifyAgainstManifest } from '../../core/verify/verify.ts';
import { COMMON, type Command, optionalString, REPO_READ, repository, required, strings, usage } from './args.ts';

export const verifyCommand: Command = {
  summary: 'Check a restored database against its backup manifest (exit 1 on any difference)',
  usage: `Usage: dr verify --repo URL --backup latest|ID --target URL [flags]

  --repo URL             file:///dir or s3://bucket/prefix
  --backup ID            the backup the target was restored from: an id from dr list, or latest
                         (the newest complete backup; if dr restore fell back, pass the id it restored)
  --database NAME        source database in the repository (needed when it holds several)
  --target URL           the restored database (postgres://user@host:5432/crypto_stock_restored)
  --health-url URL       an application health endpoint that must answer 2xx (repeatable)
  --health-timeout MS    how long each health URL may take (default 5000)
  --json, --quiet

Checks: table count, every table present and no unexpected ones, exact row counts (partitioned
parents = sum of partitions), MAX(time column) per table, indexes and constraints by name and
definition, sequences at or above the recorded values, extensions and versions, health URLs, and
each table's content: every row's fingerprint, per day, recomputed and compared with the one the
backup took from its own dump (backups without fingerprints: counts only, and verify says so).
Exit status: 0 when every check passed, 1 otherwise (the failing objects are listed).`,
  options: {
    ...COMMON,
    ...REPO_READ,
    backup: { type: 'string', default: 'latest' },
    database: { type: 'string' },
    target: { type: 'string' },
    'health-url': { type: 'string', multiple: true },
    'health-timeout': { type: 'string' },
  },
  async run(v, io) {
    const target = required(v, 'target');
    // Bad input fails before the repository is read.
    const display = parsePgUrl(target, '--target').display;
    const healthUrls = strings(v, 'health-url');
    healthUrls.forEach(parseHealthUrl);
    const healthTimeoutMs = healthTimeout(optionalString(v, 'health-timeout'));
    const repo = repository(v);
    const candidates = await resolveBackup(repo, required(v, 'backup'), optionalString(v, 'database'));
    const manifest = await readManifest(repo, candidates.database, candidates.ids[0]);
    io.log(`verifying ${display} against backup ${manifest.id} of ${manifest.database}`);
    return verifyAgainstManifest({ manifest, target, healthUrls, healthTimeoutMs });
  },
  human: (r: VerifyResult) => {
    const failed = r.checks.filter((c) => !c.passed);
    const head = `${r.passed ? 'PASS' : 'FAIL'}: ${r.target} against backup ${r.backupId} of ${r.database}: ${r.totals.checks - r.totals.failed}/${r.totals.checks} checks passed (${(r.durationMs / 1000).toFixed(1)} s)`;
    const content =
      r.content.method === 'counts only'
        ? '  content: counts only (the backup has no fingerprints)'
        : `  content: every row's fingerprint compared per day${r.content.countsOnly.length ? `; counts only for ${r.content.countsOnly.join(', ')}` : ''}`;
    return [head, content, ...failed.map((c) => `  FAIL ${c.name}: ${describeFailure(c)}`)].join('\n');
  },
  exitCode: (r: VerifyResult) => (r.passed ? 0 : 1),
};

function healthTimeout(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw usage(`--health-timeout must be a whole number of milliseconds ≥ 1, got "${raw}"`);
  return n;
}
