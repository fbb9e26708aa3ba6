import { formatBytes } from '../../core/backup.ts';
import { checkBackups, type CheckResult } from '../../core/check.ts';
import { COMMON, type Command, optionalString, REPO_READ, repository } from './args.ts';

export const checkCommand: Command = {
  summary: 'Check backups against their manifests (size and SHA-256) without restoring',
  usage: `Usage: dr check --repo URL [--backup latest|all|ID] [--database NAME] [--json]

  --repo URL         file:///dir or s3://bucket/prefix
  --backup WHICH     latest (default: the newest of each database), all, or a backup id
  --database NAME    only this database's backups
  --json, --quiet

Exit status 1 when any checked backup is damaged; the output names the backup and file
(--json: "passed": false and every backup's result).`,
  options: { ...COMMON, ...REPO_READ, backup: { type: 'string', default: 'latest' }, database: { type: 'string' } },
  async run(v, io) {
    return checkBackups(repository(v), { backup: optionalString(v, 'backup'), database: optionalString(v, 'database'), log: io.log });
  },
  // Damaged backups are a result, not an error: the report names each one (and --json keeps them all).
  exitCode: (r: CheckResult) => (r.passed ? 0 : 1),
  human: (r: CheckResult) => {
    const lines = r.backups.map((b) =>
      b.ok
        ? `ok       ${b.database}/${b.id}  ${b.files} files, ${formatBytes(b.bytes)} match the manifest`
        : `DAMAGED  ${b.database}/${b.id}  ${b.problem}`);
    const bad = r.backups.filter((b) => !b.ok).length;
    if (bad > 0) lines.push(`${bad} of ${r.backups.length} backups damaged: restore from an older backup or the offsite copy (dr restore --backup ID)`);
    return lines.join('\n');
  },
};
