/** The trend chart of a drill report (SVG), embedded in the HTML page. */
import { formatSeconds } from '../../format.ts';
import { currentPoint, type DrillReport, type TrendPoint } from './model.ts';
import { esc } from './text.ts';

/**
 * Restore seconds of the previous drills and this one, with the RTO as a dashed line. When the RTO
 * dwarfs the restore times (seconds against an hour), the scale follows the restore times and the
 * RTO line sits at the top marked "off scale", so the trend stays readable.
 */
export function trendSvg(r: DrillReport): string {
  const points = [...r.trend.previous, currentPoint(r)];
  const W = 880;
  const H = 240;
  const left = 56;
  const right = 16;
  const bottom = 40;
  const values = points.map((p) => p.restoreSeconds ?? 0);
  const maxValue = Math.max(...values, 0.001);
  const rto = r.restore.rtoSeconds;
  const rtoOnScale = rto <= maxValue * 4;
  // Off scale, the RTO line gets a band of its own above the plot: drawn on the top gridline it
  // would read as that gridline's value (a single 0.3 s drill put "RTO 1 h" at "0.4 s").
  const top = rtoOnScale ? 20 : 44;
  const offScaleRtoY = 22;
  const yMax = rtoOnScale ? Math.max(maxValue, rto) * 1.1 : maxValue * 1.25;
  const y = (v: number) => top + (H - top - bottom) * (1 - Math.min(v, yMax) / yMax);
  const step = (W - left - right) / points.length;
  const x = (i: number) => left + step * (i + 0.5);
  const barW = Math.min(48, step * 0.6);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => yMax * f);
  // Dates label the bars; with two drills on one day, the time tells them apart.
  const days = points.map((p) => p.startedAt.slice(5, 10));
  const label = (p: TrendPoint) => {
    const day = p.startedAt.slice(5, 10);
    return days.indexOf(day) !== days.lastIndexOf(day) ? `${day} ${p.startedAt.slice(11, 16)}` : day;
  };
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="Restore seconds of the last ${points.length} drills against the RTO">`,
  );
  for (const t of ticks) {
    parts.push(
      `<line class="grid" x1="${left}" x2="${W - right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#eaeef2"/>`,
    );
    parts.push(
      `<text x="${left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${esc(formatSeconds(Math.round(t * 10) / 10))}</text>`,
    );
  }
  points.forEach((p, i) => {
    const current = i === points.length - 1;
    const v = p.restoreSeconds;
    const fill = p.passed ? '#1a7f37' : '#cf222e';
    if (v !== null) {
      parts.push(
        `<rect x="${(x(i) - barW / 2).toFixed(1)}" y="${y(v).toFixed(1)}" width="${barW.toFixed(1)}" height="${(y(0) - y(v)).toFixed(1)}" fill="${fill}" fill-opacity="${current ? 1 : 0.55}"><title>${esc(p.startedAt)}: ${esc(formatSeconds(v))} ${p.passed ? 'PASS' : 'FAIL'}</title></rect>`,
      );
      parts.push(
        `<text x="${x(i).toFixed(1)}" y="${(y(v) - 4).toFixed(1)}" text-anchor="middle">${esc(formatSeconds(v))}</text>`,
      );
    } else {
      parts.push(
        `<text x="${x(i).toFixed(1)}" y="${(y(0) - 4).toFixed(1)}" text-anchor="middle" fill="#cf222e">✗</text>`,
      );
    }
    parts.push(
      `<text x="${x(i).toFixed(1)}" y="${H - bottom + 16}" text-anchor="middle"${current ? ' font-weight="700"' : ''}>${esc(label(p))}</text>`,
    );
  });
  const rtoY = rtoOnScale ? y(rto) : offScaleRtoY;
  parts.push(
    `<line class="rto" x1="${left}" x2="${W - right}" y1="${rtoY.toFixed(1)}" y2="${rtoY.toFixed(1)}" stroke="#cf222e" stroke-width="1.5" stroke-dasharray="6 4"/>`,
  );
  parts.push(
    `<text x="${W - right}" y="${(rtoY - 5).toFixed(1)}" text-anchor="end" fill="#cf222e">RTO ${esc(formatSeconds(rto))}${rtoOnScale ? '' : ' (off scale, above)'}</text>`,
  );
  parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(0)}" y2="${y(0)}" stroke="#8c959f"/>`);
  parts.push(`<text x="${left}" y="${H - 6}">restore time per drill (this drill in bold, right)</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
