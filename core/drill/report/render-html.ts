/** The drill report as a self-contained HTML page: inline CSS and SVG, no external assets. */
import { formatSeconds } from '../../format.ts';
import type { VerifyCheck } from '../../verify/verify.ts';
import { trendSvg } from './chart.ts';
import { CHECKLIST_SYMBOLS, type DrillReport } from './model.ts';
import { esc, evidenceLines, formatBytes, PHASES_NOTE, phaseRows, plural } from './text.ts';

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:960px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.badge{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600;margin-right:8px}
.pass{background:#1a7f37}.fail{background:#cf222e}
.summary{color:#57606a;margin:0 0 16px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:4px 16px 12px;margin-bottom:16px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{font-weight:600;color:#57606a}td.num{text-align:right;font-variant-numeric:tabular-nums}
.s-pass{color:#1a7f37;font-weight:700}.s-fail{color:#cf222e;font-weight:700}.s-not-configured{color:#6e7781}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:12px 0}dt{color:#57606a}dd{margin:0}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f0f2f4;padding:1px 4px;border-radius:3px}
ul.issues{margin:8px 0;padding-left:20px}.kind{font-weight:600}
svg text{font:11px system-ui,sans-serif;fill:#57606a}
footer{color:#6e7781;font-size:12px;margin-top:24px}
td.sub{padding-left:24px}tr.total td{font-weight:600}.note{color:#57606a;font-size:12px}
`;

export function renderHtml(r: DrillReport): string {
  const verdict = (ok: boolean) => `<span class="badge ${ok ? 'pass' : 'fail'}">${ok ? 'PASS' : 'FAIL'}</span>`;
  const failedChecks = r.verification?.checks.filter((c) => !c.passed) ?? [];
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Restore drill ${r.passed ? 'PASS' : 'FAIL'}: ${esc(r.database)} ${esc(r.startedAt.slice(0, 10))}</title>
<style>${CSS}</style>
</head>
<body><main>
<h1>${verdict(r.passed)}Restore drill: ${esc(r.database)}</h1>
<p class="summary">${esc(r.summary)}</p>
<section><h2>Overview</h2><dl>
<dt>Started</dt><dd>${esc(r.startedAt)}</dd>
<dt>Finished</dt><dd>${esc(r.finishedAt)}</dd>
<dt>Backup</dt><dd>${r.backup ? `<code>${esc(r.backup.id)}</code>${r.backup.fresh ? ' (fresh)' : ''}, ${esc(r.backup.tier ?? 'unknown tier')}, ${esc(formatBytes(r.backup.bytes))}, ${esc(r.backup.ageHours.toFixed(1))} h old at drill time` : 'none found'}</dd>
<dt>Scratch database</dt><dd>${r.scratch ? `<code>${esc(r.scratch.database)}</code> on ${esc(r.scratch.server)}, ${r.scratch.dropped ? 'dropped' : '<strong class="s-fail">not dropped</strong>'}` : '—'}</dd>
<dt>Restore time</dt><dd>${esc(formatSeconds(r.restore.seconds))} against an RTO of ${esc(formatSeconds(r.restore.rtoSeconds))} ${verdict(r.restore.rtoPassed)}</dd>
<dt>Verification</dt><dd>${r.verification ? `${r.verification.totals.checks - r.verification.totals.failed} of ${r.verification.totals.checks} checks passed ${verdict(r.verification.passed)}` : 'not run'}</dd>
</dl></section>
<section><h2>Phases</h2><table><tr><th>Phase</th><th class="num">Duration</th></tr>
${phaseRows(r)
  .map(
    (row) =>
      `<tr${row.total ? ' class="total"' : ''}><td${row.sub ? ' class="sub"' : ''}>${esc(row.label)}</td><td class="num">${esc(row.duration)}</td></tr>`,
  )
  .join('\n')}
</table><p class="note">${esc(PHASES_NOTE)}</p></section>
<section><h2>Checklist</h2><table><tr><th></th><th>Item</th><th>Detail</th></tr>
${r.checklist.map((c) => `<tr><td class="s-${c.state}">${esc(CHECKLIST_SYMBOLS[c.state])}</td><td>${esc(c.item)}</td><td>${esc(c.detail)}</td></tr>`).join('\n')}
</table></section>
<section><h2>Issues</h2>${r.issues.length ? `<ul class="issues">${r.issues.map((i) => `<li><span class="kind">${esc(i.kind)}</span> (${esc(i.step)}): ${esc(i.message)}</li>`).join('')}</ul>` : '<p>None.</p>'}</section>
<section><h2>Verification</h2>${
    !r.verification
      ? '<p>Not run.</p>'
      : failedChecks.length
        ? `<table><tr><th>Check</th><th>Object</th><th>Expected</th><th>Actual</th></tr>${failedChecks.map((c) => `<tr><td>${esc(c.name)}</td><td><code>${esc(c.object)}</code></td><td>${esc(c.expected)}</td><td>${esc(c.actual)}</td></tr>`).join('')}</table>`
        : `<p>All ${r.verification.totals.checks} checks passed${r.verification.checks.length ? ` (${esc(checkCounts(r.verification.checks))})` : ''}.</p>`
  }</section>
<section><h2>Evidence</h2><ul>${evidenceLines(r)
    .map((l) => `<li>${esc(l)}</li>`)
    .join('')}</ul></section>
<section><h2>Trend</h2>${trendSvg(r)}
<p>${r.trend.previous.length ? `Median of the previous ${plural(r.trend.previous.length, 'drill')}: ${esc(formatSeconds(r.trend.medianSeconds))}.${r.trend.changeSeconds === null ? '' : ` Change since the previous drill: ${r.trend.changeSeconds >= 0 ? '+' : ''}${esc(r.trend.changeSeconds.toFixed(1))} s.`}` : 'First drill of this database.'}</p></section>
<footer>crypto-stock-dr drill report, format ${r.formatVersion}</footer>
</main></body>
</html>
`;
}

function checkCounts(checks: readonly VerifyCheck[]): string {
  const counts = new Map<string, number>();
  for (const c of checks) counts.set(c.name, (counts.get(c.name) ?? 0) + 1);
  return [...counts].map(([name, n]) => `${n} ${name}`).join(', ');
}
