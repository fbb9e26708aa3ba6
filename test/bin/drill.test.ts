/**
 * `dr drill` as users run it: the summary, exit 0 only on PASS, --json printing the report,
 * plain progress lines when stderr is not a terminal, and bad input refused before anything runs.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchDatabaseName } from '../../core/drill/scratch.ts';
import { createDatabase, databaseExists, dropDatabase, pgUrl, uniqueName } from '../../fixtures/pg.ts';
import { createSampleDatabase } from '../../fixtures/sample-database.ts';
import { errorLines, runDr } from '../support/cli.ts';

const source = uniqueName('dr_cli_drill');
const server = pgUrl('postgres').replace(/\/postgres$/, '');
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dr-cli-drill-'));
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
});

afterAll(async () => {
  await dropDatabase(source);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('dr drill', () => {
  it('PASS: fresh backup, drill, summary with the restore time against the RTO and the HTML path; exit 0', async () => {
    const repo = await tempDir();
    const reports = await tempDir();
    const run = await runDr([
      'drill',
      '--repo',
      `file://${repo}`,
      '--db',
      pgUrl(source),
      '--scratch',
      server,
      '--report-dir',
      reports,
      '--rto',
      '30m',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      new RegExp(`^PASS ${source}: restore \\d+\\.\\d s of RTO 30\\.0 min \\(met\\), (\\d+)/\\1 checks passed$`),
    );
    expect(run.stdout).toMatch(/^ {2}restore \d+\.\d s against RTO 30\.0 min: PASS$/m);
    expect(run.stdout).toContain(`scratch database ${scratchDatabaseName(source, new Date())} dropped`);
    const html = /^ {2}report: (.+\.html)$/m.exec(run.stdout)?.[1];
    expect(html).toMatch(new RegExp(`^${reports}/drills/\\d{4}-\\d{2}-\\d{2}/${source}\\.html$`));
    expect(await readFile(html!, 'utf8')).toMatch(/^<!DOCTYPE html>/);
    // Not a terminal: plain progress lines, no carriage returns.
    expect(run.stderr).toMatch(/^dr drill: restore…$/m);
    expect(run.stderr).toMatch(/^dr drill: verify data done in \d+\.\d s$/m);
    expect(run.stderr).not.toContain('\r');
    expect(await databaseExists(scratchDatabaseName(source, new Date()))).toBe(false);
  });

  it('FAIL: a failing health URL is named, the report is still written, exit 1; --json prints the report', async () => {
    const repo = await tempDir();
    const backup = await runDr(['backup', '--db', pgUrl(source), '--repo', `file://${repo}`, '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    const url = 'http://127.0.0.1:1/api/v1/symbols';
    const run = await runDr([
      'drill',
      '--repo',
      `file://${repo}`,
      '--scratch',
      server,
      '--health-url',
      url,
      '--health-timeout',
      '2000',
    ]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`^FAIL ${source}: .*; failed: API endpoints respond$`, 'm'));
    expect(run.stdout).toContain(`FAIL health-url: health URL ${url} answered`);
    expect(errorLines(run)).toEqual([]);
    // Without --report-dir the report goes into the repository.
    const written = await readdir(join(repo, 'reports', 'drills'), { recursive: true });
    expect(written.filter((f) => f.endsWith('.html'))).toHaveLength(1);

    const json = await runDr([
      'drill',
      '--repo',
      `file://${repo}`,
      '--scratch',
      server,
      '--health-url',
      url,
      '--health-timeout',
      '2000',
      '--json',
    ]);
    expect(json.code).toBe(1);
    expect(json.json).toMatchObject({
      ok: true,
      kind: 'crypto-stock-dr/drill-report',
      database: source,
      passed: false,
      backup: { id: backup.json.id },
      restore: { completed: true, rtoPassed: true },
      files: {
        html: expect.stringMatching(new RegExp(`/reports/drills/\\d{4}-\\d{2}-\\d{2}/${source}-\\d{6}Z\\.html$`)),
      },
    });
    expect(
      (json.json.checklist as { item: string; state: string }[]).find((c) => c.item === 'API endpoints respond')?.state,
    ).toBe('fail');
    expect((json.json.trend as { previous: unknown[] }).previous).toHaveLength(1);
  });

  it('refuses bad input with one line and exit 2, touching nothing', async () => {
    const repo = await tempDir();
    for (const [args, pattern] of [
      [['--repo', `file://${repo}`], /--scratch is required/],
      [
        ['--repo', `file://${repo}`, '--scratch', server, '--rto', 'soon'],
        /--rto must be a duration like 3600, 90m or 1h, got "soon"/,
      ],
      [
        ['--repo', `file://${repo}`, '--scratch', server, '--health-timeout', 'soon'],
        /--health-timeout must be a whole number/,
      ],
    ] as const) {
      const run = await runDr(['drill', ...args]);
      expect(run.code, run.stderr).toBe(2);
      expect(errorLines(run)).toEqual([expect.stringMatching(pattern)]);
    }
    const badUrl = await runDr(['drill', '--repo', `file://${repo}`, '--scratch', 'mysql://x', '--database', 'x']);
    // A malformed connection URL is a usage error (exit 2), like every other bad input here.
    expect(badUrl.code).toBe(2);
    expect(errorLines(badUrl)).toEqual([expect.stringMatching(/--scratch "mysql:\/\/x" is not a PostgreSQL URL/)]);
    expect(await readdir(repo)).toEqual([]);
  });
});
