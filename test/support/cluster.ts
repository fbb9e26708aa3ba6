/**
 * Throwaway PostgreSQL clusters: real initdb, pg_ctl start and stop in a temporary folder, as the
 * `postgres` OS user (PostgreSQL refuses to run as root). test/support/pitr.ts and
 * pgbackrest-cluster.ts build their archiving clusters on initCluster.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The newest PostgreSQL server binaries installed (Debian keeps them off PATH). */
export function serverBinDir(): string {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  return `/usr/lib/postgresql/${versions[0]}/bin`;
}

/** A loopback TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const asRoot = process.getuid?.() === 0;

/** Runs a command as the postgres OS user (directly when not root); returns its stdout. */
export async function asPostgres(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), cmd, ...args]] : [cmd, args];
  const { stdout } = await run(file, argv, { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** Gives `path` and everything below it to the postgres OS user (when running as root). */
export async function chownPostgres(path: string): Promise<void> {
  if (asRoot) await run('chown', ['-R', 'postgres:postgres', path]);
}

/** A data directory made by initdb in a temporary folder of its own, not started yet. */
export interface InitializedCluster {
  /** The temporary folder (mode 755, owned by postgres) holding the data directory; stop() removes it. */
  readonly base: string;
  readonly dataDir: string;
  /** Starts the server and waits until it accepts connections; `options` are passed to postgres (pg_ctl -o). Log: `<base>/server.log`. */
  start(options?: string): Promise<void>;
  /** Stops the server (immediate mode, if it runs) and removes `base`. */
  stop(): Promise<void>;
}

/**
 * initdb with superuser `postgres`: SCRAM authentication for everything when `password` is given
 * (its password), trust otherwise. Files the caller adds to `base` later need chownPostgres.
 */
export async function initCluster(prefix: string, password?: string): Promise<InitializedCluster> {
  const base = await mkdtemp(join(tmpdir(), prefix));
  await chmod(base, 0o755);
  const dataDir = join(base, 'data');
  let auth = ['-A', 'trust'];
  if (password !== undefined) {
    const pwFile = join(base, 'pw');
    await writeFile(pwFile, `${password}\n`);
    auth = ['-A', 'scram-sha-256', `--pwfile=${pwFile}`];
  }
  await chownPostgres(base);
  const bin = serverBinDir();
  await asPostgres(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', ...auth, '--no-sync']);
  return {
    base,
    dataDir,
    async start(options) {
      await asPostgres(join(bin, 'pg_ctl'), ['-D', dataDir, '-w', '-l', join(base, 'server.log'), ...(options ? ['-o', options] : []), 'start']);
    },
    async stop() {
      await asPostgres(join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', 'stop']).catch(() => {});
      await rm(base, { recursive: true, force: true });
    },
  };
}

export interface ThrowawayCluster {
  readonly port: number;
  readonly dataDir: string;
  url(database?: string, password?: string): string;
  stop(): Promise<void>;
}

/**
 * A real, separate PostgreSQL cluster on a loopback port. Password (SCRAM) authentication for
 * everything, so tests can present wrong passwords; the superuser is `postgres` with `password`.
 */
export async function startThrowawayCluster(password = 'correct horse'): Promise<ThrowawayCluster> {
  const cluster = await initCluster('dr-cluster-', password);
  const port = await freePort();
  await cluster.start(`-p ${port} -k ${cluster.base} -c listen_addresses=127.0.0.1 -c fsync=off`);
  return {
    port,
    dataDir: cluster.dataDir,
    url: (database = 'postgres', pw?: string) =>
      `postgres://postgres${pw !== undefined ? `:${encodeURIComponent(pw)}` : ''}@127.0.0.1:${port}/${database}`,
    stop: () => cluster.stop(),
  };
}
