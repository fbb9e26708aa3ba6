/**
 * The rpo-watch handler in its own process (as the Lambda runtime loads it), against a real
 * pgBackRest repository copied into s3rver: its metrics are read back from the EMF line it prints.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics, RpoWatchEnv } from '../../core/contract.ts';
import { invokeHandler } from '../support/handler.ts';
import { type ArchivingCluster, startArchivingCluster } from '../support/pgbackrest-cluster.ts';
import { createTestBucket, s3Client } from '../support/s3.ts';

/** Everything this file archives or emits happens after this. */
const fileStarted = Date.now();

const invoke = (env: Record<string, string>, event: unknown) => invokeHandler('rpo-watch', env, event);

/** The EMF documents among the printed lines. */
function emf(lines: string[]): Record<string, any>[] {
  return lines.map((l) => JSON.parse(l) as Record<string, any>).filter((o) => '_aws' in o);
}

let cluster: ArchivingCluster;
let bucket: string;
const scheduledEvent = {
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  time: new Date().toISOString(),
  detail: {},
};

beforeAll(async () => {
  cluster = await startArchivingCluster('crypto_stock');
  await cluster.pgbackrest('backup', '--type=full');
  await cluster.psql('CREATE TABLE ticks AS SELECT g AS id FROM generate_series(1, 1000) g');
  await cluster.psql('SELECT pg_switch_wal()');
  await cluster.pgbackrest('check'); // waits until the switched segment is in the archive
  bucket = await createTestBucket('dr-rpo');
  // pgBackRest's S3 client needs TLS, s3rver speaks HTTP: the repository tree is copied instead.
  const files = (await readdir(cluster.repoPath, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  for (let i = 0; i < files.length; i += 16) {
    await Promise.all(
      files.slice(i, i + 16).map(async (e) => {
        const path = join(e.parentPath, e.name);
        await s3Client().send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: `pitr/${relative(cluster.repoPath, path)}`,
            Body: await readFile(path),
          }),
        );
      }),
    );
  }
});
afterAll(async () => {
  await cluster?.stop();
});

describe('rpo-watch handler (real pgBackRest repository in s3rver)', () => {
  it('prints one EMF line with the WAL and backup ages under the Stanza dimension', async () => {
    const run = await invoke(
      { [RpoWatchEnv.repo]: `s3://${bucket}/pitr`, [RpoWatchEnv.stanza]: 'crypto_stock' },
      scheduledEvent,
    );
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.code).toBe(0);
    const [doc, ...more] = emf(run.stdout) as [Record<string, any>, ...Record<string, any>[]];
    expect(more).toEqual([]);
    expect(doc._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: Metrics.namespace,
        Dimensions: [[Metrics.stanzaDimension]],
        Metrics: [
          { Name: Metrics.walArchiveAgeSeconds, Unit: 'Seconds' },
          { Name: Metrics.baseBackupAgeSeconds, Unit: 'Seconds' },
          { Name: Metrics.fullBackupAgeSeconds, Unit: 'Seconds' },
          { Name: Metrics.walArchiveGaps, Unit: 'Count' },
        ],
      },
    ]);
    expect(doc[Metrics.walArchiveGaps]).toBe(0);
    expect(doc._aws.Timestamp).toBeGreaterThanOrEqual(fileStarted);
    expect(doc._aws.Timestamp).toBeLessThanOrEqual(Date.now());
    expect(doc[Metrics.stanzaDimension]).toBe('crypto_stock');
    for (const name of [Metrics.walArchiveAgeSeconds, Metrics.baseBackupAgeSeconds, Metrics.fullBackupAgeSeconds]) {
      expect(doc[name]).toBeGreaterThanOrEqual(0);
      expect(doc[name]).toBeLessThanOrEqual(Math.ceil((Date.now() - fileStarted) / 1000) + 1);
    }
    const [info] = JSON.parse(await cluster.pgbackrest('info', '--output=json')) as [
      { backup: { label: string }[]; archive: { max: string }[] },
    ];
    expect(run.result).toMatchObject({
      stanza: 'crypto_stock',
      walSegment: info.archive[0]!.max,
      baseBackupLabel: info.backup.at(-1)!.label,
      walArchiveAgeSeconds: doc[Metrics.walArchiveAgeSeconds],
      walTimeline: 1,
      walArchiveGaps: 0,
    });
  });

  it('prints no metric for a stanza with nothing archived, so the missing-data alarms fire, and says why', async () => {
    const run = await invoke({ [RpoWatchEnv.repo]: `s3://${bucket}/pitr`, [RpoWatchEnv.stanza]: 'other_cluster' }, {});
    expect(run.code).toBe(0);
    expect(emf(run.stdout)).toEqual([]);
    expect(run.stderr).toContain('pgBackRest stanza other_cluster in s3://');
    expect(run.stderr).toContain('has no archived WAL segment and no complete backup');
  });

  it('fails at start-up on a missing repository URL, naming the variable', async () => {
    const run = await invoke({ [RpoWatchEnv.stanza]: 'crypto_stock' }, {});
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(RpoWatchEnv.repo);
  });
});
