/**
 * A physically restored data directory recovered to a point in time by a temporary PostgreSQL
 * server: private Unix socket, no TCP, no archiving, trust for local connections only. Recovery
 * pauses at the target (recovery_target_action=pause); dr checks where it stopped and only then
 * promotes, so a server never comes up at a point other than the one asked for.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type pg from 'pg';
import { DrError } from '../errors.ts';
import { connect } from '../pg/connection.ts';
import { throwIfInterrupted } from '../signals.ts';
import {
  parseServerTime,
  pgbackrestError,
  runAsServerUser,
  runningAsRoot,
  SERVER_USER,
  type ServerBinaries,
  timeTargetFromMicros,
} from './pgbackrest.ts';
import { describeTarget, type RecoveryTarget } from './plan.ts';

export interface TemporaryServerOptions {
  /** A restored data directory owned by the server user, with recovery.signal. */
  readonly dataDir: string;
  /** Private directory (0700, server user) for the socket, the log and the hba file. */
  readonly runDir: string;
  readonly binaries: ServerBinaries;
  /** Environment for restore_command (pgBackRest options, credentials). */
  readonly env: Record<string, string>;
  readonly log: (message: string) => void;
  /** Where recovery must stop, and the archive's newest segment, for the checks and the errors. */
  readonly target: RecoveryTarget;
  readonly archiveMax?: string;
  /** --latest: the last segment the continuity check found; recovery must have read it. */
  readonly lastSegment?: string | null;
  /** The timeline the plan follows, reported when the log names none. */
  readonly timeline: number;
}

export interface RecoveryStop {
  /** Commit time of the last transaction replayed (microseconds, UTC), if any since the backup. */
  readonly lastCommit?: string;
  /** For a time target: commit time of the first transaction left out. */
  readonly stoppedBefore?: string;
  /** PostgreSQL's own line saying where it stopped. */
  readonly stopRecord: string;
  /** The timeline recovery ended on. */
  readonly timeline: number;
  readonly lastSegment?: string;
}

const micros = (t: string | null | undefined) => (t ? parseServerTime(t) : undefined);
const isoMicros = (t: bigint) => timeTargetFromMicros(t).iso;

/** The restored cluster's hot-standby limits (they must be at least the primary's), from pg_control. */
async function controlSettings(binaries: ServerBinaries, dataDir: string): Promise<string[]> {
  const result = await runAsServerUser(join(binaries.binDir, 'pg_controldata'), [dataDir], { LC_ALL: 'C' });
  const names: Record<string, string> = {
    max_connections: 'max_connections',
    max_worker_processes: 'max_worker_processes',
    max_wal_senders: 'max_wal_senders',
    max_prepared_xacts: 'max_prepared_transactions',
    max_locks_per_xact: 'max_locks_per_transaction',
  };
  const settings: string[] = [];
  for (const [control, guc] of Object.entries(names)) {
    const m = new RegExp(`^${control} setting:\\s+(\\d+)`, 'm').exec(result.stdout);
    if (m) settings.push(`${guc}=${m[1]}`);
  }
  return settings;
}

export class TemporaryServer {
  readonly socketDir: string;
  readonly logFile: string;
  private started = false;

  constructor(private readonly options: TemporaryServerOptions) {
    this.socketDir = join(options.runDir, 'socket');
    this.logFile = join(options.runDir, 'server.log');
  }

  /** A connection URL over the private socket. */
  url(database: string, user: string): string {
    // libpq and node-postgres both take a socket directory from the `host` parameter. No host in
    // the authority: a parser that let it win over ?host= would reach a real server on localhost.
    return `postgres:///${encodeURIComponent(database)}?host=${encodeURIComponent(this.socketDir)}&port=5432&user=${encodeURIComponent(user)}`;
  }

  private pgCtl(args: string[]) {
    return runAsServerUser(
      join(this.options.binaries.binDir, 'pg_ctl'),
      ['-D', this.options.dataDir, ...args],
      this.options.env,
    );
  }

  async start(): Promise<void> {
    const { dataDir, runDir, binaries } = this.options;
    await mkdir(this.socketDir, { recursive: true, mode: 0o700 });
    const hba = join(runDir, 'pg_hba.conf');
    // Only local connections exist (no TCP) and only the socket's owner can reach the 0700 directory.
    await writeFile(hba, 'local all all trust\n');
    // A host whose configuration lives outside the data directory (Debian's /etc/postgresql) has none in the backup.
    const conf = join(dataDir, 'postgresql.conf');
    if (!existsSync(conf)) {
      const timescale = existsSync(join(binaries.binDir, '..', 'lib', 'timescaledb.so'));
      await writeFile(conf, timescale ? "shared_preload_libraries = 'timescaledb'\n" : '');
    }
    await chownToServer(runDir);
    await chownToServer(conf);
    const settings = [
      `data_directory=${dataDir}`,
      `hba_file=${hba}`,
      "listen_addresses=''",
      `unix_socket_directories=${this.socketDir}`,
      'port=5432',
      'archive_mode=off',
      'hot_standby=on',
      'recovery_target_action=pause',
      // TimescaleDB's policy jobs must not change the recovered data before it is dumped (an
      // unknown setting is harmless where TimescaleDB is not loaded).
      'timescaledb.max_background_workers=0',
      'recovery_target_inclusive=on',
      "primary_conninfo=''",
      "primary_slot_name=''",
      "synchronous_standby_names=''",
      'ssl=off',
      'autovacuum=off',
      // Sized for a restore host, not the production server's memory; huge pages may not exist here.
      'shared_buffers=256MB',
      'huge_pages=off',
      // The log is read to tell where recovery stopped: English, on stderr, LOG lines included.
      'lc_messages=C',
      // The stop record's time is printed in the server's TimeZone; recoverTo parses it as UTC (+00).
      'timezone=UTC',
      'logging_collector=off',
      'log_destination=stderr',
      'log_min_messages=warning',
      ...(await controlSettings(binaries, dataDir)),
    ];
    const opts = settings
      .map((s) => `-c ${s.replace(/=(.*)$/, (_, v: string) => `=${v.includes(' ') ? `'${v}'` : v}`)}`)
      .join(' ');
    this.options.log('starting a temporary PostgreSQL server on a private socket to replay WAL');
    this.started = true;
    // -w returns once the server accepts (read-only) connections, or when it failed to get there.
    const result = await this.pgCtl(['-w', '-t', '86400', '-l', this.logFile, '-o', opts, 'start']);
    if (result.code !== 0) await this.failFromLog('the temporary server did not start');
  }

  async serverLog(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }

  /** Turns the server log of a failed recovery into the error the user can act on. */
  async failFromLog(what: string): Promise<never> {
    const context = this.options;
    const text = await this.serverLog();
    const lastTx = /last completed transaction was at log time (.+)$/m.exec(text)?.[1];
    const restored = [...text.matchAll(/restored log file "([0-9A-F]{24})" from archive/g)].map((m) => m[1]);
    const lastSegment = restored[restored.length - 1];
    // dr's restore_command: the segment is there but pgBackRest could not read it (permissions, 403, outage).
    const readError =
      /dr-restore-command: pgbackrest archive-get ([0-9A-F]{24}(?:\.history)?) failed with status (\d+)/.exec(text);
    if (readError) {
      const before = text.slice(0, readError.index);
      const errorAt = before.lastIndexOf('ERROR:');
      const cause =
        errorAt !== -1
          ? pgbackrestError(before.slice(before.lastIndexOf('\n', errorAt) + 1))
          : `status ${readError[2]}`;
      throw new DrError(
        `recovery aborted, nothing promoted: WAL ${readError[1]} could not be read from the repository (pgBackRest: ${cause})`,
        'fix access to the repository (file permissions, credentials, endpoint, network) and retry; the segment is not missing',
      );
    }
    const at = describeTarget(context.target);
    if (/recovery ended before configured recovery target was reached/.test(text)) {
      const missing =
        lastSegment && context.archiveMax && lastSegment < context.archiveMax
          ? `; WAL segment ${nextSegment(lastSegment)} is missing from the archive (it holds up to ${context.archiveMax})`
          : '';
      throw new DrError(
        `recovery to ${at} on timeline ${context.timeline} is not possible: the archived WAL ends before it${missing}; ${lastTx ? `the last transaction it holds committed at ${lastTx}` : 'it holds no transaction after the base backup'}`,
        missing
          ? 'the archive has a gap: only an earlier target can be recovered; check archiving on the database host (pgbackrest check) and take a new full backup'
          : context.target.kind === 'time'
            ? 'choose an --at at or before that time, or wait for the database host to archive newer WAL (archive_timeout; pgbackrest check)'
            : 'check the target (it may not exist on this timeline: --timeline), or wait for the database host to archive newer WAL',
      );
    }
    if (
      /WAL ends before end of online backup|could not locate required checkpoint record|WAL ends before consistent recovery point/.test(
        text,
      )
    ) {
      throw new DrError(
        `the WAL the base backup needs to become consistent is missing from the archive${lastSegment ? ` (last segment found: ${lastSegment})` : ''}`,
        'check the repository with pgbackrest check / pgbackrest info; another base backup may be usable (choose a later --at)',
      );
    }
    const timelineError = /FATAL:\s+(requested timeline \d+ .*|recovery target timeline \d+ does not exist.*)$/m.exec(
      text,
    )?.[1];
    if (timelineError)
      throw new DrError(
        `recovery cannot follow timeline ${context.timeline}: ${timelineError}`,
        'choose another --timeline (dr pitr check lists them)',
      );
    const fatal = text.split('\n').find((l) => /\b(FATAL|PANIC):/.test(l));
    // The log goes away with the temporary cluster: show its end with the progress output.
    this.options.log(`temporary server log (last lines):\n${text.trimEnd().split('\n').slice(-15).join('\n')}`);
    throw new DrError(
      `${what}: ${fatal ? fatal.replace(/^.*?(FATAL|PANIC):\s*/, '') : 'no message in the server log'}`,
      'see the temporary server log printed above',
    );
  }

  async isRunning(): Promise<boolean> {
    const result = await this.pgCtl(['status']);
    return result.code === 0;
  }

  /**
   * Waits until recovery paused at the target, checks the stop point against it, and promotes.
   * --latest (no target): waits for the end of recovery and checks it read the last segment the
   * continuity check found, else refuses (the promoted scratch server is thrown away unused).
   */
  async recoverTo(superuser: string): Promise<RecoveryStop> {
    const target = this.options.target;
    let lastReport = Date.now();
    for (;;) {
      // Ctrl-C / SIGTERM: unwind (the caller's finally stops and removes the temporary server).
      throwIfInterrupted();
      let client: pg.Client | undefined;
      try {
        client = await connect(this.url('postgres', superuser), 'temporary').catch(async (err) => {
          if (!(await this.isRunning())) return this.failFromLog('recovery failed');
          throw err;
        });
        const { rows } = await client.query<{ recovery: boolean; pause: string; replayed: string | null }>(
          `SELECT pg_is_in_recovery() AS recovery, CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() END AS pause,
                  to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS replayed`,
        );
        const state = rows[0]!;
        const replayed = micros(state.replayed);
        if (!state.recovery) {
          if (target.kind !== 'latest') {
            throw new DrError(
              'the temporary server left recovery before dr checked the stop point',
              'the restored configuration may set recovery_target_action; report this as a bug',
            );
          }
          const log = await this.serverLog();
          const restored = [...log.matchAll(/restored log file "([0-9A-F]{24})" from archive/g)].map((m) => m[1]);
          const last = restored.at(-1);
          const expected = this.options.lastSegment;
          if (expected && last !== expected && !(last && last.slice(8) > expected.slice(8))) {
            throw new DrError(
              `recovery ended at WAL segment ${last ?? 'none'}, before ${expected}, the last one the continuity check found; nothing restored`,
              'a segment could not be fetched at restore time: run dr pitr check, then retry',
            );
          }
          return {
            lastCommit: replayed !== undefined ? isoMicros(replayed) : undefined,
            stopRecord: `end of the archived WAL (last segment ${last ?? 'none'})`,
            timeline: last ? Number.parseInt(last.slice(0, 8), 16) : this.options.timeline,
            lastSegment: last,
          };
        }
        if (state.pause === 'paused') {
          const log = await this.serverLog();
          if (/hot standby is not possible because of insufficient parameter settings/.test(log)) {
            return this.failFromLog("recovery paused: the temporary server's limits are below the primary's");
          }
          const restored = [...log.matchAll(/restored log file "([0-9A-F]{24})" from archive/g)].map((m) => m[1]);
          const last = restored.at(-1);
          const timeline = last ? Number.parseInt(last.slice(0, 8), 16) : this.options.timeline;
          const stopLine = /LOG:\s+(recovery stopping .*)$/m.exec(log)?.[1];
          let stoppedBefore: string | undefined;
          if (target.kind === 'time') {
            const stop = /recovery stopping before (?:commit|abort) of transaction \d+, time (.+)$/m.exec(log);
            const stopAt = micros(stop?.[1]);
            if (
              stopAt === undefined ||
              stopAt <= target.at.micros ||
              (replayed !== undefined && replayed > target.at.micros)
            ) {
              throw new DrError(
                `recovery paused at an unexpected point (${stop ? `stopped before a transaction at ${stop[1]}` : 'no stop record in the log'}, last replayed ${state.replayed ?? 'none'}); not promoted`,
                "the temporary server was stopped without promoting; report this with dr's output",
              );
            }
            stoppedBefore = isoMicros(stopAt);
            this.options.log(
              `recovery stopped before the first transaction after ${target.at.iso} (committed ${stoppedBefore}) on timeline ${timeline}; promoting`,
            );
          } else {
            if (!stopLine)
              throw new DrError(
                `recovery paused without reaching ${describeTarget(target)} (no stop record in the log); not promoted`,
                "the temporary server was stopped without promoting; report this with dr's output",
              );
            this.options.log(`${stopLine} on timeline ${timeline}; promoting`);
          }
          await client.query('SELECT pg_promote(true, 600)');
          const promoted = await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
          if (promoted.rows[0]!.recovery)
            throw new DrError(
              'the temporary server did not promote within 10 minutes',
              'check free space in --work-dir and retry',
            );
          return {
            lastCommit: replayed !== undefined ? isoMicros(replayed) : undefined,
            stoppedBefore,
            stopRecord: stopLine ?? 'recovery target reached',
            timeline,
            lastSegment: last,
          };
        }
        if (Date.now() - lastReport > 10_000) {
          this.options.log(`replaying WAL: at ${state.replayed ?? 'the base backup'} of ${describeTarget(target)}`);
          lastReport = Date.now();
        }
      } catch (err) {
        if (err instanceof DrError) throw err;
        // The server may have just shut down (recovery failed): the next round reads its log.
        if (!(await this.isRunning())) return this.failFromLog('recovery failed');
      } finally {
        await client?.end().catch(() => {});
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Immediate stop: the cluster is thrown away, no checkpoint needed. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.pgCtl(['-m', 'immediate', '-w', 'stop']).catch(() => {});
  }
}

/** The WAL segment after `segment`, as PostgreSQL names them (timeline, log id, segment). */
export function nextSegment(segment: string): string {
  const tli = segment.slice(0, 8);
  const log = Number.parseInt(segment.slice(8, 16), 16);
  const seg = Number.parseInt(segment.slice(16, 24), 16);
  // With the default 16 MiB segments, a log file holds 0x100 segments.
  const [nextLog, nextSeg] = seg >= 0xff ? [log + 1, 0] : [log, seg + 1];
  return `${tli}${nextLog.toString(16).toUpperCase().padStart(8, '0')}${nextSeg.toString(16).toUpperCase().padStart(8, '0')}`;
}

export async function chownToServer(path: string): Promise<void> {
  if (!runningAsRoot()) return;
  const result = await runChown(path);
  if (result.code !== 0)
    throw new DrError(
      `cannot give ${path} to the ${SERVER_USER} OS user: ${result.stderr.trim()}`,
      `create the ${SERVER_USER} user (the PostgreSQL server package does)`,
    );
}

function runChown(path: string) {
  return new Promise<{ code: number; stderr: string }>((resolve) => {
    const child = spawn('chown', ['-R', `${SERVER_USER}:`, path], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.once('error', (err) => resolve({ code: 1, stderr: err.message }));
    child.once('close', (code) => resolve({ code: code ?? 1, stderr }));
  });
}

/** A fresh private directory for the server user. */
export async function privateDir(path: string): Promise<void> {
  // Parents keep the default mode: the server user must be able to reach `path`.
  await mkdir(dirname(path), { recursive: true });
  await mkdir(path, { recursive: true, mode: 0o700 });
  await chmod(path, 0o700);
  await chownToServer(path);
  if (runningAsRoot() && (await runAsServerUser('test', ['-w', path])).code !== 0) {
    throw new DrError(
      `the ${SERVER_USER} OS user cannot reach ${path}`,
      `choose a directory whose parents ${SERVER_USER} can traverse (e.g. chmod o+x on them; --work-dir for restores)`,
    );
  }
}
