/**
 * The rpo-watch handler in its own process (as the Lambda runtime loads it), against a real
 * pgBackRest repository copied into s3rver: its metrics are read back from the EMF line it prints.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics, RpoWatchEnv } from '../../core/contract.ts';
import { type ArchivingCluster, startArchivingCluster } from '../support/pgbackrest-cluster.ts';
import { createTestBucket, s3Client, s3Env } from '../support/s3.ts';

const REPO_ROOT = join(import.meta.dirname, '..', '..');

interface Invocation { code: number; stdout: string[]; stderr: string; result: Record<string, unknown> }

/** Imports the handler in a fresh Node process with `env` and invokes it with `event`, like the runtime. */
function invoke(env: Record<string, string>, event: unknown): Promise<Invocation> {
  const script = `const { handler } = await import(${JSON.stringify(join(REPO_ROOT, 'lambdas/rpo-watch/handler.ts'))});
process.stdout.write('RESULT ' + JSON.stringify(await handler(${JSON.stringify(event)})) + '\\n');`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, ...s3Env(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.once('error', reject);
    child.once('close', (code) => {
      const lines = stdout.split('\n').filter(Boolean);
      const result = lines.find((l) => l.startsWith('RESULT '));
      resolve({ code: code ?? 1, stdout: lines.filter((l) => !l.startsWith('RESULT ')), stderr, result: result ? JSON.parse(result.slice(7)) : {} });
    });
  });
}

/** The EMF documents among the printed lines. */
function emf(lines: string[]): Record<string, any>[] {
  return lines.map((l) => JSON.parse(l) as Record<string, any>).filter((o) => '_aws' in o);
}

let cluster: ArchivingCluster;
let bucket: string;
const scheduledEvent = { 'detail-type': 'Scheduled Event', source: 'aws.events', time: new Date().toISOString(), detail: {} };

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
    await Promise.all(files.slice(i, i + 16).map(async (e) => {
      const path = join(e.parentPath, e.name);
      await s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: `pitr/${relative(cluster.repoPath, path)}`, Body: await readFile(path) }));
    }));
  }
});
afterAll(async () => {
  await cluster?.stop();
});

describe('rpo-watch handler (real pgBackRest repository in s3rver)', () => {
  it('prints one EMF line with the WAL and backup ages under the Stanza dimension', async () => {
    const run = await invoke({ [RpoWatchEnv.repo]: `s3://${bucket}/pitr`, [RpoWatchEnv.stanza]: 'crypto_stock' }, scheduledEvent);
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.code).toBe(0);
    const [doc, ...more] = emf(run.stdout);
    expect(more).toEqual([]);
    expect(doc._aws.CloudWatchMetrics).toEqual([{
      Namespace: Metrics.namespace,
      Dimensions: [[Metrics.stanzaDimension]],
      Metrics: [
        { Name: Metrics.walArchiveAgeSeconds, Unit: 'Seconds' },
        { Name: Metrics.baseBackupAgeSeconds, Unit: 'Seconds' },
        { Name: Metrics.fullBackupAgeSeconds, Unit: 'Seconds' },
      ],
    }]);
    expect(Math.abs(doc._aws.Timestamp - Date.now())).toBeLessThan(60_000);
    expect(doc[Metrics.stanzaDimension]).toBe('crypto_stock');
    for (const name of [Metrics.walArchiveAgeSeconds, Metrics.baseBackupAgeSeconds, Metrics.fullBackupAgeSeconds]) {
      expect(doc[name]).toBeGreaterThanOrEqual(0);
      expect(doc[name]).toBeLessThan(300);
    }
    const [info] = JSON.parse(await cluster.pgbackrest('info', '--output=json')) as [{ backup: { label: string }[]; archive: { max: string }[] }];
    expect(run.result).toMatchObject({
      stanza: 'crypto_stock',
      walSegment: info.archive[0].max,
      baseBackupLabel: info.backup.at(-1)!.label,
      walArchiveAgeSeconds: doc[Metrics.walArchiveAgeSeconds],
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
