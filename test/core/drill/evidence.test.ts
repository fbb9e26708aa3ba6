/**
 * Drill evidence that lasts: a drill signs its report with a local Ed25519 key, `dr report
 * verify` accepts it and refuses one edited byte, an unsigned report, another key and a changed
 * manifest; an unreadable key is one line, and the report is still written, marked unsigned.
 * Real drills against the real PostgreSQL and a file:// repository; the keys are made by openssl.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../../core/backup/backup.ts';
import { achievedRpo } from '../../../core/drill/evidence.ts';
import { runDrill } from '../../../core/drill/run.ts';
import { FileRepository } from '../../../core/repository/index.ts';
import { manifestKey } from '../../../core/repository/layout.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName } from '../../../fixtures/pg.ts';
import { createSampleDatabase } from '../../../fixtures/sample-database.ts';
import { runDr } from '../../support/cli.ts';

const run = promisify(execFile);
const source = uniqueName('dr_evidence_src');
const server = pgUrl('postgres').replace(/\/postgres$/, '');
let dir: string;
let repo: FileRepository;
let backupId: string;
let key: string;
let pub: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dr-evidence-'));
  repo = new FileRepository(join(dir, 'repo'));
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
  backupId = (await runBackup({ db: pgUrl(source), repository: repo, jobs: 2 })).id;
  key = join(dir, 'signing.pem');
  pub = join(dir, 'signing.pub');
  await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key]);
  await run('openssl', ['pkey', '-in', key, '-pubout', '-out', pub]);
});

afterAll(async () => {
  await dropDatabase(source);
  await rm(dir, { recursive: true, force: true });
});

const drill = (signingKey?: string) =>
  runDrill({ repository: repo, backup: backupId, scratchServer: server, signingKey });
const repoUrl = () => `file://${join(dir, 'repo')}`;

describe('signed drill reports', () => {
  let reportFile: string;

  beforeAll(async () => {
    const { report, files } = await drill(key);
    expect(report.passed, report.summary).toBe(true);
    reportFile = files.json;
  });

  it('carry the manifest SHA-256, the achieved RPO, the versions and the signature', async () => {
    const report = JSON.parse(await readFile(reportFile, 'utf8'));
    const manifestBytes = await readFile(repo.localPath!(manifestKey(source, backupId))!);
    expect(report.evidence.manifestSha256).toBe(createHash('sha256').update(manifestBytes).digest('hex'));
    expect(report.evidence.achievedRpo).toMatchObject({ table: expect.any(String), seconds: expect.any(Number) });
    expect(report.evidence.versions).toMatchObject({
      dr: expect.any(String),
      pgDump: expect.stringMatching(/^\d+/),
      server: expect.stringMatching(/^\d+/),
    });
    expect(report.signature).toMatchObject({
      algorithm: 'ed25519',
      keyId: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    });
    expect(await readFile(reportFile.replace(/\.json$/, '.md'), 'utf8')).toContain(
      `Manifest SHA-256: ${report.evidence.manifestSha256}`,
    );
  });

  it("dr report verify accepts it against the signer's public key and the repository", async () => {
    const r = await runDr(['report', 'verify', reportFile, '--public-key', pub, '--repo', repoUrl()]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^VALID\n {2}signature valid \(ed25519, key sha256:/);
    expect(r.stdout).toContain(`manifest of backup ${backupId} unchanged`);
  });

  it('refuses a report with one edited byte', async () => {
    const json = await readFile(reportFile, 'utf8');
    const edited = join(dir, 'edited.json');
    // One digit of the restore time, as someone flattering the RTO would change it.
    await writeFile(
      edited,
      json.replace(/("seconds": \d)/, (m) => m.slice(0, -1) + String((Number(m.slice(-1)) + 1) % 10)),
    );
    expect(await readFile(edited, 'utf8')).not.toBe(json);
    const r = await runDr(['report', 'verify', edited, '--public-key', pub]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      'signature does not match: the report was changed after it was signed, or signed by another key',
    );
  });

  it('refuses a report signed by another key than the one given', async () => {
    const other = join(dir, 'other.pem');
    await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', other]);
    const otherPub = join(dir, 'other.pub');
    await run('openssl', ['pkey', '-in', other, '-pubout', '-out', otherPub]);
    const r = await runDr(['report', 'verify', reportFile, '--public-key', otherPub]);
    expect(r.code).toBe(1);
  });

  it('refuses when the manifest the drill restored changed since', async () => {
    // A copy of the repository whose manifest then changes by one byte.
    const other = new FileRepository(join(dir, 'copy'));
    await run('mkdir', ['-p', join(dir, 'copy')]);
    await run('cp', ['-r', join(dir, 'repo', 'backups'), join(dir, 'copy', 'backups')]);
    const path = other.localPath!(manifestKey(source, backupId))!;
    await run('chmod', ['u+w', path]).catch(() => {});
    await writeFile(path, `${await readFile(path, 'utf8')} `);
    const r = await runDr([
      'report',
      'verify',
      reportFile,
      '--public-key',
      pub,
      '--repo',
      `file://${join(dir, 'copy')}`,
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/manifest of backup \S+ is SHA-256 [0-9a-f]{64}, the report recorded [0-9a-f]{64}/);
  });
});

describe('unsigned drill reports', () => {
  it('an unreadable signing key: one line, the drill fails, the report is written marked UNSIGNED', async () => {
    const missing = join(dir, 'no-such-key.pem');
    const r = await runDr([
      'drill',
      '--repo',
      repoUrl(),
      '--backup',
      backupId,
      '--scratch',
      server,
      '--signing-key',
      missing,
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/cannot read the signing key .*no-such-key\.pem: ENOENT/);
    const file = /report: (\S+\.html)/.exec(r.stdout)?.[1];
    expect(file).toBeDefined();
    const report = JSON.parse(await readFile(file!.replace(/\.html$/, '.json'), 'utf8'));
    expect(report.signature).toBeNull();
    expect(report.unsigned).toMatch(/cannot read the signing key/);
    expect(await readFile(file!, 'utf8')).toContain('UNSIGNED: cannot read the signing key');
    const check = await runDr(['report', 'verify', file!.replace(/\.html$/, '.json')]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('the report is unsigned (cannot read the signing key');
  });
});

describe('achievedRpo', () => {
  it('is the backup time minus the newest restored row, whatever the time type', () => {
    expect(
      achievedRpo('2026-02-01T02:00:00.000Z', [
        { schema: 'public', name: 'candles', maxTime: '2026-02-01 01:59:00+00' },
        { schema: 'public', name: 'symbols', maxTime: '2026-01-01' },
        { schema: 'public', name: 'audit', maxTime: '2026-02-01 01:58:00' },
        { schema: 'public', name: 'empty', maxTime: null },
      ]),
    ).toEqual({ seconds: 60, table: 'public.candles', newestRow: '2026-02-01 01:59:00+00' });
    expect(achievedRpo('2026-02-01T02:00:00.000Z', [{ schema: 'public', name: 'x' }])).toBeNull();
  });
});
