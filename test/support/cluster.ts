import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface ThrowawayCluster {
  readonly port: number;
  readonly dataDir: string;
  url(database?: string, password?: string): string;
  stop(): Promise<void>;
}

/**
 * A real, separate PostgreSQL cluster on a loopback port, owned by the `postgres` OS user
 * (PostgreSQL refuses to run as root). Password (SCRAM) authentication for everything, so tests
 * can present wrong passwords; the superuser is `postgres` with `password`.
 */
export async function startThrowawayCluster(password = 'correct horse'): Promise<ThrowawayCluster> {
  const base = await mkdtemp(join(tmpdir(), 'dr-cluster-'));
  await chmod(base, 0o755);
  const dataDir = join(base, 'data');
  const pwFile = join(base, 'pw');
  await writeFile(pwFile, `${password}\n`);
  await chown(base, 101, 104).catch(() => {});
  await run('chown', ['-R', 'postgres:postgres', base]);
  const bin = serverBinDir();
  const asPostgres = (cmd: string, args: string[]) => run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]);
  await asPostgres('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'scram-sha-256', `--pwfile=${pwFile}`, '--no-sync']);
  const port = await freePort();
  await asPostgres('pg_ctl', ['-D', dataDir, '-w', '-l', join(base, 'log'), '-o', `-p ${port} -k ${base} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  return {
    port,
    dataDir,
    url: (database = 'postgres', pw?: string) =>
      `postgres://postgres${pw !== undefined ? `:${encodeURIComponent(pw)}` : ''}@127.0.0.1:${port}/${database}`,
    async stop() {
      await asPostgres('pg_ctl', ['-D', dataDir, '-m', 'immediate', 'stop']).catch(() => {});
      await rm(base, { recursive: true, force: true });
    },
  };
}
