/** The drill report as Markdown. */
import { formatSeconds } from '../../format.ts';
import { CHECKLIST_SYMBOLS, currentPoint, type DrillReport } from './model.ts';
import { evidenceLines, formatBytes, PHASES_NOTE, phaseRows, plural } from './text.ts';

const mdCell = (s: string | number | null) =>
  String(s ?? '—')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');

export function renderMarkdown(r: DrillReport): string {
  const lines: string[] = [];
  lines.push(`# Restore drill ${r.passed ? 'PASS' : 'FAIL'}: ${r.database}`, '');
  lines.push(r.summary, '');
  lines.push(`- **Started:** ${r.startedAt}, **finished:** ${r.finishedAt}`);
  if (r.backup) {
    lines.push(
      `- **Backup:** \`${r.backup.id}\`${r.backup.fresh ? ' (fresh)' : ''}, ${r.backup.tier ?? 'unknown tier'}, ${formatBytes(r.backup.bytes)}, ${r.backup.ageHours.toFixed(1)} h old at drill time`,
    );
  } else lines.push('- **Backup:** none found');
  if (r.scratch)
    lines.push(
      `- **Scratch database:** \`${r.scratch.database}\` on ${r.scratch.server}, ${r.scratch.dropped ? 'dropped' : '**NOT dropped**'}`,
    );
  lines.push(
    `- **Restore time:** ${formatSeconds(r.restore.seconds)} against an RTO of ${formatSeconds(r.restore.rtoSeconds)}: **${r.restore.rtoPassed ? 'PASS' : 'FAIL'}**`,
    '',
  );

  lines.push('## Phases', '', '| Phase | Duration |', '| --- | ---: |');
  for (const row of phaseRows(r))
    lines.push(
      row.total
        ? `| **${row.label}** | **${row.duration}** |`
        : `| ${row.sub ? '· ' : ''}${row.label} | ${row.duration} |`,
    );
  lines.push('', PHASES_NOTE, '');

  lines.push('## Checklist', '', '| | Item | Detail |', '| --- | --- | --- |');
  for (const c of r.checklist) lines.push(`| ${CHECKLIST_SYMBOLS[c.state]} | ${c.item} | ${mdCell(c.detail)} |`);
  lines.push('');

  lines.push('## Issues', '');
  if (!r.issues.length) lines.push('None.');
  for (const i of r.issues) lines.push(`- **${i.kind}** (${i.step}): ${i.message}`);
  lines.push('');

  lines.push('## Verification', '');
  if (!r.verification) lines.push('Not run.');
  else {
    const failed = r.verification.checks.filter((c) => !c.passed);
    lines.push(
      `${r.verification.passed ? 'Passed' : 'Failed'}: ${r.verification.totals.checks - r.verification.totals.failed} of ${r.verification.totals.checks} checks passed in ${formatSeconds(r.verification.seconds)}.`,
      '',
    );
    if (failed.length) {
      lines.push('| Check | Object | Expected | Actual |', '| --- | --- | --- | --- |');
      for (const c of failed)
        lines.push(`| ${mdCell(c.name)} | ${mdCell(c.object)} | ${mdCell(c.expected)} | ${mdCell(c.actual)} |`);
    }
  }
  lines.push('');

  lines.push('## Evidence', '', ...evidenceLines(r).map((l) => `- ${l}`), '');

  lines.push('## Trend', '');
  if (!r.trend.previous.length) lines.push('First drill of this database: no previous drills to compare with.');
  else {
    lines.push(
      `Previous ${plural(r.trend.previous.length, 'drill')}: median restore ${formatSeconds(r.trend.medianSeconds)}; this drill ${formatSeconds(r.restore.seconds)}${r.trend.changeSeconds === null ? '' : ` (${r.trend.changeSeconds >= 0 ? '+' : ''}${r.trend.changeSeconds.toFixed(1)} s vs the previous drill)`}.`,
      '',
    );
    lines.push('| Drill | Backup | Restore | RTO | Result |', '| --- | --- | ---: | ---: | --- |');
    for (const p of [...r.trend.previous, currentPoint(r)]) {
      lines.push(
        `| ${p.startedAt.slice(0, 16).replace('T', ' ')} | ${p.backupId ?? '—'} | ${formatSeconds(p.restoreSeconds)} | ${formatSeconds(p.rtoSeconds)} | ${p.passed ? 'PASS' : 'FAIL'} |`,
      );
    }
  }
  lines.push('');
  return lines.join('\n');
}
