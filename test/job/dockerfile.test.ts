/**
 * job/Dockerfile cannot be built here (no Docker engine), so its parts are checked one by one:
 * the exact esbuild command of the build stage runs, and the bundle starts as the ENTRYPOINT would.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { JobEnv, RDS_CA_BUNDLE_PATH } from '../../core/contract.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dockerfile = readFileSync(join(REPO_ROOT, 'job/Dockerfile'), 'utf8');
/** Instructions with line continuations joined. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

describe('job/Dockerfile', () => {
  const out = mkdtempSync(join(tmpdir(), 'dr-job-bundle-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("bundles job/entry.ts with the build stage's own esbuild command, and the bundle runs", () => {
    const run = instructions.find((l) => l.startsWith('RUN npx esbuild'));
    expect(run).toBeDefined();
    expect(run).toContain('--bundle --platform=node --format=esm --target=node22');
    const command = run!.slice('RUN '.length).replace('/app/dist/dr-job.mjs', join(out, 'dr-job.mjs'));
    execFileSync('sh', ['-c', command], { cwd: REPO_ROOT, stdio: 'pipe' });

    // As ENTRYPOINT ["node", "dist/dr-job.mjs"] with no overrides: a clear usage error, exit 2.
    const result = spawnSync(process.execPath, [join(out, 'dr-job.mjs')], {
      env: { PATH: process.env.PATH },
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`job setting ${JobEnv.database} is not set`);
  });

  it('ships the RDS global CA bundle, readable by the job user, where RDS_CA_BUNDLE_PATH says', () => {
    const add = instructions.find((l) => l.startsWith('ADD https://truststore.pki.rds.amazonaws.com/'));
    expect(add).toBe(`ADD https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem ${RDS_CA_BUNDLE_PATH}`);
    // ADD from a URL creates the file with mode 600 (root); the job runs as node.
    const check = instructions.find((l) => l.startsWith('RUN ') && l.includes('RDS_CA_BUNDLE_SHA256'))!;
    expect(check).toContain(`chmod 0644 ${RDS_CA_BUNDLE_PATH} && grep -q 'BEGIN CERTIFICATE' ${RDS_CA_BUNDLE_PATH}`);
    expect(instructions.indexOf(add!)).toBeLessThan(instructions.indexOf(check));
    expect(instructions.indexOf(check)).toBeLessThan(instructions.indexOf('USER node'));
  });

  describe('the RDS CA bundle is trusted only with the SHA-256 of build arg RDS_CA_BUNDLE_SHA256 (config rdsCaBundleSha256), which has no default', () => {
    const bundle = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const sha256 = createHash('sha256').update(bundle).digest('hex');
    /** The Dockerfile's own RUN step, run by sh on a copy of the bundle (chmod included). */
    function runCheck(arg: string | undefined, content = bundle): { status: number | null; stderr: string } {
      expect(instructions).toContain('ARG RDS_CA_BUNDLE_SHA256');
      const run = instructions.find((l) => l.startsWith('RUN ') && l.includes('RDS_CA_BUNDLE_SHA256'))!;
      const file = join(out, 'rds-global-bundle.pem');
      writeFileSync(file, content);
      const script = run.slice('RUN '.length).replaceAll(RDS_CA_BUNDLE_PATH, file);
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        ...(arg === undefined ? {} : { RDS_CA_BUNDLE_SHA256: arg }),
      };
      const result = spawnSync('sh', ['-c', script], { env, encoding: 'utf8' });
      return { status: result.status, stderr: result.stderr };
    }

    it('passes with the matching hash', () => {
      expect(runCheck(sha256).status).toBe(0);
    });

    it('refuses the build when the argument is missing or malformed, naming the config setting', () => {
      for (const arg of [undefined, '', 'abc', sha256.toUpperCase()]) {
        const result = runCheck(arg);
        expect(result.status).toBe(1);
        expect(result.stderr).toContain(
          'build arg RDS_CA_BUNDLE_SHA256 is missing or not 64 hex digits: set config rdsCaBundleSha256',
        );
      }
    });

    it('refuses a downloaded bundle whose SHA-256 differs', () => {
      const result = runCheck(sha256, bundle.replace('MIIB', 'MIIC'));
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(/WARNING: 1 computed checksum did NOT match|FAILED/);
    });
  });

  it('installs the PGDG client for ARG PG_MAJOR (default 15) and runs as a non-root user', () => {
    expect(instructions).toContain('ARG PG_MAJOR=15');
    expect(dockerfile).toContain('apt.postgresql.org/pub/repos/apt bookworm-pgdg main');
    expect(dockerfile).toContain('"postgresql-client-${PG_MAJOR}"');
    const froms = instructions.filter((l) => l.startsWith('FROM '));
    expect(froms).toEqual(['FROM ${NODE_IMAGE} AS build', 'FROM ${NODE_IMAGE}']);
    expect(instructions.filter((l) => l.startsWith('USER ')).at(-1)).toBe('USER node');
    expect(instructions.at(-1)).toBe('ENTRYPOINT ["node", "dist/dr-job.mjs"]');
  });

  it('installs what a PITR restore runs: the PostgreSQL server of PG_MAJOR, pgBackRest and TimescaleDB, without a default cluster, and setpriv', () => {
    const install = instructions.find((l) =>
      l.includes('apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}"'),
    );
    expect(install).toBeDefined();
    const packages = install!
      .split(/;\s*/)
      .find((c) => c.startsWith('apt-get install -y --no-install-recommends "postgresql-client'))!
      .split(/\s+/)
      .slice(4);
    expect(packages).toEqual([
      '"postgresql-client-${PG_MAJOR}"',
      '"postgresql-${PG_MAJOR}"',
      'pgbackrest',
      '"timescaledb-2-postgresql-${PG_MAJOR}${pin}"',
      '"timescaledb-2-loader-postgresql-${PG_MAJOR}${pin}"',
      'util-linux',
    ]);
    expect(install).toContain('https://packagecloud.io/timescale/timescaledb/debian/ bookworm main');
    // The cluster setting is written before the server package is installed.
    expect(
      install!.indexOf("echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf"),
    ).toBeLessThan(install!.indexOf('"postgresql-${PG_MAJOR}"'));
    // The build fails unless the server, pgBackRest and the TimescaleDB library are really there.
    expect(install).toContain('"/usr/lib/postgresql/${PG_MAJOR}/bin/postgres" --version');
    expect(install).toContain('pgbackrest version');
    // setpriv (util-linux), under which core/signals.ts starts pg_dump and pg_restore so they die with the job.
    expect(install).toContain('setpriv --version');
    expect(install).toContain('test -f "/usr/lib/postgresql/${PG_MAJOR}/lib/timescaledb-${TIMESCALEDB_VERSION}.so"');
    // pgBackRest's default paths are writable by the job's user.
    expect(install).toContain('install -d -o node -g node /var/log/pgbackrest /var/spool/pgbackrest /tmp/pgbackrest');
  });

  it('bases both stages on Node 22 pinned by digest (no NodeVersionSupportWarning from the AWS SDK in the job)', () => {
    const arg = instructions.find((l) => l.startsWith('ARG NODE_IMAGE='));
    expect(arg).toMatch(/^ARG NODE_IMAGE=node:22-bookworm-slim@sha256:[0-9a-f]{64}$/);
    // The ARG comes before the first FROM, so both FROMs can use it.
    expect(instructions.indexOf(arg!)).toBeLessThan(instructions.findIndex((l) => l.startsWith('FROM ')));
  });

  it('trusts the PGDG and Timescale apt keys only after checking their fingerprints', () => {
    expect(instructions).toContain('ARG PGDG_KEY_FPR=B97B0AFCAA1A47F044F244A07FCC7D46ACCC4CF8');
    expect(instructions).toContain('ARG TIMESCALE_KEY_FPR=1005FB68604CE9B8F6879CF759F18EDF47F24417');
    const install = instructions.find((l) => l.includes('apt.postgresql.org.asc'))!;
    const steps = install.split(/;\s*/);
    for (const [file, fpr] of [
      ['/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc', 'PGDG_KEY_FPR'],
      ['/usr/share/keyrings/timescaledb.asc', 'TIMESCALE_KEY_FPR'],
    ]) {
      const check = steps.indexOf(`gpg --show-keys --with-colons ${file} | grep -qx "fpr:::::::::\${${fpr}}:"`);
      expect(check).toBeGreaterThan(steps.findIndex((c) => c.startsWith('curl') && c.includes(file!)));
      // Checked before apt reads the repository the key signs.
      expect(check).toBeLessThan(steps.lastIndexOf('apt-get update'));
    }
  });

  it('installs exactly TIMESCALEDB_VERSION (the build arg lib/constructs/job.ts sets from config timescaleVersion; default 2.28.3), the pin run by sh', () => {
    expect(instructions).toContain('ARG TIMESCALEDB_VERSION=2.28.3');
    const pinLine = instructions.find((l) => l.includes('pin="=${TIMESCALEDB_VERSION}'))!;
    const pin = /pin="[^"]*"/.exec(pinLine)![0];
    const expand = (version: string) =>
      execFileSync('sh', ['-c', `${pin}; printf %s "timescaledb-2-postgresql-15$pin"`], {
        env: { TIMESCALEDB_VERSION: version },
        encoding: 'utf8',
      });
    expect(expand('2.28.3')).toBe('timescaledb-2-postgresql-15=2.28.3~debian12');
    expect(expand('2.17.2')).toBe('timescaledb-2-postgresql-15=2.17.2~debian12');
  });
});
