/**
 * Drill reports: building (PASS/FAIL rules, checklist states, issues), rendering (JSON, Markdown,
 * HTML with the trend chart) and storage (write-once keys per day, trend read back from a real
 * file:// repository).
 */
import { mkdtemp, readFile, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildDrillReport, restoreTrend } from '../../../core/drill/report/build.ts';
import { trendSvg } from '../../../core/drill/report/chart.ts';
import { type DrillFacts, type DrillReport, renderJson, TREND_LENGTH } from '../../../core/drill/report/model.ts';
import { renderHtml } from '../../../core/drill/report/render-html.ts';
import { renderMarkdown } from '../../../core/drill/report/render-md.ts';
import { readDrillHistory, writeDrillReport } from '../../../core/drill/report/store.ts';
import { FileRepository } from '../../../core/repository/index.ts';
import type { VerifyCheck } from '../../../core/verify/verify.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempRepo(): Promise<FileRepository> {
  const dir = await mkdtemp(join(tmpdir(), 'dr-report-'));
  dirs.push(dir);
  return new FileRepository(dir);
}

const check = (
  name: string,
  object: string,
  passed = true,
  expected: string | number | null = 1,
  actual: string | number | null = passed ? expected : 0,
): VerifyCheck => ({ name, object, expected, actual, passed });

const passingChecks: VerifyCheck[] = [
  check('table-present', 'public.symbols'),
  check('table-present', 'public.candles'),
  check('row-count', 'public.symbols', true, 20),
  check('row-count', 'public.candles', true, 5000),
  check('freshness', 'public.candles', true, '2026-11-01T00:00:00.000Z'),
  check('index', 'public.candles_pkey', true, 'CREATE UNIQUE INDEX …'),
  check('constraint', 'public.candles_pkey', true, 'PRIMARY KEY (symbol_id, ts)'),
];

function facts(overrides: Partial<DrillFacts> = {}): DrillFacts {
  return {
    database: 'crypto_stock',
    startedAt: new Date('2026-12-06T03:00:00Z'),
    finishedAt: new Date('2026-12-06T03:02:00Z'),
    rtoSeconds: 3600,
    backup: {
      id: '20261206T020000Z-a1b2c3',
      startedAt: '2026-12-06T02:00:00.000Z',
      bytes: 5 * 1048576,
      tier: 'weekly',
    },
    scratch: { database: 'drill_crypto_stock_20261206', server: 'root@127.0.0.1:5432', dropped: true },
    restore: {
      durationMs: 42_500,
      phases: { downloadMs: 10_000, verifyMs: 2_500, restoreMs: 30_000 },
      fallbacks: [],
      warnings: [],
      tables: 12,
      rows: 5020,
    },
    verification: { passed: true, checks: passingChecks, durationMs: 1_200 },
    cleanupMs: 300,
    ...overrides,
  };
}

const state = (r: DrillReport, item: string) => r.checklist.find((c) => c.item === item)!;

describe('buildDrillReport', () => {
  it('passes a drill that restored within the RTO and verified; unconfigured URLs are "not configured"', () => {
    const r = buildDrillReport(facts());
    expect(r.passed).toBe(true);
    expect(r.summary).toMatch(/^PASS crypto_stock: restore 42\.5 s of RTO 1\.0 h \(met\), 7\/7 checks passed$/);
    expect(r.backup).toMatchObject({ id: '20261206T020000Z-a1b2c3', ageHours: 1, bytes: 5 * 1048576, fresh: false });
    expect(r.restore).toMatchObject({ completed: true, seconds: 42.5, rtoSeconds: 3600, rtoPassed: true });
    // A result without the newer phases (an older job): what it does not break down is "other".
    expect(r.phases.map((p) => [p.name, p.seconds, p.inRestoreTime])).toEqual([
      ['download', 10, true],
      ['verify-checksums', 2.5, true],
      ['restore', 30, true],
      ['other', 0, true],
      ['verify-data', 1.2, false],
      ['cleanup', 0.3, false],
    ]);
    expect(Object.fromEntries(r.checklist.map((c) => [c.item, c.state]))).toEqual({
      'Backup accessible': 'pass',
      'Restore completed': 'pass',
      'All tables present': 'pass',
      'Row counts match': 'pass',
      'Indexes created': 'pass',
      'Production health endpoint answers': 'not-configured',
      'API endpoints respond': 'not-configured',
      'WebSocket connects': 'not-configured',
      'Data queries work': 'pass',
      'No errors in the restore logs': 'pass',
    });
    expect(r.issues).toEqual([]);
  });

  it('fails on a failed check and names it in the checklist, the issues and the summary', () => {
    const checks = passingChecks.map((c) =>
      c.name === 'row-count' && c.object === 'public.candles' ? { ...c, actual: 4990, passed: false } : c,
    );
    const r = buildDrillReport(facts({ verification: { passed: false, checks, durationMs: 900 } }));
    expect(r.passed).toBe(false);
    expect(state(r, 'Row counts match')).toEqual({
      item: 'Row counts match',
      state: 'fail',
      detail: '1 of 2 failed: public.candles',
    });
    expect(state(r, 'All tables present').state).toBe('pass');
    expect(r.issues).toEqual([
      { kind: 'failed-check', step: 'verify-data', message: 'table public.candles: 4990 rows, expected 5000' },
    ]);
    expect(r.summary).toMatch(/^FAIL .*6\/7 checks passed; failed: Row counts match$/);
  });

  it('fails when the restore exceeds the RTO, though everything verified', () => {
    const r = buildDrillReport(facts({ rtoSeconds: 30 }));
    expect(r.passed).toBe(false);
    expect(r.restore.rtoPassed).toBe(false);
    expect(r.issues).toEqual([
      { kind: 'error', step: 'restore', message: 'restore took 42.5 s, over the RTO of 30.0 s' },
    ]);
  });

  it('reports a failed restore: not completed, later items not reached, the error in the logs item', () => {
    const r = buildDrillReport(
      facts({
        restore: undefined,
        verification: undefined,
        restoreMs: 4_000,
        errors: [{ step: 'restore', message: 'pg_restore failed: ERROR: out of disk space' }],
      }),
    );
    expect(r.passed).toBe(false);
    expect(r.restore).toMatchObject({ completed: false, seconds: 4, rtoPassed: false });
    expect(state(r, 'Backup accessible')).toMatchObject({
      state: 'pass',
      detail: 'files verified; the restore itself failed',
    });
    expect(state(r, 'Restore completed')).toMatchObject({
      state: 'fail',
      detail: 'pg_restore failed: ERROR: out of disk space',
    });
    expect(state(r, 'All tables present')).toMatchObject({
      state: 'fail',
      detail: 'not reached: the restore did not complete',
    });
    expect(state(r, 'No errors in the restore logs').state).toBe('fail');
    expect(state(r, 'API endpoints respond').state).toBe('not-configured');
    expect(r.verification).toBeNull();
    expect(r.summary).toMatch(/restore 4\.0 s of RTO 1\.0 h \(restore failed\), not verified/);
  });

  it('marks the backup inaccessible when its files failed verification', () => {
    const r = buildDrillReport(
      facts({
        restore: undefined,
        verification: undefined,
        errors: [{ step: 'restore', message: 'backup x: data/3.dat.gz has SHA-256 abc…, the manifest says def…' }],
      }),
    );
    expect(state(r, 'Backup accessible')).toMatchObject({ state: 'fail', detail: expect.stringMatching(/SHA-256/) });
  });

  it('sorts health URLs into application, API and WebSocket items', () => {
    const urls = ['http://app.local/healthz', 'http://app.local/api/v1/symbols', 'ws://app.local/ws'];
    const checks = [
      ...passingChecks,
      check('health-url', urls[0]!, true, '2xx', 200),
      check('health-url', urls[1]!, false, '2xx', 503),
      check('websocket', urls[2]!, true, 101, 101),
    ];
    const r = buildDrillReport(facts({ healthUrls: urls, verification: { passed: false, checks } }));
    expect(state(r, 'Production health endpoint answers')).toMatchObject({ state: 'pass', detail: urls[0] });
    expect(state(r, 'API endpoints respond')).toMatchObject({ state: 'fail', detail: `${urls[1]} answered 503` });
    expect(state(r, 'WebSocket connects')).toMatchObject({ state: 'pass' });
  });

  it('a health URL that times out has no answer; one answering 404 answered 404', () => {
    const urls = ['http://app.local/healthz', 'http://app.local/api/v1/symbols'];
    const checks = [
      ...passingChecks,
      check('health-url', urls[0]!, false, '2xx', 'no answer within 5000 ms'),
      check('health-url', urls[1]!, false, '2xx', 404),
    ];
    const r = buildDrillReport(facts({ healthUrls: urls, verification: { passed: false, checks } }));
    expect(state(r, 'Production health endpoint answers')).toMatchObject({
      state: 'fail',
      detail: `no answer from ${urls[0]} (no answer within 5000 ms)`,
    });
    expect(state(r, 'API endpoints respond')).toMatchObject({ state: 'fail', detail: `${urls[1]} answered 404` });
  });

  it('the restore phases add up to the restore time in the headline, to the millisecond; "other" is the unmeasured rest', () => {
    const phases = { checkTargetMs: 211, fallbackMs: 0, downloadMs: 0, verifyMs: 37, restoreMs: 2_704, swapMs: 96 };
    const r = buildDrillReport(
      facts({ freshBackupMs: 5_000, restore: { ...facts().restore!, durationMs: 3_213, phases } }),
    );
    const inRestore = r.phases.filter((p) => p.inRestoreTime);
    expect(inRestore.map((p) => p.name)).toEqual([
      'check-target',
      'download',
      'verify-checksums',
      'restore',
      'swap',
      'other',
    ]);
    expect(inRestore.find((p) => p.name === 'other')!.seconds).toBe(0.165);
    const sumMs = inRestore.reduce((ms, p) => ms + Math.round(p.seconds! * 1000), 0);
    expect(sumMs).toBe(Math.round(r.restore.seconds! * 1000));
    expect(r.restore.seconds).toBe(3.213);
    // The fresh backup, verification and cleanup are outside the restore time.
    expect(r.phases.filter((p) => !p.inRestoreTime).map((p) => p.name)).toEqual(['backup', 'verify-data', 'cleanup']);
    const md = renderMarkdown(r);
    expect(md).toContain('| **Restore time (against the RTO)** | **3.213 s** |');
    expect(md).toContain('| · Restore (pg_restore) | 2.704 s |');
    expect(md).toContain('| · Other (not measured separately) | 0.165 s |');
    expect(md).toContain('| Fresh backup | 5.000 s |');
  });

  it("a failed restore's time is one phase, said to be not broken down", () => {
    const r = buildDrillReport(
      facts({
        restore: undefined,
        verification: undefined,
        restoreMs: 4_000,
        errors: [{ step: 'restore', message: 'pg_restore failed: x' }],
      }),
    );
    expect(r.phases.filter((p) => p.inRestoreTime)).toEqual([
      { name: 'other', label: 'Restore until it failed (not broken down)', seconds: 4, inRestoreTime: true },
    ]);
  });

  it('"Restore completed" and "All tables present" count the same tables; the table count and unexpected tables are said apart', () => {
    const tables = passingChecks.filter((c) => c.name === 'table-present').length;
    const checks = [...passingChecks, check('table-count', 'crypto_stock', true, tables)];
    const ok = buildDrillReport(
      facts({ restore: { ...facts().restore!, tables }, verification: { passed: true, checks } }),
    );
    expect(state(ok, 'Restore completed').detail).toBe(
      `${tables} tables (as the backup's manifest lists them), 5020 rows`,
    );
    expect(state(ok, 'All tables present')).toMatchObject({
      state: 'pass',
      detail: `${tables} of ${tables} tables present, none unexpected`,
    });

    const extra = [
      ...checks.filter((c) => c.name !== 'table-count'),
      check('table-count', 'crypto_stock', false, tables, tables + 1),
      check('unexpected-table', 'public.tmp', false, null, 'table'),
    ];
    const bad = buildDrillReport(
      facts({ restore: { ...facts().restore!, tables }, verification: { passed: false, checks: extra } }),
    );
    expect(state(bad, 'All tables present')).toMatchObject({
      state: 'fail',
      detail: `1 table not in the backup: public.tmp; ${tables + 1} tables restored, the manifest lists ${tables}`,
    });
  });

  it('a fallback past a damaged newest backup fails "Backup accessible", not the restore logs', () => {
    const r = buildDrillReport(
      facts({
        restore: {
          ...facts().restore!,
          fallbacks: [{ id: '20261206T030000Z-ffffff', reason: 'data/toc.dat is missing' }],
          warnings: ['FALLBACK: newest backup 20261206T030000Z-ffffff failed verification'],
        },
      }),
    );
    expect(r.passed).toBe(false);
    expect(state(r, 'Backup accessible')).toMatchObject({
      state: 'fail',
      detail:
        'newest backup 20261206T030000Z-ffffff is damaged (data/toc.dat is missing); fell back to the older backup 20261206T020000Z-a1b2c3, which verified',
    });
    expect(state(r, 'No errors in the restore logs').state).toBe('pass');
    expect(r.summary).toMatch(/; failed: Backup accessible$/);
  });

  it('turns fallbacks and failing restore warnings into issues and a ✗ for the logs', () => {
    const r = buildDrillReport(
      facts({
        restore: {
          ...facts().restore!,
          fallbacks: [{ id: '20261206T030000Z-ffffff', reason: 'data/toc.dat is missing' }],
          warnings: [
            'FALLBACK: newest backup 20261206T030000Z-ffffff failed verification',
            'globals: 2 statements failed, e.g. role "x" already exists',
          ],
        },
      }),
    );
    expect(r.passed).toBe(false);
    expect(r.issues.map((i) => i.kind)).toEqual(['fallback', 'warning']);
    expect(state(r, 'No errors in the restore logs').detail).toBe(
      'globals: 2 statements failed, e.g. role "x" already exists',
    );
    expect(state(r, 'Backup accessible').state).toBe('fail');
  });

  it('counts passing checks the verify Lambda omitted, and still passes the items they cover', () => {
    const r = buildDrillReport(
      facts({
        verification: { passed: true, checks: [], totals: { checks: 250, failed: 0 }, omittedPassedChecks: 250 },
      }),
    );
    expect(r.passed).toBe(true);
    expect(r.summary).toMatch(/250\/250 checks passed$/);
    expect(state(r, 'Indexes created')).toMatchObject({
      state: 'pass',
      detail: 'all passed (passing checks omitted from the result)',
    });
    expect(state(r, 'Data queries work').state).toBe('pass');
  });

  it('a scratch database that was not dropped is an issue', () => {
    const r = buildDrillReport(facts({ scratch: { database: 'drill_x', server: 's', dropped: false } }));
    expect(r.passed).toBe(false);
    expect(r.issues).toContainEqual({
      kind: 'error',
      step: 'cleanup',
      message: 'scratch database drill_x was not dropped',
    });
  });
});

describe('rendering', () => {
  const previous = Array.from({ length: 3 }, (_, i) => ({
    startedAt: `2026-0${7 + i}-05T03:00:00.000Z`,
    backupId: `2026080${i}T020000Z-000000`,
    restoreSeconds: 40 + i,
    rtoSeconds: 3600,
    passed: i !== 1,
  }));

  it('JSON round-trips the report object', () => {
    const r = buildDrillReport(facts({ previous }));
    expect(JSON.parse(renderJson(r))).toEqual(r);
  });

  it('Markdown has the summary, phases, checklist symbols, issues and the trend table', () => {
    const checks = passingChecks.map((c) => (c.name === 'index' ? { ...c, actual: null, passed: false } : c));
    const md = renderMarkdown(buildDrillReport(facts({ previous, verification: { passed: false, checks } })));
    expect(md).toMatch(/^# Restore drill FAIL: crypto_stock$/m);
    expect(md).toContain('| · Verify checksums | 2.500 s |');
    expect(md).toContain('| ✗ | Indexes created | 1 of 1 failed: public.candles_pkey |');
    expect(md).toContain('| not configured | WebSocket connects | no URL configured |');
    expect(md).toContain('| index | public.candles_pkey | CREATE UNIQUE INDEX … | — |');
    expect(md).toContain('Previous 3 drills: median restore 41.0 s; this drill 42.5 s (+0.5 s vs the previous drill).');
    expect(md.match(/^\| 2026-\d\d-\d\d \d\d:\d\d \|/gm)).toHaveLength(4);
  });

  it('HTML is self-contained, escapes text, and charts the trend with the RTO line', () => {
    const checks = [...passingChecks, check('table-present', 'public."<script>alert(1)</script>"', false)];
    const html = renderHtml(
      buildDrillReport(facts({ previous, rtoSeconds: 60, verification: { passed: false, checks } })),
    );
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).not.toMatch(/<(link|script|img)\b/i);
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('<svg');
    expect(html.match(/<rect /g)).toHaveLength(4);
    expect(html).toMatch(/RTO 60\.0 s<\/text>/);
  });

  it('keeps the RTO line visible but off scale when it dwarfs the restore times', () => {
    const html = renderHtml(buildDrillReport(facts({ previous })));
    expect(html).toContain('RTO 1.0 h (off scale, above)');
  });

  const lineYs = (svg: string, cls: string) =>
    [...svg.matchAll(new RegExp(`<line class="${cls}"[^>]* y1="([\\d.]+)"`, 'g'))].map((m) => Number(m[1]));

  it('a single drill: an off-scale RTO line is drawn above every gridline, never on one', () => {
    const r = buildDrillReport(facts({ restore: { ...facts().restore!, durationMs: 300 } }));
    const svg = trendSvg(r);
    const grid = lineYs(svg, 'grid');
    const [rto] = lineYs(svg, 'rto');
    expect(grid).toHaveLength(5);
    expect(grid).not.toContain(rto);
    expect(rto).toBeLessThan(Math.min(...grid) - 10);
    expect(svg).toContain('RTO 1.0 h (off scale, above)');
  });

  it("a single drill with the RTO on scale: the line sits at the RTO's value between the gridlines", () => {
    const r = buildDrillReport(facts({ rtoSeconds: 3600, restore: { ...facts().restore!, durationMs: 3_000_000 } }));
    const svg = trendSvg(r);
    const grid = lineYs(svg, 'grid');
    const rto = lineYs(svg, 'rto')[0]!;
    const zero = Math.max(...grid);
    const topValue = 3600 * 1.1; // the scale's top: the larger of the restore time and the RTO, plus 10%
    expect((zero - rto) / (zero - Math.min(...grid))).toBeCloseTo(3600 / topValue, 2);
    expect(grid).not.toContain(rto);
    expect(svg).not.toContain('off scale');
  });
});

describe('storage', () => {
  const at = (iso: string, seconds: number, passed = true): DrillReport =>
    buildDrillReport(
      facts({
        startedAt: new Date(iso),
        finishedAt: new Date(Date.parse(iso) + 60_000),
        rtoSeconds: passed ? 3600 : 1,
        restore: { ...facts().restore!, durationMs: seconds * 1000 },
      }),
    );

  it('writes html, md and json under reports/drills/<date>/<db>; a second drill that day gets its time as suffix', async () => {
    const repo = await tempRepo();
    const first = await writeDrillReport(repo, at('2026-12-06T03:00:00Z', 40), { prefix: 'reports/' });
    expect(first).toEqual({
      html: 'reports/drills/2026-12-06/crypto_stock.html',
      md: 'reports/drills/2026-12-06/crypto_stock.md',
      json: 'reports/drills/2026-12-06/crypto_stock.json',
    });
    const second = await writeDrillReport(repo, at('2026-12-06T15:30:07Z', 41), { prefix: 'reports/' });
    expect(second.json).toBe('reports/drills/2026-12-06/crypto_stock-153007Z.json');
    const third = await writeDrillReport(repo, at('2026-12-06T15:30:07Z', 42), { prefix: 'reports/' });
    expect(third.json).toBe('reports/drills/2026-12-06/crypto_stock-153007Z-2.json');
    expect(await readFile(join(repo.root, first.html), 'utf8')).toMatch(/^<!DOCTYPE html>/);
    expect(JSON.parse(await readFile(join(repo.root, second.json), 'utf8')).restore.seconds).toBe(41);
  });

  it('reads the trend back in drill order, only for the database asked, at most 12', async () => {
    const repo = await tempRepo();
    for (let i = 0; i < 14; i++)
      await writeDrillReport(
        repo,
        at(`2026-${String(1 + (i % 12)).padStart(2, '0')}-0${1 + Math.floor(i / 12)}T03:00:00Z`, 30 + i, i !== 5),
      );
    await writeDrillReport(repo, { ...at('2026-06-01T09:00:00Z', 99), database: 'other_db' });
    await writeDrillReport(repo, at('2026-06-01T09:00:00Z', 77));
    const history = await readDrillHistory(repo, 'crypto_stock');
    expect(history).toHaveLength(TREND_LENGTH);
    const times = history.map((p) => p.startedAt);
    expect(times).toEqual([...times].sort());
    expect(history.at(-1)).toMatchObject({ startedAt: '2026-12-01T03:00:00.000Z', restoreSeconds: 41 });
    expect(history.find((p) => p.startedAt === '2026-06-01T09:00:00.000Z')?.restoreSeconds).toBe(77);
    expect(history.some((p) => p.restoreSeconds === 99)).toBe(false);
    expect(history.find((p) => p.startedAt === '2026-06-01T03:00:00.000Z')?.passed).toBe(false);
  });

  it("keeps expired drills in the trend through the newest report's own trend list", async () => {
    const repo = await tempRepo();
    const first = await writeDrillReport(repo, at('2026-01-04T03:00:00Z', 20));
    const history1 = await readDrillHistory(repo, 'crypto_stock');
    const secondReport = buildDrillReport({
      ...facts(),
      startedAt: new Date('2026-02-01T03:00:00Z'),
      finishedAt: new Date('2026-02-01T03:01:00Z'),
      previous: history1,
    });
    await writeDrillReport(repo, secondReport);
    await unlink(join(repo.root, first.json)); // the vault's lifecycle rule expired it
    const history = await readDrillHistory(repo, 'crypto_stock');
    expect(history.map((p) => [p.startedAt, p.restoreSeconds])).toEqual([
      ['2026-01-04T03:00:00.000Z', 20],
      ['2026-02-01T03:00:00.000Z', 42.5],
    ]);
  });

  it('skips unreadable reports', async () => {
    const repo = await tempRepo();
    await repo.put('drills/2026-03-01/crypto_stock.json', '{not json', { tier: 'monthly' });
    await writeDrillReport(repo, at('2026-04-05T03:00:00Z', 33));
    expect((await readDrillHistory(repo, 'crypto_stock')).map((p) => p.restoreSeconds)).toEqual([33]);
  });
});

describe('restoreTrend', () => {
  const drills = (seconds: number[]) =>
    seconds.map((s, i) => ({ startedAt: new Date(Date.UTC(2026, i, 4)).toISOString(), restoreSeconds: s }));

  it('compares the median of the last three drills with the three before', () => {
    expect(restoreTrend(drills([100, 100, 100, 130, 125, 120]), 3600).growthPercent).toBe(25);
    expect(restoreTrend(drills([100, 100, 100, 100, 100]), 3600).growthPercent).toBeNull();
  });

  it("projects when the restore time reaches the RTO at the drills' rate (about 30 days a drill here)", () => {
    const t = restoreTrend(drills([1000, 1500, 2000, 2500, 3000]), 3600);
    // +500 s a month: 600 s left is a bit over a month.
    expect(t.daysToRto).toBeGreaterThan(30);
    expect(t.daysToRto).toBeLessThan(40);
    expect(restoreTrend(drills([3000, 2500, 2000]), 3600).daysToRto).toBeNull();
    expect(restoreTrend(drills([1000, 1100]), 3600).daysToRto).toBeNull();
  });
});
