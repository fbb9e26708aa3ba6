/** Wording the Markdown and the HTML renderings (and the checklist) share, so both read the same. */
import { formatBytes as formatByteSize, formatSeconds } from '../../format.ts';
import type { DrillReport } from './model.ts';

export function formatBytes(bytes: number | null): string {
  return bytes === null ? '—' : formatByteSize(bytes);
}

export const PHASES_NOTE =
  'The indented phases add up to the restore time measured against the RTO; the others run before or after it.';

/** A phase's duration in the phases table: to the millisecond below 100 s, so the parts visibly add up. */
function phaseDuration(s: number | null): string {
  return s !== null && s < 100 ? `${s.toFixed(3)} s` : formatSeconds(s);
}

/** The phases table: the restore time as a total row, its phases under it, the other phases around it. */
export function phaseRows(r: DrillReport): { label: string; duration: string; total: boolean; sub: boolean }[] {
  const rows: { label: string; duration: string; total: boolean; sub: boolean }[] = [];
  let totalShown = false;
  for (const p of r.phases) {
    if (p.inRestoreTime && !totalShown) {
      rows.push({
        label: 'Restore time (against the RTO)',
        duration: phaseDuration(r.restore.seconds),
        total: true,
        sub: false,
      });
      totalShown = true;
    }
    rows.push({ label: p.label, duration: phaseDuration(p.seconds), total: false, sub: p.inRestoreTime === true });
  }
  return rows;
}

export const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** The evidence section's lines, the same in Markdown and HTML. */
export function evidenceLines(r: DrillReport): string[] {
  const e = r.evidence;
  const lines = [
    r.signature
      ? `Signed (${r.signature.algorithm}, key ${r.signature.keyId}): check with dr report verify <report>.json`
      : `UNSIGNED: ${r.unsigned ?? 'no signing key configured'}`,
  ];
  if (!e) return [...lines, 'No evidence recorded (older report).'];
  lines.push(`Manifest SHA-256: ${e.manifestSha256 ?? 'unknown'}`);
  lines.push(
    e.achievedRpo
      ? `Achieved RPO: ${formatSeconds(e.achievedRpo.seconds)} (newest restored row ${e.achievedRpo.newestRow} in ${e.achievedRpo.table}, before the backup's snapshot)`
      : 'Achieved RPO: unknown (no time column recorded)',
  );
  lines.push(
    `Versions: crypto-stock-dr ${e.versions.dr}, pg_dump ${e.versions.pgDump ?? '—'}, PostgreSQL ${e.versions.server ?? '—'}${e.versions.timescaledb ? `, TimescaleDB ${e.versions.timescaledb}` : ''}`,
  );
  return lines;
}

/** Escapes text for HTML: the page and its SVG chart. */
export const esc = (s: unknown) =>
  String(s ?? '—')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
