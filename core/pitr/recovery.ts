/**
 * A physically restored data directory recovered to a point in time by a temporary PostgreSQL
 * server: private Unix socket, no TCP, no archiving, trust for local connections only. Recovery
 * pauses at the target (recovery_target_action=pause); dr checks where it stopped and only then
 * promotes, so a server never comes up at a point other than the one asked for.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type pg from 'pg';
import { DrError } from '../errors.ts';
import { connect } from '../pg.ts';
import { runAsServerUser, runningAsRoot, SERVER_USER, type ServerBinaries } from './pgbackrest.ts';

export interface TemporaryServerOptions {
  /** A restored data directory owned by the server user, with recovery.signal. */
  readonly dataDir: string;
  /** Private directory (0700, server user) for the socket, the log and the hba file. */
  readonly runDir: string;
  readonly binaries: ServerBinaries;
  /** Environment for restore_command (pgBackRest options, credentials). */
  readonly env: Record<string, string>;
  readonly log: (message: string) => void;
  /** The recovery target and the archive's newest segment, for the error when recovery fails. */
  readonly at: Date;
  readonly archiveMax?: string;
}

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
    // libpq and node-postgres both take a socket directory from the `host` parameter.
    return `postgres://${encodeURIComponent(user)}@localhost:5432/${encodeURIComponent(database)}?host=${encodeURIComponent(this.socketDir)}`;
  }

  private pgCtl(args: string[]) {
    return runAsServerUser(join(this.options.binaries.binDir, 'pg_ctl'), ['-D', this.options.dataDir, ...args], this.options.env);
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
    const opts = settings.map((s) => `-c ${s.replace(/=(.*)$/, (_, v: string) => `=${v.includes(' ') ? `'${v}'` : v}`)}`).join(' ');
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
    if (/recovery ended before configured recovery target was reached/.test(text)) {
      const missing = lastSegment && context.archiveMax && lastSegment < context.archiveMax
        ? `; WAL segment ${nextSegment(lastSegment)} is missing from the archive (it holds up to ${context.archiveMax})`
        : '';
      throw new DrError(
        `recovery to ${context.at.toISOString()} is not possible: the archived WAL ends before it${missing}; ${lastTx ? `the last transaction it holds committed at ${lastTx}` : 'it holds no transaction after the base backup'}`,
        missing
          ? 'the archive has a gap: only an earlier --at can be recovered; check archiving on the database host (pgbackrest check) and take a new full backup'
          : 'choose an --at at or before that time, or wait for the database host to archive newer WAL (archive_timeout; pgbackrest check)',
      );
    }
    if (/WAL ends before end of online backup|could not locate required checkpoint record|WAL ends before consistent recovery point/.test(text)) {
      throw new DrError(
        `the WAL the base backup needs to become consistent is missing from the archive${lastSegment ? ` (last segment found: ${lastSegment})` : ''}`,
        'check the repository with pgbackrest check / pgbackrest info; another base backup may be usable (choose a later --at)',
      );
    }
    const fatal = text.split('\n').find((l) => /\b(FATAL|PANIC):/.test(l));
    // The log goes away with the temporary cluster: show its end with the progress output.
    this.options.log(`temporary server log (last lines):\n${text.trimEnd().split('\n').slice(-15).join('\n')}`);
    throw new DrError(`${what}: ${fatal ? fatal.replace(/^.*?(FATAL|PANIC):\s*/, '') : 'no message in the server log'}`, 'see the temporary server log printed above');
  }

  async isRunning(): Promise<boolean> {
    const result = await this.pgCtl(['status']);
    return result.code === 0;
  }

  /**
   * Waits until recovery paused at the target, checks the stop point against `at`, and promotes.
   * Returns the time of the last transaction kept and of the first one left out.
   */
  async recoverTo(superuser: string): Promise<{ lastCommit?: Date; stoppedBefore: Date }> {
    const at = this.options.at;
    let lastReport = Date.now();
    for (;;) {
      let client: pg.Client | undefined;
      try {
        client = await connect(this.url('postgres', superuser), 'temporary').catch(async (err) => {
          if (!(await this.isRunning())) return this.failFromLog('recovery failed');
          throw err;
        });
        const { rows } = await client.query<{ recovery: boolean; pause: string; replayed: Date | null }>(
          'SELECT pg_is_in_recovery() AS recovery, pg_get_wal_replay_pause_state() AS pause, pg_last_xact_replay_timestamp() AS replayed',
        );
        const state = rows[0];
        if (!state.recovery) {
          throw new DrError('the temporary server left recovery before dr checked the stop point', 'the restored configuration may set recovery_target_action; report this as a bug');
        }
        if (state.pause === 'paused') {
          const log = await this.serverLog();
          if (/hot standby is not possible because of insufficient parameter settings/.test(log)) {
            return this.failFromLog('recovery paused: the temporary server\'s limits are below the primary\'s');
          }
          const stop = /recovery stopping before (?:commit|abort) of transaction \d+, time (.+)$/m.exec(log);
          const stoppedBefore = stop ? new Date(stop[1].replace(' ', 'T').replace(/\+00$/, 'Z')) : undefined;
          if (!stoppedBefore || Number.isNaN(stoppedBefore.getTime()) || stoppedBefore.getTime() <= at.getTime() || (state.replayed && state.replayed.getTime() > at.getTime())) {
            throw new DrError(
              `recovery paused at an unexpected point (${stop ? `stopped before a transaction at ${stop[1]}` : 'no stop record in the log'}, last replayed ${state.replayed?.toISOString() ?? 'none'}); not promoted`,
              'the temporary server was stopped without promoting; report this with dr\'s output',
            );
          }
          this.options.log(`recovery stopped before the first transaction after ${at.toISOString()} (committed ${stoppedBefore.toISOString()}); promoting`);
          await client.query('SELECT pg_promote(true, 600)');
          const promoted = await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
          if (promoted.rows[0].recovery) throw new DrError('the temporary server did not promote within 10 minutes', 'check free space in --work-dir and retry');
          return { lastCommit: state.replayed ?? undefined, stoppedBefore };
        }
        if (Date.now() - lastReport > 10_000) {
          this.options.log(`replaying WAL: at ${state.replayed?.toISOString() ?? 'the base backup'} of ${at.toISOString()}`);
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
  if (result.code !== 0) throw new DrError(`cannot give ${path} to the ${SERVER_USER} OS user: ${result.stderr.trim()}`, `create the ${SERVER_USER} user (the PostgreSQL server package does)`);
}

function runChown(path: string) {
  return new Promise<{ code: number; stderr: string }>((resolve) => {
    const child = spawn('chown', ['-R', `${SERVER_USER}:`, path], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
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
