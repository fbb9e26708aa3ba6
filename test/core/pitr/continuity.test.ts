/**
 * Never promote early, on a throwaway cluster archiving with real pgBackRest: `dr pitr check`
 * (window, backups, gaps, reachability), the continuity check before every restore, the
 * restore_command that aborts recovery on a read error, microsecond targets, --latest, --lsn /
 * --xid / --restore-point (dr pitr mark) and two timelines in one stanza.
 */
import { execFile, spawn } from 'node:child_process';
import { chmod, cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pitrStatus } from '../../../core/pitr/rpo.ts';
import { openRepository } from '../../../core/repository/index.ts';
import { asPostgres, chownPostgres, freePort, serverBinDir } from '../../../fixtures/cluster.ts';
import { databaseExists, dropDatabase, pgUrl, uniqueName, withClient } from '../../../fixtures/pg.ts';
import { type ArchivingCluster, startArchivingCluster } from '../../../fixtures/pitr.ts';
import { errorLines, expectOneLineError, runDr } from '../../support/cli.ts';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `2026-01-15 14:30:00.123456+00` → microseconds since the epoch. */
function micros(text: string): bigint {
  const m = /^(.{19})(?:\.(\d+))?\+00$/.exec(text)!;
  return BigInt(Date.parse(`${m[1]!.replace(' ', 'T')}Z`)) * 1000n + BigInt((m[2] ?? '').padEnd(6, '0'));
}
function isoMicros(us: bigint): string {
  const ms = us / 1000n;
  return new Date(Number(ms))
    .toISOString()
    .replace(/\.(\d{3})Z$/, (_, d: string) => `.${d}${(us % 1000n).toString().padStart(3, '0')}Z`);
}

describe('point-in-time recovery you can trust (real PostgreSQL + pgBackRest)', () => {
  let cluster: ArchivingCluster;
  let workDir: string;
  let repo: string;
  /** Commits "row 1".."row 4", each in its own archived segment; commit times in microseconds. */
  const commits: { label: string; at: bigint; segment: string }[] = [];
  let restorePointLsn: string;
  let xidOfRow3: string;
  const targets: string[] = [];
  const target = (prefix: string) => {
    const name = uniqueName(prefix);
    targets.push(name);
    return name;
  };
  const rowsOf = async (name: string) =>
    (await withClient(name, (c) => c.query<{ label: string }>('SELECT label FROM trail ORDER BY id'))).rows.map(
      (r) => r.label,
    );
  const base = () => ['--pitr', repo, '--stanza', 'crypto_stock'];
  const restoreInto = (name: string, extra: string[], repoUrl = repo) =>
    runDr([
      'restore',
      '--pitr',
      repoUrl,
      '--stanza',
      'crypto_stock',
      '--database',
      'app',
      '--target',
      pgUrl(name),
      '--work-dir',
      workDir,
      '--json',
      ...extra,
    ]);

  async function commit(label: string): Promise<{ at: bigint }> {
    const [row] = await cluster.query<{ t: string; x: string }>(
      'app',
      `INSERT INTO trail (label) VALUES ($1) RETURNING to_char(pg_xact_commit_timestamp(xmin) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS t, xmin::text AS x`,
      [label],
    );
    // RETURNING runs before the commit: read the commit time afterwards.
    const [after] = await cluster.query<{ t: string }>(
      'app',
      `SELECT to_char(pg_xact_commit_timestamp(xmin) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS t FROM trail WHERE label = $1`,
      [label],
    );
    if (label === 'row 3') xidOfRow3 = row!.x;
    return { at: micros(after!.t) };
  }

  async function copyRepo(name: string): Promise<string> {
    const copy = join(workDir, name);
    await cp(cluster.repoPath, copy, { recursive: true });
    await chownPostgres(copy);
    return copy;
  }
  async function segmentFile(repoPath: string, segment: string): Promise<string> {
    const dir = join(repoPath, 'archive', 'crypto_stock', '15-1', segment.slice(0, 16));
    const [file] = (await readdir(dir)).filter((f) => f.startsWith(segment));
    return join(dir, file!);
  }

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'dr-pitr-trust-'));
    await chmod(workDir, 0o755);
    cluster = await startArchivingCluster('crypto_stock');
    repo = cluster.repoUrl;
    await cluster.pgbackrest('stanza-create');
    await cluster.query('postgres', 'CREATE DATABASE app');
    await cluster.query('app', 'CREATE TABLE trail (id serial PRIMARY KEY, label text NOT NULL UNIQUE)');
    await cluster.pgbackrest('--type=full', 'backup');
    await sleep(1100);
    for (const label of ['row 1', 'row 2', 'row 3', 'row 4']) {
      if (label === 'row 3') {
        ({ lsn: restorePointLsn } = (
          await cluster.query<{ lsn: string }>(
            'postgres',
            `SELECT pg_create_restore_point('before-row-3')::text AS lsn`,
          )
        )[0]!);
      }
      const { at } = await commit(label);
      commits.push({ label, at, segment: await cluster.switchWalAndWait() });
      await sleep(20);
    }
    await sleep(1100);
  }, 300_000);

  afterAll(async () => {
    for (const name of targets) await dropDatabase(name);
    await cluster?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('dr pitr check: reachable, the backup with its WAL range, the window of timeline 1, no gap; exit 0', async () => {
    const out = await runDr(['pitr', 'check', ...base(), '--json']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.json).toMatchObject({
      ok: true,
      reachable: true,
      error: null,
      pgVersion: '15',
      archiveId: '15-1',
      gaps: [],
    });
    const [backup] = out.json.backups as { label: string; walStart: string; walStop: string; timeline: number }[];
    expect(backup!.timeline).toBe(1);
    expect(backup!.walStart <= backup!.walStop).toBe(true);
    const [tl] = out.json.timelines as {
      timeline: number;
      lastSegment: string;
      oldestBackup: string;
      from: string;
      until: string;
    }[];
    expect(tl).toMatchObject({ timeline: 1, lastSegment: commits[3]!.segment, oldestBackup: backup!.label });
    expect(Date.parse(tl!.until)).toBeGreaterThanOrEqual(Date.parse(tl!.from));
    const human = await runDr(['pitr', 'info', ...base()]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('archive continuous: ok');
  });

  it('a segment missing in the middle: check names the gap (exit 1); --latest refuses before restoring; --accept-gap restores up to it, loudly', async () => {
    const copy = await copyRepo('gap-repo');
    await rm(await segmentFile(copy, commits[1]!.segment));
    const gapRepo = `file://${copy}`;
    const check = await runDr(['pitr', 'check', '--pitr', gapRepo, '--stanza', 'crypto_stock', '--json']);
    expect(check.code).toBe(1);
    expect(check.json).toMatchObject({
      ok: false,
      reachable: true,
      gaps: [
        { timeline: 1, firstMissing: commits[1]!.segment, missingCount: 1, reachableSegment: commits[0]!.segment },
      ],
    });
    // The scheduled rpo-watch check sees it too (WalArchiveGaps > 0 alarms).
    const status = await pitrStatus(openRepository(gapRepo), 'crypto_stock');
    expect(status.wal?.gaps).toEqual([{ after: commits[0]!.segment, before: commits[2]!.segment, missing: 1 }]);
    const human = await runDr(['pitr', 'check', '--pitr', gapRepo, '--stanza', 'crypto_stock']);
    expect(human.stdout).toContain(
      `GAP: 1 segment(s) ${commits[1]!.segment} missing; recovery cannot go past ${commits[0]!.segment}`,
    );

    const dataDir = join(workDir, 'gap-server', 'data');
    const refused = await runDr([
      'pitr',
      'restore-server',
      '--pitr',
      gapRepo,
      '--stanza',
      'crypto_stock',
      '--pg-path',
      dataDir,
      '--latest',
    ]);
    expectOneLineError(
      refused,
      new RegExp(
        `has a gap on timeline 1: WAL segment ${commits[1]!.segment} is missing from the archive; recovery from \\S+ cannot go past segment ${commits[0]!.segment}.*pass --accept-gap`,
      ),
      1,
    );
    expect(await readdir(join(workDir)).then((d) => d.includes('gap-server'))).toBe(false);

    const name = target('pitr_gap_latest');
    const intoDb = await restoreInto(name, ['--latest'], gapRepo);
    expectOneLineError(intoDb, /has a gap on timeline 1/, 1);
    expect(await databaseExists(name)).toBe(false);
    // A time after the gap cannot be reached either; --accept-gap does not apply to it.
    // (Refused by the continuity check, or, within the second the gap's neighbour was archived, by PostgreSQL itself.)
    const late = await restoreInto(name, ['--at', isoMicros(commits[3]!.at + 1n)], gapRepo);
    expectOneLineError(late, new RegExp(`WAL segment ${commits[1]!.segment} is missing from the archive`), 1);
    expect(await databaseExists(name)).toBe(false);

    const accepted = await restoreInto(name, ['--latest', '--accept-gap'], gapRepo);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(accepted.stderr).toContain('WARNING: ');
    expect((accepted.json.warnings as string[]).join()).toMatch(/is LOST in this recovery/);
    expect(accepted.json).toMatchObject({ timeline: 1, recovery: { kind: 'latest' } });
    expect(await rowsOf(name)).toEqual(['row 1']);
  });

  it("an unreadable segment: recovery aborts with pgBackRest's own error, never promotes; the same file is not called missing", async () => {
    const copy = await copyRepo('unreadable-repo');
    await chmod(await segmentFile(copy, commits[1]!.segment), 0o000);
    const badRepo = `file://${copy}`;
    const name = target('pitr_unreadable');
    const out = await restoreInto(name, ['--at', isoMicros(commits[2]!.at + 1n)], badRepo);
    expectOneLineError(
      out,
      new RegExp(
        `recovery aborted, nothing promoted: WAL ${commits[1]!.segment} could not be read from the repository \\(pgBackRest: .*Permission denied.*\\); fix access`,
      ),
      1,
    );
    expect(errorLines(out)[0]).not.toContain('is missing from the archive');
    expect(await databaseExists(name)).toBe(false);

    // restore-server --latest: the files are restored; the server started on them stops with FATAL instead of promoting at row 1.
    const dataDir = join(workDir, 'unreadable-server', 'data');
    const restored = await runDr([
      'pitr',
      'restore-server',
      '--pitr',
      badRepo,
      '--stanza',
      'crypto_stock',
      '--pg-path',
      dataDir,
      '--latest',
      '--json',
    ]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.json).toMatchObject({ timeline: 1, lastSegment: commits[3]!.segment });
    const conf = await readFile(join(dataDir, 'postgresql.auto.conf'), 'utf8');
    expect(conf).toMatch(/restore_command = '.*archive-get %f "%p".*exit 199/);
    const runDir = join(workDir, 'unreadable-server');
    await chownPostgres(runDir);
    const port = await freePort();
    const started = await asPostgres(join(serverBinDir(), 'pg_ctl'), [
      '-D',
      dataDir,
      '-w',
      '-t',
      '120',
      '-l',
      join(runDir, 'log'),
      '-o',
      `-p ${port} -k ${runDir} -c archive_mode=off -c listen_addresses=''`,
      'start',
    ]).then(
      () => 'started',
      () => 'failed',
    );
    await asPostgres(join(serverBinDir(), 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', 'stop']).catch(() => {});
    const log = await readFile(join(runDir, 'log'), 'utf8');
    expect(started, log).toBe('failed');
    expect(log).toContain(`dr-restore-command: pgbackrest archive-get ${commits[1]!.segment} failed`);
    expect(log).not.toMatch(/selected new timeline ID|database system is ready to accept connections/);
    const control = await asPostgres(join(serverBinDir(), 'pg_controldata'), [dataDir], { LC_ALL: 'C' });
    expect(control).toMatch(/Database cluster state:\s+in archive recovery/);
  });

  it('SIGTERM during WAL replay: dr exits 143, the temporary server is stopped and removed, nothing restored', async () => {
    const copy = await copyRepo('signal-repo');
    // An unreadable segment keeps recovery busy (archive-get retries) long enough to be interrupted.
    await chmod(await segmentFile(copy, commits[1]!.segment), 0o000);
    const name = target('pitr_signal');
    const child = spawn(
      process.execPath,
      [
        join(import.meta.dirname, '..', '..', '..', 'bin', 'dr.mjs'),
        'restore',
        '--pitr',
        `file://${copy}`,
        '--stanza',
        'crypto_stock',
        '--database',
        'app',
        '--target',
        pgUrl(name),
        '--work-dir',
        workDir,
        '--at',
        isoMicros(commits[2]!.at + 1n),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    for (let i = 0; i < 300 && !stderr.includes('starting a temporary PostgreSQL server'); i++) await sleep(100);
    expect(stderr).toContain('starting a temporary PostgreSQL server');
    await sleep(500);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, stderr).toBe(143);
    expect((await readdir(workDir)).filter((n) => n.startsWith('dr-pitr-'))).toEqual([]);
    // The server is stopped; a restore_command already waiting between retries ends with its sleep.
    let left = '';
    for (let i = 0; i < 100; i++) {
      left = (await run('ps', ['-eo', 'args'])).stdout
        .split('\n')
        .filter((l) => l.includes(join(workDir, 'dr-pitr-')))
        .join('\n');
      if (!left) break;
      await sleep(100);
    }
    expect(left).toBe('');
    expect(await databaseExists(name)).toBe(false);
  });

  it('an unreachable repository: pgBackRest\'s real error (not "stanza does not exist"), exit 1, nothing restored', async () => {
    const env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
    const port = await freePort();
    const s3 = [
      '--pitr',
      's3://dr-nowhere/pitr',
      '--stanza',
      'crypto_stock',
      '--endpoint',
      `https://127.0.0.1:${port}`,
      '--no-verify-tls',
    ];
    const check = await runDr(['pitr', 'check', ...s3, '--json'], env);
    expect(check.code).toBe(1);
    expect(check.json).toMatchObject({ ok: false, reachable: false });
    expect(check.json.error).toMatch(/is not reachable: \[HostConnectError\] unable to connect to '127\.0\.0\.1:\d+'/);
    const name = target('pitr_unreachable');
    const out = await runDr(['restore', ...s3, '--database', 'app', '--target', pgUrl(name), '--latest'], env);
    expectOneLineError(
      out,
      /the pgBackRest repository s3:\/\/dr-nowhere\/pitr is not reachable: \[HostConnectError\].*; check the endpoint/,
      1,
    );
    expect(await databaseExists(name)).toBe(false);
  });

  it('microseconds: a target 1 µs before the next commit, in the same millisecond, keeps everything before it and nothing after', async () => {
    const next = commits[2];
    const at = isoMicros(next!.at - 1n);
    const name = target('pitr_micro');
    const out = await restoreInto(name, ['--at', at]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.json).toMatchObject({ at, timeline: 1, stoppedBefore: isoMicros(next!.at) });
    expect(await rowsOf(name)).toEqual(['row 1', 'row 2']);
    // And 1 µs after a commit keeps it.
    const name2 = target('pitr_micro_after');
    const after = await restoreInto(name2, ['--at', isoMicros(commits[0]!.at + 1n)]);
    expect(after.code, after.stderr).toBe(0);
    expect(await rowsOf(name2)).toEqual(['row 1']);
  });

  it('--latest, --restore-point, --xid and --lsn targets into a database', async () => {
    const latest = target('pitr_latest');
    const out = await restoreInto(latest, ['--latest']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.json).toMatchObject({ recovery: { kind: 'latest', value: null }, timeline: 1 });
    expect(await rowsOf(latest)).toEqual(['row 1', 'row 2', 'row 3', 'row 4']);

    const named = target('pitr_named');
    const point = await restoreInto(named, ['--restore-point', 'before-row-3']);
    expect(point.code, point.stderr).toBe(0);
    expect(point.json.stopRecord).toMatch(/recovery stopping at restore point "before-row-3"/);
    expect(await rowsOf(named)).toEqual(['row 1', 'row 2']);

    const xid = target('pitr_xid');
    const byXid = await restoreInto(xid, ['--xid', xidOfRow3]);
    expect(byXid.code, byXid.stderr).toBe(0);
    expect(await rowsOf(xid)).toEqual(['row 1', 'row 2', 'row 3']);

    const lsn = target('pitr_lsn');
    const byLsn = await restoreInto(lsn, ['--lsn', restorePointLsn]);
    expect(byLsn.code, byLsn.stderr).toBe(0);
    expect(await rowsOf(lsn)).toEqual(['row 1', 'row 2']);

    for (const [args, message] of [
      [['--latest', '--at', isoMicros(commits[0]!.at)], /--at and --latest exclude each other/],
      [['--lsn', 'nope'], /"nope" is not a WAL location/],
      [['--xid=abc'], /--xid "abc" is not a transaction id/],
      [['--restore-point', 'bad name'], /--restore-point "bad name" is not a usable restore point name/],
      [['--latest', '--timeline', 'sideways'], /--timeline "sideways" is not a timeline/],
      [['--latest', '--timeline', '7'], /timeline 7 does not exist in stanza crypto_stock/],
      [['--at', isoMicros(commits[0]!.at), '--accept-gap'], /--accept-gap applies to --latest/],
    ] as [string[], RegExp][]) {
      expectOneLineError(
        await restoreInto(target('pitr_never'), args),
        message,
        /timeline 7 does not exist/.test(String(message)) ? 1 : 2,
      );
    }
  });

  it('dr pitr mark creates a restore point and archives it', async () => {
    const out = await runDr(['pitr', 'mark', 'before-migration-7', '--db', cluster.url('postgres'), '--json']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.json).toMatchObject({ ok: true, name: 'before-migration-7', timeline: 1 });
    expect(out.json.walFile).toMatch(/^[0-9A-F]{24}$/);
    expectOneLineError(
      await runDr(['pitr', 'mark', 'bad name', '--db', cluster.url('postgres')]),
      /NAME "bad name" is not a usable restore point name/,
    );
  });

  it("dr pitr config's RPO signals: the heartbeat writes WAL on an idle server; the archiver metric reads 1 while archive_command fails", async () => {
    const { heartbeat, archiverMetric, cron } = cluster.config.rpoSignals;
    expect(cron).toContain(`* * * * * ${heartbeat}`);
    expect(archiverMetric).toContain(
      'aws cloudwatch put-metric-data --namespace CryptoStockDr --metric-name ArchiverFailing --dimensions Stanza=crypto_stock',
    );
    const sh = (command: string) => asPostgres('sh', ['-c', command]);
    const lsn = async () =>
      (await cluster.query<{ l: string }>('postgres', 'SELECT pg_current_wal_insert_lsn()::text AS l'))[0]!.l;
    const before = await lsn();
    await sh(heartbeat);
    expect(await lsn()).not.toBe(before);
    const archiverState = archiverMetric.slice(0, archiverMetric.indexOf(' | xargs'));
    expect((await sh(archiverState)).trim()).toBe('0');
    await cluster.query('postgres', `ALTER SYSTEM SET archive_command = 'false'`);
    await cluster.query('postgres', 'SELECT pg_reload_conf()');
    try {
      await sh(heartbeat);
      await cluster.query('postgres', 'SELECT pg_switch_wal()');
      let state = '';
      for (let i = 0; i < 100 && state !== '1'; i++) {
        await sleep(100);
        state = (await sh(archiverState)).trim();
      }
      expect(state).toBe('1');
    } finally {
      await cluster.query('postgres', 'ALTER SYSTEM RESET archive_command');
      await cluster.query('postgres', 'SELECT pg_reload_conf()');
    }
    await cluster.switchWalAndWait();
    expect((await sh(archiverState)).trim()).toBe('0');
  });

  // Last: it adds timeline 2 to the stanza.
  it('two timelines: an ambiguous --at is refused; --timeline picks one and is reported; check shows both windows', async () => {
    // A restored server promoted at row 2 and archiving into the same stanza (a drill left running).
    const dataDir = join(workDir, 'tl2', 'data');
    const branchAt = isoMicros(commits[1]!.at + 1n);
    const restored = await runDr([
      'pitr',
      'restore-server',
      ...base(),
      '--pg-path',
      dataDir,
      '--at',
      branchAt,
      '--json',
    ]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.json).toMatchObject({ timeline: 1, at: branchAt });
    const runDir = join(workDir, 'tl2');
    await chownPostgres(runDir);
    const port = await freePort();
    // Its own spool and lock (not the primary's): synchronous archive-push.
    const archive = `pgbackrest --config=${cluster.config.configFile} --stanza=crypto_stock --pg1-path=${dataDir} --no-archive-async --lock-path=${runDir} archive-push %p`;
    let now = '';
    await asPostgres(join(serverBinDir(), 'pg_ctl'), [
      '-D',
      dataDir,
      '-w',
      '-l',
      join(runDir, 'log'),
      '-o',
      `-p ${port} -k ${runDir} -c listen_addresses=127.0.0.1 -c archive_mode=on -c "archive_command=${archive}"`,
      'start',
    ]);
    const other = async (sql: string) => {
      const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/app` });
      await client.connect();
      try {
        return await client.query(sql);
      } finally {
        await client.end();
      }
    };
    try {
      for (let i = 0; i < 100 && (await other('SELECT pg_is_in_recovery() AS r')).rows[0].r; i++) await sleep(100);
      await other(`INSERT INTO trail (label) VALUES ('timeline 2 row')`);
      // The primary goes on writing on timeline 1; T falls after both branches' last rows.
      await commit('row 5');
      await cluster.switchWalAndWait();
      await sleep(20);
      ({ now } = (
        await cluster.query<{ now: string }>(
          'postgres',
          `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS now`,
        )
      )[0]!);
      await sleep(20);
      // A commit after T on each timeline: recovery proves it stopped at T.
      await commit('row 6');
      await cluster.switchWalAndWait();
      await other(`INSERT INTO trail (label) VALUES ('timeline 2 later')`);
      const { w } = ((await other('SELECT pg_walfile_name(pg_switch_wal()) AS w')).rows as { w: string }[])[0]!;
      expect(w.slice(0, 8)).toBe('00000002');
      for (let i = 0; i < 300; i++) {
        const { rows } = await other('SELECT last_archived_wal AS l FROM pg_stat_archiver');
        if (rows[0].l && rows[0].l >= w) break;
        await sleep(100);
      }
    } finally {
      await asPostgres(join(serverBinDir(), 'pg_ctl'), ['-D', dataDir, '-m', 'fast', 'stop']).catch(() => {});
    }
    await sleep(1100);

    const check = await runDr(['pitr', 'check', ...base(), '--json']);
    expect(check.code, check.stdout).toBe(0);
    const timelines = check.json.timelines as { timeline: number; parent: number | null }[];
    expect(timelines.map((t) => [t.timeline, t.parent])).toEqual([
      [1, null],
      [2, 1],
    ]);

    const ambiguous = await restoreInto(target('pitr_tl_amb'), ['--at', now]);
    expectOneLineError(
      ambiguous,
      /exists on more than one timeline of stanza crypto_stock \(1 and 2.*--timeline 1\|2/,
      1,
    );

    // --latest is ambiguous as well: the restored server's stale timeline 2 is not the primary's.
    expectOneLineError(
      await restoreInto(target('pitr_tl_latest'), ['--latest']),
      /the end of the archived WAL is ambiguous in stanza crypto_stock: timelines 1 and 2 both continue.*--timeline 1\|2/,
      1,
    );

    const one = target('pitr_tl1');
    const onOne = await restoreInto(one, ['--at', now, '--timeline', '1']);
    expect(onOne.code, onOne.stderr).toBe(0);
    expect(onOne.json.timeline).toBe(1);
    expect(await rowsOf(one)).toEqual(['row 1', 'row 2', 'row 3', 'row 4', 'row 5']);

    const two = target('pitr_tl2');
    const onTwo = await restoreInto(two, ['--at', now, '--timeline', 'latest']);
    expect(onTwo.code, onTwo.stderr).toBe(0);
    expect(onTwo.json.timeline).toBe(2);
    expect(await rowsOf(two)).toEqual(['row 1', 'row 2', 'timeline 2 row']);

    // Before the branch the target is on one history only: no --timeline needed.
    const early = target('pitr_tl_early');
    const before = await restoreInto(early, ['--at', isoMicros(commits[0]!.at + 1n)]);
    expect(before.code, before.stderr).toBe(0);
    expect(await rowsOf(early)).toEqual(['row 1']);

    // rpo-watch follows the timeline the primary writes (1), not the highest folder (2, stale now).
    await sleep(1100);
    await commit('row 7');
    const newest = await cluster.switchWalAndWait();
    const status = await pitrStatus(openRepository(repo), 'crypto_stock');
    expect(status.wal).toMatchObject({ timeline: 1, segment: newest, gaps: [] });
    await run('true');
  });
});
