/**
 * pitrStatus against a REAL pgBackRest repository: a throwaway cluster archives its WAL with
 * pgbackrest archive-push into a posix repository and takes real full and differential backups.
 * The same tree, copied into s3rver (pgBackRest's S3 client needs TLS, s3rver speaks only HTTP),
 * is read through s3://.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrError } from '../../../core/errors.ts';
import { pitrStatus } from '../../../core/pitr/rpo.ts';
import { openRepository } from '../../../core/repository/index.ts';
import { type ArchivingCluster, startArchivingCluster } from '../../support/pgbackrest-cluster.ts';
import { createTestBucket, s3Client, useS3Env } from '../../support/s3.ts';

const fileStarted = Date.now();
/** An upper bound for the age of anything this file created (whole seconds, rounded up). */
const secondsSinceFileStart = () => Math.ceil((Date.now() - fileStarted) / 1000) + 1;

let cluster: ArchivingCluster;

beforeAll(async () => {
  useS3Env();
  cluster = await startArchivingCluster('rpo_test');
});
afterAll(async () => {
  await cluster?.stop();
});

/** Switches to a new WAL segment and waits until pgBackRest has archived the old one; returns its name. */
async function switchAndArchive(): Promise<string> {
  const segment = (await cluster.psql('SELECT pg_walfile_name(pg_switch_wal())')).trim();
  for (let i = 0; i < 300; i++) {
    const archived = (await cluster.psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")).trim();
    if (archived >= segment) return segment;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`WAL segment ${segment} was not archived within 30 s`);
}

interface BackupInfo {
  label: string;
  type: string;
}
async function pgbackrestBackups(): Promise<BackupInfo[]> {
  const [stanza] = JSON.parse(await cluster.pgbackrest('info', '--output=json')) as [{ backup: BackupInfo[] }];
  return stanza.backup;
}

/** Every regular file of the posix repository, uploaded under `prefix` (symlinks like `latest` skipped, as on S3). */
async function copyToS3(root: string, bucket: string, prefix: string): Promise<number> {
  const files = (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  const client = s3Client();
  for (let i = 0; i < files.length; i += 16) {
    await Promise.all(
      files.slice(i, i + 16).map(async (entry) => {
        const path = join(entry.parentPath, entry.name);
        await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: `${prefix}/${relative(root, path)}`,
            Body: await readFile(path),
          }),
        );
      }),
    );
  }
  return files.length;
}

describe('pitrStatus (real pgBackRest repository)', () => {
  it('reports nothing for a stanza with no archived WAL and no backup yet', async () => {
    const status = await pitrStatus(openRepository(`file://${cluster.repoPath}`), 'rpo_test');
    expect(status).toMatchObject({ repository: `file://${cluster.repoPath}`, stanza: 'rpo_test' });
    expect(status.wal).toBeUndefined();
    expect(status.baseBackup).toBeUndefined();
    expect(status.fullBackup).toBeUndefined();
  });

  it('finds the newest archived segment and the newest complete backups, over file:// and s3://', async () => {
    await cluster.pgbackrest('backup', '--type=full');
    await cluster.psql('CREATE TABLE ticks AS SELECT g AS id FROM generate_series(1, 10000) g');
    await cluster.pgbackrest('backup', '--type=diff');
    await cluster.psql('INSERT INTO ticks SELECT g FROM generate_series(10001, 20000) g');
    const lastSegment = await switchAndArchive();
    const [full, diff] = await pgbackrestBackups();
    expect([full!.type, diff!.type]).toEqual(['full', 'diff']);

    const repo = openRepository(`file://${cluster.repoPath}`);
    const now = new Date();
    const status = await pitrStatus(repo, 'rpo_test', now);
    expect(status.wal).toMatchObject({ segment: lastSegment, archiveId: '15-1' });
    expect(status.wal!.key).toMatch(
      new RegExp(`^archive/rpo_test/15-1/${lastSegment.slice(0, 16)}/${lastSegment}-[0-9a-f]{40}\\.gz$`),
    );
    expect(status.baseBackup).toMatchObject({
      label: diff!.label,
      type: 'diff',
      key: `backup/rpo_test/${diff!.label}/backup.manifest`,
    });
    expect(status.fullBackup).toMatchObject({ label: full!.label, type: 'full' });
    // All of it happened since this file started; the WAL after the diff backup is the newest.
    for (const age of [status.wal!.ageSeconds, status.baseBackup!.ageSeconds, status.fullBackup!.ageSeconds]) {
      expect(age).toBeGreaterThanOrEqual(0);
      expect(age).toBeLessThanOrEqual(secondsSinceFileStart());
    }
    expect(status.wal!.archivedAt.getTime()).toBeGreaterThanOrEqual(status.baseBackup!.completedAt.getTime() - 1000);

    // An hour later, nothing new: the ages grow with the clock.
    const later = await pitrStatus(repo, 'rpo_test', new Date(now.getTime() + 3_600_000));
    expect(later.wal!.ageSeconds).toBe(status.wal!.ageSeconds + 3600);
    expect(later.baseBackup!.ageSeconds).toBe(status.baseBackup!.ageSeconds + 3600);

    const bucket = await createTestBucket('dr-pitr');
    const copied = await copyToS3(cluster.repoPath, bucket, 'pitr');
    expect(copied).toBeGreaterThan(10);
    // A backup that never completed (only the .copy manifest pgBackRest writes while running) is not a base.
    await s3Client().send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'pitr/backup/rpo_test/20991231-235959F/backup.manifest.copy',
        Body: '[backup]',
      }),
    );
    const s3Status = await pitrStatus(openRepository(`s3://${bucket}/pitr`), 'rpo_test');
    expect(s3Status.repository).toBe(`s3://${bucket}/pitr`);
    expect(s3Status.wal).toMatchObject({ segment: lastSegment, key: status.wal!.key });
    expect(s3Status.baseBackup).toMatchObject({ label: diff!.label, type: 'diff' });
    expect(s3Status.fullBackup).toMatchObject({ label: full!.label, type: 'full' });
    // s3rver stamps objects with their upload time.
    expect(s3Status.wal!.ageSeconds).toBeLessThanOrEqual(secondsSinceFileStart());
  });

  it('sees WAL archived after a later full backup, and the newer full', async () => {
    await cluster.pgbackrest('backup', '--type=full');
    await cluster.psql('INSERT INTO ticks SELECT g FROM generate_series(20001, 30000) g');
    const segment = await switchAndArchive();
    const newest = (await pgbackrestBackups()).at(-1)!;
    const status = await pitrStatus(openRepository(`file://${cluster.repoPath}`), 'rpo_test');
    expect(status.wal!.segment).toBe(segment);
    expect(status.baseBackup).toMatchObject({ label: newest.label, type: 'full' });
    expect(status.fullBackup).toEqual(status.baseBackup);
  });

  it('reports nothing for a stanza the repository does not hold, and refuses a malformed stanza', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'dr-pitr-empty-'));
    try {
      const status = await pitrStatus(openRepository(`file://${empty}`), 'crypto_stock');
      expect([status.wal, status.baseBackup]).toEqual([undefined, undefined]);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
    const err = await pitrStatus(openRepository(`file://${cluster.repoPath}`), '../etc').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DrError);
    expect((err as DrError).oneLine()).toBe(
      'invalid pgBackRest stanza "../etc"; use letters, digits, _, - and . (e.g. crypto_stock), as in pgbackrest.conf',
    );
  });
});
