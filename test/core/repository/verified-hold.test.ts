/**
 * The newest verified backup keeps an S3 Legal Hold (core/repository/verified-hold.ts), placed by a passed
 * drill and by `dr check --hold`, against the real PostgreSQL server and the real s3rver.
 *
 * s3rver implements neither PutObjectLegalHold nor GetObjectLegalHold (the first test proves it),
 * and Legal Holds are an AWS S3 data-plane feature with no local equivalent here. So in the tests
 * named "(legal-hold calls mocked)" only those two commands are answered by an in-memory map; every
 * other request (puts, listings, reads of the backup) goes to s3rver.
 */

import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectLegalHoldCommand, PutObjectCommand, PutObjectLegalHoldCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../../core/backup/backup.ts';
import { checkBackups } from '../../../core/backup/check.ts';
import { runDrill } from '../../../core/drill/run.ts';
import { FileRepository } from '../../../core/repository/file.ts';
import { manifestKey } from '../../../core/repository/layout.ts';
import { S3Repository } from '../../../core/repository/s3.ts';
import { heldBackups, holdNewestVerified, newestVerifiedBackup } from '../../../core/repository/verified-hold.ts';
import { createDatabase, dropDatabase, pgUrl, uniqueName } from '../../../fixtures/pg.ts';
import { createSampleDatabase } from '../../../fixtures/sample-database.ts';
import { legalHoldClient } from '../../support/legal-hold.ts';
import { createTestBucket, s3Client, useS3Env } from '../../support/s3.ts';

const source = uniqueName('hold_src');
const dirs: string[] = [];
let bucket: string;

beforeAll(async () => {
  useS3Env();
  bucket = await createTestBucket('dr-hold');
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
});

afterAll(async () => {
  await dropDatabase(source);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('newest verified backup under Legal Hold', () => {
  it('s3rver has no Legal Hold support (why the hold calls are mocked below)', async () => {
    const client = s3Client();
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'probe', Body: 'x' }));
    await expect(
      client.send(new PutObjectLegalHoldCommand({ Bucket: bucket, Key: 'probe', LegalHold: { Status: 'ON' } })),
    ).rejects.toThrow();
    await expect(client.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: 'probe' }))).rejects.toThrow(
      /not implemented/i,
    );
  });

  it('holds every object of the newer verified backup (manifest first), releases the older one, keeps a newer hold when an older backup is verified (legal-hold calls mocked)', async () => {
    const holds = new Map<string, 'ON' | 'OFF'>();
    const calls: string[] = [];
    const repo = new S3Repository({ bucket, prefix: 'unit', client: legalHoldClient(s3Client(), holds, calls) });
    const older = '20260101T020000Z-000aaa';
    const newer = '20260108T020000Z-000bbb';
    for (const id of [older, newer]) {
      for (const file of ['data/toc.dat', 'data/3001.dat.gz', 'globals.sql'])
        await repo.put(`backups/db/${id}/${file}`, file, { tier: 'daily' });
      await repo.put(manifestKey('db', id), '{}', { tier: 'daily' });
    }
    const objects = (id: string) =>
      [
        manifestKey('db', id),
        `backups/db/${id}/data/3001.dat.gz`,
        `backups/db/${id}/data/toc.dat`,
        `backups/db/${id}/globals.sql`,
      ].map((k) => `${bucket}/unit/${k}`);

    const first = await holdNewestVerified(repo, 'db', older, { now: new Date('2026-01-02T02:00:00Z') });
    expect(first).toEqual({ database: 'db', supported: true, held: older, released: [], ageHours: 24 });
    expect(calls[0]).toBe(`ON unit/${manifestKey('db', older)}`);
    expect(objects(older).map((k) => holds.get(k))).toEqual(['ON', 'ON', 'ON', 'ON']);

    calls.length = 0;
    const second = await holdNewestVerified(repo, 'db', newer, { now: new Date('2026-01-09T02:00:00Z') });
    expect(second).toMatchObject({ held: newer, released: [older], ageHours: 24 });
    expect(objects(newer).map((k) => holds.get(k))).toEqual(['ON', 'ON', 'ON', 'ON']);
    expect(objects(older).map((k) => holds.get(k))).toEqual(['OFF', 'OFF', 'OFF', 'OFF']);
    // Released files first, the manifest last: an interrupted release is still seen as held and finished next time.
    expect(calls.filter((c) => c.startsWith('OFF')).at(-1)).toBe(`OFF unit/${manifestKey('db', older)}`);
    expect(await heldBackups(repo, 'db')).toEqual([newer]);

    // A drill of the older backup: the newer one stays the newest verified.
    const third = await holdNewestVerified(repo, 'db', older, { now: new Date('2026-01-10T02:00:00Z') });
    expect(third).toMatchObject({ held: newer, released: [], ageHours: 48 });
    expect(objects(older).map((k) => holds.get(k))).toEqual(['OFF', 'OFF', 'OFF', 'OFF']);
    expect(await newestVerifiedBackup(repo, 'db', new Date('2026-01-17T02:00:00Z'))).toEqual({
      id: newer,
      ageHours: 9 * 24,
    });

    // An interrupted release (manifest still held) is finished by the next hold.
    holds.set(`${bucket}/unit/${manifestKey('db', older)}`, 'ON');
    expect(await holdNewestVerified(repo, 'db', newer)).toMatchObject({ held: newer, released: [older] });
    expect(holds.get(`${bucket}/unit/${manifestKey('db', older)}`)).toBe('OFF');
  });

  it('dr check --hold on real backups in s3rver: the newest backup that passed is held, the one before released (legal-hold calls mocked)', async () => {
    const holds = new Map<string, 'ON' | 'OFF'>();
    const repo = new S3Repository({ bucket, prefix: 'check', client: legalHoldClient(s3Client(), holds) });
    const a = await runBackup({ db: pgUrl(source), repository: repo, tier: 'daily' });
    const first = await checkBackups(repo, { database: source, hold: true });
    expect(first.passed).toBe(true);
    expect(first.holds).toEqual([
      expect.objectContaining({ database: source, supported: true, held: a.id, released: [] }),
    ]);
    const b = await runBackup({ db: pgUrl(source), repository: repo, tier: 'daily' });
    const second = await checkBackups(repo, { database: source, hold: true });
    expect(second.holds).toEqual([expect.objectContaining({ held: b.id, released: [a.id] })]);
    const keys = [...holds.keys()].filter((k) => k.includes(`/${b.id}`));
    // Every object of the backup: its data files, globals and the manifest.
    expect(keys.length).toBeGreaterThan(3);
    expect(keys).toContain(`${bucket}/check/${manifestKey(source, b.id)}`);
    expect(keys.every((k) => holds.get(k) === 'ON')).toBe(true);
    expect([...holds].filter(([k]) => k.includes(`/${a.id}`)).every(([, v]) => v === 'OFF')).toBe(true);
    // Without --hold check writes nothing.
    const plain = await checkBackups(repo, { database: source });
    expect(plain.holds).toBeUndefined();
  });

  it('a passed drill from s3rver holds the backup it verified (legal-hold calls mocked)', async () => {
    const holds = new Map<string, 'ON' | 'OFF'>();
    const repo = new S3Repository({ bucket, prefix: 'drill', client: legalHoldClient(s3Client(), holds) });
    const result = await runDrill({
      repository: repo,
      source: pgUrl(source),
      scratchServer: pgUrl('postgres').replace(/\/postgres$/, ''),
    });
    expect(result.report.passed, result.report.summary).toBe(true);
    expect(result.hold).toMatchObject({
      database: source,
      supported: true,
      held: result.report.backup!.id,
      released: [],
    });
    expect(holds.get(`${bucket}/drill/${manifestKey(source, result.report.backup!.id)}`)).toBe('ON');
  });

  it('file:// has no Legal Holds: a passed drill and check --hold report it as unsupported and change nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dr-hold-'));
    dirs.push(dir);
    const repo = new FileRepository(dir);
    const result = await runDrill({
      repository: repo,
      source: pgUrl(source),
      scratchServer: pgUrl('postgres').replace(/\/postgres$/, ''),
    });
    expect(result.report.passed, result.report.summary).toBe(true);
    expect(result.hold).toEqual({ database: source, supported: false, held: null, released: [], ageHours: null });
    expect((await checkBackups(repo, { hold: true })).holds).toEqual([
      { database: source, supported: false, held: null, released: [], ageHours: null },
    ]);
  });
});

describe('a store without Legal Holds', () => {
  it('a passed drill from plain s3rver (no Legal Hold API) still passes and says why nothing was held', async () => {
    const repo = new S3Repository({ bucket, prefix: 'no-holds' });
    const logs: string[] = [];
    const result = await runDrill({
      repository: repo,
      source: pgUrl(source),
      scratchServer: pgUrl('postgres').replace(/\/postgres$/, ''),
      log: (m) => logs.push(m),
    });
    expect(result.report.passed, result.report.summary).toBe(true);
    expect(result.hold).toBeUndefined();
    expect(result.holdError).toMatch(/not implemented/i);
    expect(logs).toContainEqual(expect.stringMatching(/^WARNING: no legal hold placed on the newest verified backup/));
  });
});
