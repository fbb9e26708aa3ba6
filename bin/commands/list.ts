import { formatAge, formatBytes } from '../../core/format.ts';
import { listBackups } from '../../core/repository/backups.ts';
import { COMMON, optionalString, REPO_READ, repository } from './args.ts';
import { defineCommand } from './command.ts';

export const listCommand = defineCommand({
  summary: 'List the complete backups in a repository',
  synopsis: 'list --repo URL [--database NAME] [--json]',
  flags: { ...COMMON, ...REPO_READ, database: { type: 'string', arg: 'NAME', help: "only this database's backups" } },
  async run(v) {
    return listBackups(repository(v), optionalString(v, 'database'));
  },
  human: (r) => {
    if (r.backups.length === 0)
      return `no complete backups${r.incomplete.length ? ` (${r.incomplete.length} incomplete ignored)` : ''}`;
    const now = Date.now();
    const rows = r.backups.map((b) => [
      b.id + (b.suspect ? ' SUSPECT' : ''),
      b.database,
      b.tier,
      b.startedAt.replace(/\.\d+Z$/, 'Z'),
      formatAge(Math.max(0, (now - Date.parse(b.startedAt)) / 1000)),
      formatBytes(b.bytes),
      String(b.tables),
      String(b.rows),
    ]);
    const table = [['ID', 'DATABASE', 'TIER', 'STARTED', 'AGE', 'SIZE', 'TABLES', 'ROWS'], ...rows];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    const lines = table.map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
    if (r.incomplete.length) lines.push(`(${r.incomplete.length} incomplete backups without a manifest ignored)`);
    for (const b of r.backups.filter((x) => x.suspect))
      lines.push(
        `SUSPECT ${b.id}: shrank against ${b.suspect!.previous}: ${b.suspect!.reasons.join('; ')} (--backup latest skips it)`,
      );
    return lines.join('\n');
  },
});
