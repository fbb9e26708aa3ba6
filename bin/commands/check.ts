import { checkBackups } from '../../core/backup/check.ts';
import { formatAge, formatBytes } from '../../core/format.ts';
import { COMMON, optionalString, REPO_READ, repository, usage } from './args.ts';
import { defineCommand } from './command.ts';

export const checkCommand = defineCommand({
  summary: 'Check backups against their manifests (size and SHA-256) without restoring',
  synopsis: 'check --repo URL [--backup latest|all|ID] [--database NAME] [--max-age DURATION] [--hold] [--json]',
  flags: {
    ...COMMON,
    ...REPO_READ,
    backup: {
      type: 'string',
      default: 'latest',
      arg: 'WHICH',
      help: 'latest (default: the newest of each database), all, or a backup id',
    },
    database: { type: 'string', arg: 'NAME', help: "only this database's backups" },
    'max-age': {
      type: 'string',
      arg: 'DURATION',
      help: "also fail when a database's newest complete backup started longer ago than\nthis (e.g. 26h, 90m, 2d), for cron and monitoring",
    },
    hold: {
      type: 'boolean',
      help: "s3:// only: put an S3 Legal Hold on each database's newest backup that passed\n(manifest included) and release the one held before, so the newest verified\nbackup never expires (needs s3:PutObjectLegalHold; file:// has nothing to hold)",
    },
  },
  notes: `Exit status 1 when any checked backup is damaged, or a newest backup is older than --max-age;
the output names the backup and file (--json: "passed": false, every backup's result, "stale").`,
  async run(v, io) {
    const maxAge = optionalString(v, 'max-age');
    return checkBackups(repository(v), {
      backup: optionalString(v, 'backup'),
      database: optionalString(v, 'database'),
      maxAgeMs: maxAge === undefined ? undefined : parseAge(maxAge) * 1000,
      hold: v.hold === true,
      log: io.log,
    });
  },
  // Damaged backups are a result, not an error: the report names each one (and --json keeps them all).
  exitCode: (r) => (r.passed ? 0 : 1),
  human: (r) => {
    const lines = r.backups.map((b) =>
      b.ok
        ? `ok       ${b.database}/${b.id}  ${b.files} files, ${formatBytes(b.bytes)} match the manifest`
        : `DAMAGED  ${b.database}/${b.id}  ${b.problem}`,
    );
    const bad = r.backups.filter((b) => !b.ok).length;
    if (bad > 0)
      lines.push(
        `${bad} of ${r.backups.length} backups damaged: restore from an older backup or the offsite copy (dr restore --backup ID)`,
      );
    for (const s of r.stale) {
      lines.push(
        s.id === null
          ? `STALE    ${s.database}  no complete backup (--max-age ${formatAge(s.maxAgeSeconds)})`
          : `STALE    ${s.database}  newest complete backup ${s.id} is ${formatAge(s.ageSeconds!)} old, older than --max-age ${formatAge(s.maxAgeSeconds)}: check the backup schedule (dr backup)`,
      );
    }
    for (const h of r.holds ?? []) {
      lines.push(
        h.supported
          ? `HELD     ${h.database}/${h.held}  newest verified backup under legal hold${h.released.length ? ` (released ${h.released.join(', ')})` : ''}`
          : `HOLD     ${h.database}  not supported by this repository (file://): nothing expires there on its own`,
      );
    }
    return lines.join('\n');
  },
});

/** Seconds from `26h`, `90m`, `2d`, `1h30m`, `3600s` or `3600`. */
export function parseAge(raw: string): number {
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
  const parts = [...raw.trim().matchAll(/(\d+(?:\.\d+)?)([smhd]?)/g)];
  const valid =
    parts.length > 0 &&
    parts.map((p) => p[0]).join('') === raw.trim() &&
    (parts.length === 1 || parts.every((p) => p[2] !== ''));
  const seconds = valid ? parts.reduce((n, p) => n + Number(p[1]) * units[p[2] || 's']!, 0) : NaN;
  if (!(seconds > 0)) throw usage(`--max-age must be a duration like 26h, 90m, 2d or 1h30m, got "${raw}"`);
  return seconds;
}
