/**
 * `dr verify` as users run it, against a real backup restored into the real PostgreSQL: exit 0
 * only when everything passed; otherwise exit 1 with each failing object named.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgUrl } from '../../fixtures/pg.ts';
import { errorLines, runDr } from '../support/cli.ts';
import { backupAndRestore, type HealthServer, type RestoredFixture, startHealthServer } from '../support/restored.ts';

let fx: RestoredFixture;
let health: HealthServer;

beforeAll(async () => {
  fx = await backupAndRestore('dr_verify_cli');
  health = await startHealthServer();
});

afterAll(async () => {
  await health?.close();
  await fx?.cleanup();
});

const verify = (database: string, ...extra: string[]) =>
  runDr(['verify', '--repo', fx.repoUrl, '--backup', fx.manifest.id, '--target', pgUrl(database), '--quiet', ...extra]);

/** The FAIL lines of the human output. */
const failLines = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('  FAIL '));

describe('dr verify', () => {
  it('exits 0 and prints PASS for the restored copy (latest, --database)', async () => {
    const run = await runDr([
      'verify',
      '--repo',
      fx.repoUrl,
      '--backup',
      'latest',
      '--database',
      fx.source,
      '--target',
      pgUrl(fx.restored),
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(`^PASS: .*/${fx.restored} against backup ${fx.manifest.id} of ${fx.source}: (\\d+)/\\1 checks passed`),
    );
    expect(run.stderr).toContain(`dr verify: verifying`);
  });

  it('--json prints the result object as the last stdout line', async () => {
    const run = await verify(fx.restored, '--json');
    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({
      ok: true,
      passed: true,
      backupId: fx.manifest.id,
      database: fx.source,
      totals: { failed: 0 },
    });
    expect((run.json.checks as unknown[]).length).toBe((run.json.totals as { checks: number }).checks);
  });

  it('catches rows deleted from one table: exit 1, names the table', async () => {
    const copy = await fx.clone((c) =>
      c.query('DELETE FROM audit_logs WHERE id IN (SELECT id FROM audit_logs ORDER BY id LIMIT 5)'),
    );
    const run = await verify(copy);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^FAIL: /);
    const expected = fx.manifest.tables.find((t) => t.name === 'audit_logs')!.rows;
    expect(failLines(run.stdout)).toContain(
      `  FAIL row-count: table public.audit_logs: ${expected - 5} rows, expected ${expected}`,
    );
    // A failed check is a result, not an error.
    expect(errorLines(run)).toEqual([]);
  });

  it('catches a dropped index: exit 1, names the index', async () => {
    const copy = await fx.clone((c) => c.query('DROP INDEX alerts_unacknowledged'));
    const run = await verify(copy);
    expect(run.code).toBe(1);
    expect(failLines(run.stdout)).toEqual([
      expect.stringMatching(
        /^ {2}FAIL index: index public\.alerts_unacknowledged is missing \(CREATE INDEX alerts_unacknowledged ON public\.alerts .* WHERE \(NOT acknowledged\)\)$/,
      ),
    ]);
  });

  it('catches a dropped constraint: exit 1, names the constraint and its table', async () => {
    const fk = fx.manifest.tables.find((t) => t.name === 'indicators')!.constraints.find((c) => c.type === 'f')!;
    const copy = await fx.clone((c) => c.query(`ALTER TABLE indicators DROP CONSTRAINT "${fk.name}"`));
    const run = await verify(copy, '--json');
    expect(run.code).toBe(1);
    expect(run.json).toMatchObject({ ok: true, passed: false, totals: { failed: 1 } });
    expect((run.json.checks as { passed: boolean }[]).filter((c) => !c.passed)).toEqual([
      {
        name: 'constraint',
        object: `public.indicators.${fk.name}`,
        expected: fk.definition,
        actual: null,
        passed: false,
      },
    ]);
  });

  it('catches a sequence behind and an unexpected table: exit 1, names both', async () => {
    const seq = fx.manifest.sequences.find((s) => s.lastValue !== null && BigInt(s.lastValue) > 1n)!;
    const copy = await fx.clone((c) =>
      c.query(`SELECT setval('"${seq.schema}"."${seq.name}"', 1); CREATE TABLE "Reporting".leftover (id int)`),
    );
    const run = await verify(copy);
    expect(run.code).toBe(1);
    expect(failLines(run.stdout)).toEqual(
      expect.arrayContaining([
        `  FAIL sequence: sequence ${seq.schema}.${seq.name} is behind: 1, recorded ${seq.lastValue}`,
        '  FAIL unexpected-table: unexpected table "Reporting".leftover (not in the backup)',
      ]),
    );
  });

  it('--health-url (repeatable): a 2xx URL passes, a 500 and a silent one fail and are named', async () => {
    const ok = await verify(fx.restored, '--health-url', health.ok);
    expect(ok.code, ok.stdout).toBe(0);
    const run = await verify(
      fx.restored,
      '--health-url',
      health.ok,
      '--health-url',
      health.failing,
      '--health-url',
      health.hanging,
      '--health-timeout',
      '300',
    );
    expect(run.code).toBe(1);
    expect(failLines(run.stdout)).toEqual([
      `  FAIL health-url: health URL ${health.failing} answered 500, expected 2xx`,
      `  FAIL health-url: health URL ${health.hanging} answered no answer within 300 ms, expected 2xx`,
    ]);
  });

  it('bad input is one error line and a non-zero exit', async () => {
    const noTarget = await runDr(['verify', '--repo', fx.repoUrl, '--backup', fx.manifest.id]);
    expect(noTarget.code).toBe(2);
    expect(errorLines(noTarget)).toEqual(['dr verify: error: --target is required; see dr verify --help']);
    const badUrl = await verify(fx.restored, '--health-url', 'localhost:8080/health');
    // A malformed --health-url is a usage error (exit 2, issue 14 §5).
    expect(badUrl.code).toBe(2);
    expect(errorLines(badUrl)).toEqual([
      expect.stringMatching(/health URL "localhost:8080\/health" is not http\(s\); use http\(s\):\/\/host/),
    ]);
    const badTimeout = await verify(fx.restored, '--health-timeout', '5s');
    expect(errorLines(badTimeout)).toEqual([
      expect.stringMatching(/--health-timeout must be a whole number of milliseconds/),
    ]);
    const unknown = await runDr([
      'verify',
      '--repo',
      fx.repoUrl,
      '--backup',
      '20990101T000000Z-abcdef',
      '--target',
      pgUrl(fx.restored),
    ]);
    expect(unknown.code).toBe(1);
    expect(errorLines(unknown)).toEqual([
      expect.stringMatching(/backup 20990101T000000Z-abcdef not found .*; run dr list/),
    ]);
  });
});
