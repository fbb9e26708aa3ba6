/** How dr writes sizes, durations and ages for people, in every command and report. */

/** `1.2 GiB`: binary units, one decimal above bytes. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** A measured duration, `12.3 s`, `4.5 min`, `1.2 h`; `—` when there is none (a step that did not run). */
export function formatSeconds(s: number | null): string {
  if (s === null) return '—';
  if (s < 100) return `${s.toFixed(1)} s`;
  if (s < 120) return `${s.toFixed(0)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** An estimate, rounded as far as it deserves: `48 s`, `12 min`, `1.5 h`; `?` before there is a rate. */
export function formatEstimate(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** `1d 4h`, `26h`, `5m`: an age for people. */
export function formatAge(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)}s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)}m`;
  if (seconds < 48 * 3600)
    return `${Math.floor(seconds / 3600)}h${Math.round((seconds % 3600) / 60) ? ` ${Math.round((seconds % 3600) / 60)}m` : ''}`;
  const hours = Math.round((seconds % 86_400) / 3600);
  return `${Math.floor(seconds / 86_400)}d${hours ? ` ${hours}h` : ''}`;
}
