/**
 * runDrill against the real PostgreSQL and real repositories (a temp dir and s3rver): a passing
 * drill, one whose verification fails, one whose restore fails, and the scratch-name rules.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../../core/backup/backup.ts';
import { DRILL_COMMENT_PREFIX, runDrill } from '../../../core/drill/run.ts';
import { scratchDatabaseName } from '../../../core/drill/scratch.ts';
import { FileRepository, openRepository } from '../../../core/repository/index.ts';
import { fileKey, manifestKey } from '../../../core/repository/layout.ts';
import { probeWebSocket } from '../../../core/verify/probes.ts';
import { createDatabase, databaseExists, dropDatabase, pgUrl, uniqueName, withClient } from '../../../fixtures/pg.ts';
import { createSampleDatabase } from '../../../fixtures/sample-database.ts';
import { createTestBucket, useS3Env } from '../../support/s3.ts';

const source = uniqueName('dr_drill_src');
const server = pgUrl('postgres').replace(/\/postgres$/, '');
const dirs: string[] = [];
let http: Server;
let httpBase: string;

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dr-drill-'));
  dirs.push(dir);
  return dir;
}

/** No database of this drill's scratch name (nor a staging one next to it) is left on the server. */
async function leftovers(database: string): Promise<string[]> {
  const prefix = scratchDatabaseName(database, new Date());
  return withClient('postgres', async (c) =>
    (
      await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [prefix])
    ).rows.map((r) => r.datname),
  );
}

beforeAll(async () => {
  useS3Env();
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  // An application stand-in: /healthz answers 200, /ws accepts a WebSocket handshake.
  http = createServer((req, res) => {
    res.statusCode = req.url === '/healthz' ? 200 : 503;
    res.end();
  });
  http.on('upgrade', (req, socket) => {
    if (req.url === '/ws')
      socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    else socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const address = http.address();
  httpBase = `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  http?.close();
  await dropDatabase(source);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('runDrill', () => {
  it('passes: fresh backup into file://, restore into the scratch database, verify, drop, report; a second drill that day adds to the trend', async () => {
    const repo = new FileRepository(await tempDir());
    const phases: string[] = [];
    const { report, keys, files } = await runDrill({
      repository: repo,
      source: pgUrl(source),
      scratchServer: server,
      onPhase: (p) => phases.push(p),
    });
    expect(report.passed, report.summary).toBe(true);
    expect(phases).toEqual([
      'backup',
      'download and verify checksums',
      'restore',
      'verify data',
      'drop scratch database',
      'report',
    ]);
    expect(report.database).toBe(source);
    expect(report.backup).toMatchObject({ fresh: true, tier: expect.any(String) });
    expect(report.backup!.bytes).toBeGreaterThan(0);
    expect(report.scratch).toEqual({
      database: scratchDatabaseName(source, new Date(report.startedAt)),
      server: expect.stringMatching(/^[^/]+@[^/]+:\d+$/),
      dropped: true,
    });
    expect(report.phases.map((p) => p.name)).toEqual([
      'backup',
      'check-target',
      'download',
      'verify-checksums',
      'restore',
      'swap',
      'other',
      'verify-data',
      'cleanup',
    ]);
    expect(report.phases.every((p) => p.seconds !== null && p.seconds >= 0)).toBe(true);
    // The phases of the restore add up to the restore time of the headline, to the millisecond.
    const restorePhasesMs = report.phases
      .filter((p) => p.inRestoreTime)
      .reduce((ms, p) => ms + Math.round(p.seconds! * 1000), 0);
    expect(restorePhasesMs).toBe(Math.round(report.restore.seconds! * 1000));
    // What is not measured separately is a small rest, not most of the restore.
    expect(report.phases.find((p) => p.name === 'other')!.seconds!).toBeLessThan(report.restore.seconds! / 2);
    // Both items count the manifest's tables.
    const tables = report.restore.tables!;
    expect(report.checklist.find((c) => c.item === 'Restore completed')!.detail).toMatch(
      new RegExp(`^${tables} tables `),
    );
    expect(report.checklist.find((c) => c.item === 'All tables present')!.detail).toBe(
      `${tables} of ${tables} tables present, none unexpected`,
    );
    expect(report.restore).toMatchObject({ completed: true, rtoSeconds: 3600, rtoPassed: true });
    expect(report.verification!.passed).toBe(true);
    expect(report.checklist.filter((c) => c.state !== 'pass').map((c) => [c.item, c.state])).toEqual([
      ['Production health endpoint answers', 'not-configured'],
      ['API endpoints respond', 'not-configured'],
      ['WebSocket connects', 'not-configured'],
    ]);
    expect(keys.html).toMatch(new RegExp(`^reports/drills/\\d{4}-\\d{2}-\\d{2}/${source}\\.html$`));
    expect(files.html).toBe(join(repo.root, keys.html));
    expect(JSON.parse(await readFile(files.json, 'utf8'))).toEqual(report);
    expect(await leftovers(source)).toEqual([]);

    const second = await runDrill({
      repository: repo,
      database: source,
      backup: report.backup!.id,
      scratchServer: server,
      rtoSeconds: 600,
    });
    expect(second.report.passed).toBe(true);
    expect(second.keys.json).toMatch(new RegExp(`/${source}-\\d{6}Z\\.json$`));
    expect(second.report.trend.previous).toEqual([
      {
        startedAt: report.startedAt,
        backupId: report.backup!.id,
        restoreSeconds: report.restore.seconds,
        rtoSeconds: 3600,
        passed: true,
      },
    ]);
    expect(second.report.backup).toMatchObject({ id: report.backup!.id, fresh: false });
  });

  it('passes against s3:// with health and WebSocket URLs; the report goes to a separate report directory', async () => {
    const bucket = await createTestBucket();
    const repo = openRepository(`s3://${bucket}/crypto`);
    await runBackup({ db: pgUrl(source), repository: repo });
    const reportDir = await tempDir();
    const urls = [`http://${httpBase}/healthz`, `ws://${httpBase}/ws`];
    const { report, keys, files } = await runDrill({
      repository: repo,
      scratchServer: server,
      healthUrls: urls,
      reportRepository: new FileRepository(reportDir),
    });
    expect(report.passed, report.summary).toBe(true);
    expect(report.checklist.find((c) => c.item === 'Production health endpoint answers')).toMatchObject({
      state: 'pass',
      detail: urls[0],
    });
    expect(report.checklist.find((c) => c.item === 'WebSocket connects')).toMatchObject({
      state: 'pass',
      detail: urls[1],
    });
    expect(report.checklist.find((c) => c.item === 'API endpoints respond')!.state).toBe('not-configured');
    expect(keys.json).toMatch(/^drills\/\d{4}-\d{2}-\d{2}\/dr_drill_src_[0-9a-f]+\.json$/);
    expect(files.html).toBe(join(reportDir, keys.html));
    expect(await readFile(files.html, 'utf8')).toMatch(/<svg/);
    expect(await repo.list('reports/')).toEqual([]);
    expect(await leftovers(source)).toEqual([]);
  });

  it('fails when verification fails: the scratch database is dropped, the report says FAIL and names the check', async () => {
    const repo = new FileRepository(await tempDir());
    const backup = await runBackup({ db: pgUrl(source), repository: repo });
    // The manifest promises one more alert than the backup holds: the restored count differs.
    const path = repo.localPath!(manifestKey(source, backup.id));
    const manifest = JSON.parse(await readFile(path, 'utf8'));
    const alerts = manifest.tables.find((t: { name: string }) => t.name === 'alerts');
    alerts.rows += 1;
    await writeFile(path, JSON.stringify(manifest));

    const { report, files } = await runDrill({ repository: repo, scratchServer: server });
    expect(report.passed).toBe(false);
    expect(report.summary).toMatch(/^FAIL .*failed: Row counts match$/);
    expect(report.checklist.find((c) => c.item === 'Row counts match')).toMatchObject({
      state: 'fail',
      detail: expect.stringContaining('public.alerts'),
    });
    expect(report.issues).toContainEqual({
      kind: 'failed-check',
      step: 'verify-data',
      message: `table public.alerts: ${alerts.rows - 1} rows, expected ${alerts.rows}`,
    });
    expect(report.scratch!.dropped).toBe(true);
    expect(await leftovers(source)).toEqual([]);
    expect(await readFile(files.md, 'utf8')).toContain('| row-count | public.alerts |');
  });

  it('fails when the restore fails (stand-in pg_restore reporting a full disk): cleanup still runs and the report is written saying so', async () => {
    const repo = new FileRepository(await tempDir());
    await runBackup({ db: pgUrl(source), repository: repo });
    // A pg_restore that reports its version and then fails, as one would on a full disk.
    const bin = await tempDir();
    const fake = join(bin, 'pg_restore');
    await writeFile(
      fake,
      '#!/bin/sh\nif [ "$1" = "--version" ]; then exec pg_restore --version; fi\necho "pg_restore: error: could not extend file: No space left on device" >&2\nexit 1\n',
    );
    await chmod(fake, 0o755);

    const logs: string[] = [];
    const { report, files } = await runDrill({
      repository: repo,
      scratchServer: server,
      tools: { binDir: bin },
      log: (m) => logs.push(m),
    });
    expect(report.passed).toBe(false);
    expect(report.restore).toMatchObject({ completed: false, rtoPassed: false });
    expect(report.restore.seconds).toBeGreaterThanOrEqual(0);
    expect(report.issues[0]).toMatchObject({
      kind: 'error',
      step: 'restore',
      message: expect.stringContaining('No space left on device'),
    });
    expect(report.checklist.find((c) => c.item === 'Backup accessible')!.state).toBe('pass');
    expect(report.checklist.find((c) => c.item === 'Restore completed')!.state).toBe('fail');
    expect(report.verification).toBeNull();
    expect(report.scratch).toMatchObject({ dropped: true });
    expect(logs).toContain(`dropped scratch database ${report.scratch!.database}`);
    expect(await leftovers(source)).toEqual([]);
    expect(await readFile(files.html, 'utf8')).toContain('No space left on device');
  });

  it('fails under "Backup accessible" when the newest backup is damaged and it falls back to the previous one (a corrupted file in file://)', async () => {
    const repo = new FileRepository(await tempDir());
    const older = await runBackup({ db: pgUrl(source), repository: repo });
    const newest = await runBackup({ db: pgUrl(source), repository: repo });
    const manifest = JSON.parse(await readFile(repo.localPath!(manifestKey(source, newest.id)), 'utf8'));
    const data = manifest.files.find((f: { path: string; size: number }) => f.path.startsWith('data/') && f.size > 0);
    const path = repo.localPath!(fileKey(source, newest.id, data.path));
    const bytes = await readFile(path);
    bytes[0] = bytes[0]! ^ 0xff;
    await chmod(path, 0o644);
    await writeFile(path, bytes);

    const { report } = await runDrill({ repository: repo, scratchServer: server });
    expect(report.backup!.id).toBe(older.id);
    expect(report.passed).toBe(false);
    expect(report.summary).toMatch(/; failed: Backup accessible$/);
    expect(report.checklist.find((c) => c.item === 'Backup accessible')).toMatchObject({
      state: 'fail',
      detail: expect.stringMatching(
        new RegExp(
          `^newest backup ${newest.id} is damaged \\(.*${data.path.replace(/[.]/g, '\\.')}.*\\); fell back to the older backup ${older.id}, which verified$`,
        ),
      ),
    });
    expect(report.checklist.find((c) => c.item === 'No errors in the restore logs')!.state).toBe('pass');
    expect(report.checklist.find((c) => c.item === 'Restore completed')!.state).toBe('pass');
    expect(report.issues).toContainEqual(expect.objectContaining({ kind: 'fallback', step: 'restore' }));
    // Verifying the damaged backup counts toward the restore time, as its own phase.
    expect(report.phases.find((p) => p.name === 'fallback')).toMatchObject({
      inRestoreTime: true,
      seconds: expect.any(Number),
    });
    expect(await leftovers(source)).toEqual([]);
  });

  it("drops a leftover scratch database of an earlier drill, and refuses one that is not a drill's", async () => {
    const repo = new FileRepository(await tempDir());
    await runBackup({ db: pgUrl(source), repository: repo });
    const scratch = scratchDatabaseName(source, new Date());
    await createDatabase(scratch);
    try {
      await expect(runDrill({ repository: repo, scratchServer: server })).rejects.toThrow(
        `database ${scratch} already exists`,
      );
      expect(await databaseExists(scratch)).toBe(true);
      expect(await repo.list('reports/')).toEqual([]);

      await withClient('postgres', (c) =>
        c.query(`COMMENT ON DATABASE "${scratch}" IS '${DRILL_COMMENT_PREFIX}: backup x, drill started y'`),
      );
      const logs: string[] = [];
      const { report } = await runDrill({ repository: repo, scratchServer: server, log: (m) => logs.push(m) });
      expect(report.passed, report.summary).toBe(true);
      expect(logs.some((l) => l.startsWith(`dropping ${scratch}, left over from an earlier drill`))).toBe(true);
      expect(await leftovers(source)).toEqual([]);
    } finally {
      await dropDatabase(scratch);
    }
  });
});

describe('helpers', () => {
  it('scratch names are drill_<db>_<yyyymmdd> within 63 bytes', () => {
    expect(scratchDatabaseName('crypto_stock', new Date('2026-12-06T03:00:00Z'))).toBe('drill_crypto_stock_20261206');
    const long = scratchDatabaseName('x'.repeat(80), new Date('2026-12-06T03:00:00Z'));
    expect(Buffer.byteLength(long)).toBe(63);
    expect(long).toMatch(/^drill_x+_20261206$/);
  });

  it('probeWebSocket passes on 101 and names what came back otherwise', async () => {
    expect(await probeWebSocket(`ws://${httpBase}/ws`, 2000)).toMatchObject({
      name: 'websocket',
      actual: 101,
      passed: true,
    });
    expect(await probeWebSocket(`ws://${httpBase}/nope`, 2000)).toMatchObject({ actual: 404, passed: false });
    expect((await probeWebSocket('ws://127.0.0.1:1/ws', 2000)).passed).toBe(false);
  });
});
