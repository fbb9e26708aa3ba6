/** `dr remote` results for people. */
import type { ExecutionView } from './client.ts';
import type { RemoteRestoreResult } from './commands.ts';

/** A started (not followed) restore: what started, and how to follow it. */
export function humanStarted(r: RemoteRestoreResult): string {
  return [
    `started restore ${r.name} (${r.request.mode} of ${r.request.database} into ${r.request.target.database})`,
    `  ${r.executionArn}`,
    `  follow it: dr remote status ${r.executionArn}`,
  ].join('\n');
}

export function humanExecution(e: ExecutionView): string {
  const lines = [
    `${e.name}: ${e.status}${e.startDate ? ` (started ${e.startDate}${e.stopDate ? `, stopped ${e.stopDate}` : ''})` : ''}`,
  ];
  if (e.states.length) lines.push(`  states: ${e.states.map((s) => s.name).join(' → ')}`);
  const s = e.output;
  if (s && typeof s === 'object' && s.backup) {
    if (s.fallback) lines.push(`  FALLBACK: ${s.fallback.note}`);
    lines.push(
      `  restored backup ${s.backup.id} (${s.backup.tier}) of ${s.database} into ${s.targetDatabase}, mode ${s.mode}`,
    );
    lines.push(`  checksums: ${s.checksums.note}`);
    if (s.tables) {
      for (const t of s.tables)
        lines.push(
          `  ${t.table}: ${t.rowsReplaced} rows replaced, ${t.rowsRestored} restored; ${t.safetyTable ? `previous rows in ${t.safetyTable}` : 'no previous rows'}`,
        );
    } else if (s.rows !== null) {
      lines.push(`  ${s.rows} rows`);
    }
    lines.push(`  restore ${s.restoreSeconds} s, execution ${s.executionSeconds} s; result ${s.resultKey}`);
  } else if (e.status === 'SUCCEEDED' && e.output !== null) {
    lines.push(`  output: ${JSON.stringify(e.output)}`);
  }
  if (e.error) lines.push(`  ${e.error}: ${e.cause ?? ''}`);
  return lines.join('\n');
}
