import { pruneRepository } from '../../core/repository/prune.ts';
import { COMMON, optionalString, REPO_READ, repository } from './args.ts';
import { defineCommand } from './command.ts';

export const pruneCommand = defineCommand({
  summary: "Remove backups past their tier's retention (for repositories without lifecycle rules)",
  synopsis: 'prune --repo URL [--dry-run] [--database NAME] [--json]',
  flags: {
    ...COMMON,
    ...REPO_READ,
    'dry-run': { type: 'boolean', default: false, help: 'say what would be removed; remove nothing' },
    database: { type: 'string', arg: 'NAME', help: "only this database's backups" },
  },
  notes: `The tiers of the recovery guide: a daily backup goes after 7 days, a weekly one after 4 weeks
(28 days), a monthly one after 6 months (180 days). Never removed: the newest backup that passed
a drill, the newest that passes dr check (read back now), and locked objects (said which and why).
Interrupted backups (no manifest) older than a day are removed. A backup's manifest goes first, so
an interrupted prune never leaves a backup that looks complete. The deployed vault needs no prune:
its lifecycle rules expire backups by the same tiers.`,
  async run(v, io) {
    return pruneRepository(repository(v), {
      dryRun: v['dry-run'] === true,
      database: optionalString(v, 'database'),
      log: io.log,
    });
  },
  exitCode: (r) => (r.passed ? 0 : 1),
  human: (r) => {
    const verb = r.dryRun ? 'would remove' : 'removed';
    const lines = r.removed.map(
      (b) =>
        `${verb} ${b.database}/${b.id}  ${b.tier ?? 'interrupted (no manifest)'}, ${b.ageDays} days old, ${b.files} files`,
    );
    for (const k of r.kept) lines.push(`kept    ${k.database}/${k.id}: ${k.reason}`);
    for (const f of r.failures) lines.push(`FAILED  ${f.key}: ${f.reason}`);
    lines.push(
      `${r.removed.length} backups ${r.dryRun ? 'to remove' : 'removed'}, ${r.kept.length} kept past retention, ${r.retained} within retention${r.dryRun ? ' (dry run: nothing removed)' : ''}`,
    );
    return lines.join('\n');
  },
});
