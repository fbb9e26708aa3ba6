import { formatBytes } from '../../core/backup.ts';
import { checkBackups } from '../../core/check.ts';
import { DrError } from '../../core/errors.ts';
import { COMMON, type Command, optionalString, REPO_READ, repository } from './args.ts';

export const checkCommand: Command = {
  summary: 'Check backups against their manifests (size and SHA-256) without restoring',
  usage: `Usage: dr check --repo URL [--backup latest|all|ID] [--database NAME] [--json]

  --repo URL         file:///dir or s3://bucket/prefix
  --backup WHICH     latest (default: the newest of each database), all, or a backup id
  --database NAME    only this database's backups
  --json, --quiet

Exit status 1 when any checked backup is damaged; the output names the file.`,
  options: { ...COMMON, ...REPO_READ, backup: { type: 'string', default: 'latest' }, database: { type: 'string' } },
  async run(v, io) {
    const result = await checkBackups(repository(v), { backup: optionalString(v, 'backup'), database: optionalString(v, 'database'), log: io.log });
    if (!result.passed) {
      const bad = result.backups.filter((b) => !b.ok);
      throw new DrError(`${bad.length} of ${result.backups.length} backups damaged: ${bad.map((b) => `${b.database}/${b.id}: ${b.problem}`).join('; ')}`, 'restore from an older backup or the offsite copy (dr restore --backup ID)');
    }
    return result;
  },
  human: (r: Awaited<ReturnType<typeof checkBackups>>) =>
    r.backups.map((b) => `ok  ${b.database}/${b.id}  ${b.files} files, ${formatBytes(b.bytes)} match the manifest`).join('\n'),
};
