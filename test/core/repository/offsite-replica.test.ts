/**
 * The offsite bucket is an S3 replica of the vault: same keys, bytes and tags. Replication is
 * simulated here by copying every object key for key into a second s3rver bucket; `dr list` and
 * `dr restore` must work against it unchanged.
 */
import {
  GetObjectCommand,
  GetObjectTaggingCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, dropDatabase, pgUrl, uniqueName } from '../../../fixtures/pg.ts';
import { createSampleDatabase } from '../../../fixtures/sample-database.ts';
import { runDr } from '../../support/cli.ts';
import { compareDatabases } from '../../support/compare.ts';
import { createTestBucket, s3Client, s3Env } from '../../support/s3.ts';

const source = uniqueName('dr_offsite_src');
const target = uniqueName('dr_offsite_restored');

/** What S3 replication does for each new object version: same key, body and tags. */
async function replicate(from: string, to: string): Promise<string[]> {
  const client = s3Client();
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: from, ContinuationToken: token }));
    for (const { Key } of page.Contents ?? []) {
      const object = await client.send(new GetObjectCommand({ Bucket: from, Key }));
      const body = Buffer.from(await object.Body!.transformToByteArray());
      await client.send(new PutObjectCommand({ Bucket: to, Key, Body: body, ContentType: object.ContentType }));
      const { TagSet } = await client.send(new GetObjectTaggingCommand({ Bucket: from, Key }));
      await client.send(new PutObjectTaggingCommand({ Bucket: to, Key, Tagging: { TagSet } }));
      keys.push(Key!);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

beforeAll(async () => {
  await createDatabase(source);
  await createSampleDatabase(pgUrl(source), { scale: 'test' });
});

afterAll(async () => {
  await dropDatabase(source);
  await dropDatabase(target);
});

describe('a replica of the vault (the offsite bucket)', () => {
  it('lists and restores unchanged after a key-for-key copy', async () => {
    const env = s3Env();
    const [primary, offsite] = await Promise.all([createTestBucket('dr-primary'), createTestBucket('dr-offsite')]);

    // As the job writes to the primary: with Object Lock retention (s3rver ignores the headers).
    const backup = await runDr(
      [
        'backup',
        '--db',
        pgUrl(source),
        '--repo',
        `s3://${primary}/`,
        '--object-lock',
        'governance',
        '--tier',
        'weekly',
        '--json',
        '--jobs',
        '2',
      ],
      env,
    );
    expect(backup.code, backup.stderr).toBe(0);

    const keys = await replicate(primary, offsite);
    expect(keys.some((k) => k.endsWith('manifest.json'))).toBe(true);
    const { TagSet } = await s3Client().send(new GetObjectTaggingCommand({ Bucket: offsite, Key: keys[0] }));
    expect(TagSet).toEqual([{ Key: 'retention', Value: 'weekly' }]);

    const [fromPrimary, fromOffsite] = await Promise.all([
      runDr(['list', '--repo', `s3://${primary}/`, '--json'], env),
      runDr(['list', '--repo', `s3://${offsite}/`, '--json'], env),
    ]);
    expect(fromOffsite.code, fromOffsite.stderr).toBe(0);
    // The two lists run a moment apart, so a backup's age may differ by a second between them.
    const withoutAge = (backups: unknown) =>
      (backups as Array<Record<string, unknown>>).map(({ ageSeconds: _, ...rest }) => rest);
    expect(withoutAge(fromOffsite.json.backups)).toEqual(withoutAge(fromPrimary.json.backups));
    expect(fromOffsite.json.backups).toEqual([
      expect.objectContaining({ id: backup.json.id, database: source, tier: 'weekly' }),
    ]);

    const restore = await runDr(
      ['restore', '--repo', `s3://${offsite}/`, '--backup', 'latest', '--target', pgUrl(target), '--json'],
      env,
    );
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.json).toMatchObject({ ok: true, backup: { id: backup.json.id }, fallbacks: [] });
    const comparison = await compareDatabases(pgUrl(source), pgUrl(target));
    expect(comparison.differences).toEqual([]);
  });

  it('refuses an unknown --object-lock mode before touching anything', async () => {
    const run = await runDr(
      ['backup', '--db', pgUrl(source), '--repo', 's3://dr-never-written/', '--object-lock', 'compliance'],
      s3Env(),
    );
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toBe(
      'dr backup: error: --object-lock must be one of none, governance, tiered, got "compliance"; see dr backup --help',
    );
  });
});
