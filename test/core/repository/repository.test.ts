import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectTaggingCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrError } from '../../../core/errors.ts';
import { FileRepository, openRepository, type Repository, S3Repository } from '../../../core/repository/index.ts';
import { EVIDENCE, EVIDENCE_RETENTION_DAYS, RETENTION_TAG_KEY } from '../../../core/repository/tiers.ts';
import { createTestBucket, s3Client, useS3Env } from '../../support/s3.ts';

const MiB = 1024 * 1024;

/** `chunks` random MiB chunks plus a tail, hashed independently as they are produced. */
function generatedBody(
  chunks: number,
  tail = 123,
): { body: Readable; expected: () => { size: number; sha256: string } } {
  const hash = createHash('sha256');
  let size = 0;
  function* produce(): Generator<Buffer> {
    for (let i = 0; i <= chunks; i++) {
      const chunk = randomBytes(i < chunks ? MiB : tail);
      hash.update(chunk);
      size += chunk.length;
      yield chunk;
    }
  }
  return {
    body: Readable.from(produce(), { objectMode: false }),
    expected: () => ({ size, sha256: hash.digest('hex') }),
  };
}

/** Yields `bytes` then fails, like a pg_dump that dies mid-stream. */
function failingBody(bytes: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= bytes) {
        this.destroy(new Error('dump process died'));
        return;
      }
      sent += MiB;
      this.push(randomBytes(MiB));
    },
  });
}

async function sha256Of(stream: Readable): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
}

async function text(stream: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (err: unknown) => err,
  );
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Backend {
  readonly name: string;
  /** A fresh, empty repository. */
  open(): Promise<Repository>;
  /** Names of anything a failed put left behind, where the backend can show them. */
  leftovers?(repo: Repository): Promise<string[]>;
}

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dr-repo-'));
  tempDirs.push(dir);
  return dir;
}

function walkNames(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

const fileBackend: Backend = {
  name: 'file',
  async open() {
    return openRepository(`file://${tempDir()}/backups`);
  },
  async leftovers(repo) {
    const root = (repo as FileRepository).root;
    try {
      return walkNames(root).filter((name) => name.split('/').some((part) => part.startsWith('.tmp-')));
    } catch {
      return [];
    }
  },
};

let bucket: string;
const s3Backend: Backend = {
  name: 's3',
  async open() {
    // A fresh prefix per repository and a small page size, so listings paginate.
    return new S3Repository({ bucket, prefix: `repo-${randomBytes(4).toString('hex')}/`, listPageSize: 3 });
  },
  // No leftovers check: s3rver implements neither ListMultipartUploads nor AbortMultipartUpload.
};

beforeAll(async () => {
  useS3Env();
  bucket = await createTestBucket('dr-repo');
});

/** An s3rver client that records every request's headers as sent (s3rver itself ignores several). */
function capturingClient() {
  const sent: { command: string; headers: Record<string, string> }[] = [];
  const client = s3Client();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push({
        command: context.commandName ?? '',
        headers: (args.request as { headers: Record<string, string> }).headers,
      });
      return next(args);
    },
    { step: 'finalizeRequest' },
  );
  const header = (command: string, name: string) =>
    sent.filter((s) => s.command === command).map((s) => s.headers[name]);
  return { client, sent, header };
}

describe.each([fileBackend, s3Backend])('$name repository', (backend) => {
  let repo: Repository;
  beforeAll(async () => {
    repo = await backend.open();
    await repo.assertWritable();
  });

  it('round-trips a multi-part-sized stream, returning its size and SHA-256', async () => {
    const { body, expected } = generatedBody(40);
    const stored = await repo.put('backups/db/big/data/3001.dat', body, { tier: 'daily' });
    const want = expected();
    expect(want.size).toBe(40 * MiB + 123);
    expect(stored).toEqual({ key: 'backups/db/big/data/3001.dat', ...want });
    expect(await repo.head('backups/db/big/data/3001.dat')).toEqual({
      size: want.size,
      lastModified: expect.any(Date),
    });
    expect(await sha256Of(await repo.get('backups/db/big/data/3001.dat'))).toEqual(want);
  });

  it('streams a body of announced size (one PutObject on S3), and refuses one whose size differs', async () => {
    const { body, expected } = generatedBody(12);
    const stored = await repo.put('backups/db/known/data/3002.dat', body, {
      tier: 'daily',
      expectedSize: 12 * MiB + 123,
    });
    const want = expected();
    expect(stored).toEqual({ key: 'backups/db/known/data/3002.dat', ...want });
    expect(await sha256Of(await repo.get('backups/db/known/data/3002.dat'))).toEqual(want);
    if (backend.name === 's3') {
      // A file that changed after its size was taken must not be stored as if complete.
      const short = generatedBody(1);
      await expect(
        repo.put('backups/db/known/data/3003.dat', short.body, { tier: 'daily', expectedSize: 2 * MiB }),
      ).rejects.toThrow(
        /upload of backups\/db\/known\/data\/3003.dat stopped: the file has \d+ bytes, 2097152 were announced/,
      );
      // (S3 stores no object from an aborted PUT; s3rver keeps the partial body, so that is not asserted here.)
    }
  });

  it('stores Buffer and string bodies, including empty ones', async () => {
    const fromString = await repo.put('small/text.sql', 'SELECT 1;\n', { tier: 'daily', contentType: 'text/plain' });
    expect(fromString.size).toBe(10);
    expect(fromString.sha256).toBe(createHash('sha256').update('SELECT 1;\n').digest('hex'));
    expect(await text(await repo.get('small/text.sql'))).toBe('SELECT 1;\n');

    const before = Date.now();
    const empty = await repo.put('small/empty', Buffer.alloc(0), { tier: 'weekly' });
    expect(empty).toEqual({ key: 'small/empty', size: 0, sha256: createHash('sha256').digest('hex') });
    const info = await repo.head('small/empty');
    const after = Date.now();
    expect(info?.size).toBe(0);
    // Written between before and after; S3 LastModified has whole seconds.
    expect(info!.lastModified.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(info!.lastModified.getTime()).toBeLessThanOrEqual(after + 1000);
  });

  it('refuses to overwrite an existing key and keeps the original', async () => {
    await repo.put('once/manifest.json', '{"v":1}', { tier: 'daily' });
    const err = await rejection(repo.put('once/manifest.json', '{"v":2}', { tier: 'daily' }));
    expect(err).toBeInstanceOf(DrError);
    expect((err as DrError).message).toBe(
      `object once/manifest.json already exists in ${repo.url}; backups are write-once`,
    );
    expect(await text(await repo.get('once/manifest.json'))).toBe('{"v":1}');
  });

  // Every backup folder holds its manifest directly, as complete backups do.
  const listed = [
    'backups/app/20240102T000000Z-bbbbbb/manifest.json',
    'backups/app/20240101T000000Z-aaaaaa/data/toc.dat',
    'backups/app/20240101T000000Z-aaaaaa/manifest.json',
    'backups/app/20240101T000000Z-aaaaaa/data/3001.dat.gz',
    'backups/app/20240103T000000Z-cccccc/data/toc.dat',
    'backups/app/20240103T000000Z-cccccc/manifest.json',
    'backups/apple/20240101T000000Z-dddddd/manifest.json',
  ];

  it('lists keys recursively in lexicographic order, relative to the repository', async () => {
    for (const key of listed) await repo.put(key, key, { tier: 'daily' });
    const sorted = [...listed].sort();
    expect(await repo.list('backups/app/')).toEqual(sorted.filter((k) => k.startsWith('backups/app/')));
    // A prefix that ends mid-name matches like S3's.
    expect(await repo.list('backups/app')).toEqual(sorted);
    expect(await repo.list('backups/app/20240101T000000Z-aaaaaa/data/')).toEqual([
      'backups/app/20240101T000000Z-aaaaaa/data/3001.dat.gz',
      'backups/app/20240101T000000Z-aaaaaa/data/toc.dat',
    ]);
    expect(await repo.list('backups/nothing/')).toEqual([]);
  });

  it('lists the keys at one level and the sub-prefixes one level down with a delimiter', async () => {
    expect(await repo.list('backups/app/', { delimiter: '/' })).toEqual([
      'backups/app/20240101T000000Z-aaaaaa/',
      'backups/app/20240102T000000Z-bbbbbb/',
      'backups/app/20240103T000000Z-cccccc/',
    ]);
    expect(await repo.list('backups/app/2024010', { delimiter: '/' })).toHaveLength(3);
    expect(await repo.list('backups/app/20240101T000000Z-aaaaaa/', { delimiter: '/' })).toEqual([
      'backups/app/20240101T000000Z-aaaaaa/data/',
      'backups/app/20240101T000000Z-aaaaaa/manifest.json',
    ]);
    expect(await repo.list('backups/app/20240102T000000Z-bbbbbb/', { delimiter: '/' })).toEqual([
      'backups/app/20240102T000000Z-bbbbbb/manifest.json',
    ]);
    expect(await repo.list('backups/none/', { delimiter: '/' })).toEqual([]);
  });

  // Stock s3rver omits these; the test s3rver is patched to report them as S3 does (s3rver-process.cjs).
  it('lists sub-prefixes whose objects all lie deeper', async () => {
    expect(await repo.list('backups/', { delimiter: '/' })).toEqual(['backups/app/', 'backups/apple/', 'backups/db/']);
    expect(await repo.list('', { delimiter: '/' })).toEqual(['backups/', 'once/', 'small/']);
  });

  it('reports missing objects: head is undefined, get is a DrError naming the key', async () => {
    expect(await repo.head('backups/app/20240101T000000Z-aaaaaa/missing.dat')).toBeUndefined();
    // A "folder" is not an object either.
    expect(await repo.head('backups/app/20240101T000000Z-aaaaaa')).toBeUndefined();
    const err = await rejection(repo.get('backups/app/20240101T000000Z-aaaaaa/missing.dat'));
    expect(err).toBeInstanceOf(DrError);
    expect((err as DrError).message).toContain('backups/app/20240101T000000Z-aaaaaa/missing.dat');
    expect((err as DrError).message).toContain('not found');
  });

  it('leaves nothing under the final key when the body fails half way', async () => {
    const err = await rejection(repo.put('broken/data/3001.dat', failingBody(20 * MiB), { tier: 'daily' }));
    expect((err as Error).message).toBe('dump process died');
    expect(await repo.head('broken/data/3001.dat')).toBeUndefined();
    expect(await repo.list('broken/')).toEqual([]);
    expect(await repo.list('', { delimiter: '/' })).not.toContain('broken/');
    if (backend.leftovers) expect(await backend.leftovers(repo)).toEqual([]);
    // The key is still free: a retry succeeds.
    expect((await repo.put('broken/data/3001.dat', 'ok', { tier: 'daily' })).size).toBe(2);
  });
});

describe('file repository specifics', () => {
  it('publishes exactly one of two concurrent puts to the same key', async () => {
    const repo = openRepository(`file://${tempDir()}`);
    const results = await Promise.allSettled([
      repo.put('race/manifest.json', 'first', { tier: 'daily' }),
      repo.put('race/manifest.json', 'second', { tier: 'daily' }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const winner = results.findIndex((r) => r.status === 'fulfilled');
    expect(await text(await repo.get('race/manifest.json'))).toBe(winner === 0 ? 'first' : 'second');
    expect(walkNames((repo as FileRepository).root).sort()).toEqual(['race', 'race/manifest.json']);
  });

  // s3rver walks its directory tree, so there app.txt would come after app/… and paging drop it.
  it('orders keys by code unit, so a.txt precedes a/…', async () => {
    const repo = openRepository(`file://${tempDir()}`);
    for (const key of ['a/b', 'a.txt', 'a-b', 'a/c/d']) await repo.put(key, key, { tier: 'daily' });
    expect(await repo.list('a')).toEqual(['a-b', 'a.txt', 'a/b', 'a/c/d']);
    expect(await repo.list('', { delimiter: '/' })).toEqual(['a-b', 'a.txt', 'a/']);
    expect(await repo.list('a', { delimiter: '/' })).toEqual(['a-b', 'a.txt', 'a/']);
    expect(await repo.list('a/', { delimiter: '.' })).toEqual(['a/b', 'a/c/d']);
    expect(await repo.list('', { delimiter: '.' })).toEqual(['a-b', 'a.', 'a/b', 'a/c/d']);
  });

  it('creates the root on assertWritable and exposes local paths', async () => {
    const dir = join(tempDir(), 'a', 'b');
    const repo = openRepository(`file://${dir}`);
    await repo.assertWritable();
    expect(readdirSync(dir)).toEqual([]); // the probe file is gone
    await repo.put('x/y.txt', 'y', { tier: 'monthly' });
    expect(repo.localPath?.('x/y.txt')).toBe(join(dir, 'x', 'y.txt'));
  });

  it('fails assertWritable with the path and the OS reason when a parent is a file', async () => {
    const file = join(tempDir(), 'not-a-dir');
    writeFileSync(file, 'x');
    const repo = openRepository(`file://${file}/backups`);
    const err = await rejection(repo.assertWritable());
    expect(err).toBeInstanceOf(DrError);
    expect((err as DrError).message).toBe(
      `cannot write to repository directory ${file}/backups: ENOTDIR (not a directory)`,
    );
    expect((err as DrError).hint).toContain('writable directory');
  });

  it('rejects keys that would escape the root', async () => {
    const repo = openRepository(`file://${tempDir()}`);
    await expect(repo.put('../escape', 'x', { tier: 'daily' })).rejects.toThrow('invalid repository key');
    await expect(repo.put('a//b', 'x', { tier: 'daily' })).rejects.toThrow('invalid repository key');
    await expect(repo.put('a/.tmp-x', 'x', { tier: 'daily' })).rejects.toThrow('invalid repository key');
  });
});

describe('s3 repository specifics', () => {
  it('tags every object with its retention tier and keeps keys under the prefix', async () => {
    const repo = openRepository(`s3://${bucket}/tagged/deeper`);
    expect(repo.url).toBe(`s3://${bucket}/tagged/deeper`);
    await repo.put('backups/db/x/manifest.json', '{}', { tier: 'weekly' });
    const { TagSet } = await s3Client().send(
      new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tagged/deeper/backups/db/x/manifest.json' }),
    );
    expect(TagSet).toEqual([{ Key: RETENTION_TAG_KEY, Value: 'weekly' }]);

    // Objects beside the prefix are not the repository's.
    await s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: 'tagged/deeperer/other', Body: 'x' }));
    expect(await repo.list('')).toEqual(['backups/db/x/manifest.json']);
  });

  it('tags multipart uploads too', async () => {
    const repo = openRepository(`s3://${bucket}/tagged-big`);
    const { body, expected } = generatedBody(17, 0);
    const stored = await repo.put('big.dat', body, { tier: 'monthly' });
    expect(stored.sha256).toBe(expected().sha256);
    const { TagSet } = await s3Client().send(
      new GetObjectTaggingCommand({ Bucket: bucket, Key: 'tagged-big/big.dat' }),
    );
    expect(TagSet).toEqual([{ Key: RETENTION_TAG_KEY, Value: 'monthly' }]);
  });

  it('asks for encryption and write-once on every write request', async () => {
    const { client, sent, header } = capturingClient();

    const kms = new S3Repository({ bucket, prefix: 'sse-kms', kmsKeyId: 'alias/dr-vault', client });
    await kms.put('small', 'x', { tier: 'daily' });
    await kms.put('big', generatedBody(17).body, { tier: 'daily' });
    expect(header('PutObjectCommand', 'x-amz-server-side-encryption')).toEqual(['aws:kms']);
    expect(header('PutObjectCommand', 'x-amz-server-side-encryption-aws-kms-key-id')).toEqual(['alias/dr-vault']);
    expect(header('PutObjectCommand', 'if-none-match')).toEqual(['*']);
    expect(header('CreateMultipartUploadCommand', 'x-amz-server-side-encryption')).toEqual(['aws:kms']);
    expect(header('CompleteMultipartUploadCommand', 'if-none-match')).toEqual(['*']);

    sent.length = 0;
    await new S3Repository({ bucket, prefix: 'sse-s3', client }).put('small', 'x', { tier: 'daily' });
    expect(header('PutObjectCommand', 'x-amz-server-side-encryption')).toEqual(['AES256']);
    expect(header('PutObjectCommand', 'x-amz-server-side-encryption-aws-kms-key-id')).toEqual([undefined]);
  });

  it('locks each object until its tier ends (GOVERNANCE) only with objectLock governance, on single and multipart writes', async () => {
    const { client, sent, header } = capturingClient();
    const DAY = 86_400_000;
    const lockedFor = (value: string | undefined) => Math.round((Date.parse(value ?? '') - Date.now()) / DAY);

    // s3rver ignores the Object Lock headers; the request carrying them is what real S3 acts on.
    const locked = new S3Repository({ bucket, prefix: 'locked', objectLock: 'governance', client });
    await locked.put('backups/db/1/manifest.json', '{}', { tier: 'daily' });
    await locked.put('backups/db/1/big', generatedBody(17).body, { tier: 'monthly' });
    await locked.put('backups/db/1/weekly', 'w', { tier: 'weekly', expectedSize: 1 });
    expect(header('PutObjectCommand', 'x-amz-object-lock-mode')).toEqual(['GOVERNANCE', 'GOVERNANCE']);
    expect(header('PutObjectCommand', 'x-amz-object-lock-retain-until-date').map(lockedFor)).toEqual([7, 28]);
    expect(header('PutObjectCommand', 'x-amz-tagging')).toEqual([
      `${RETENTION_TAG_KEY}=daily`,
      `${RETENTION_TAG_KEY}=weekly`,
    ]);
    expect(header('CreateMultipartUploadCommand', 'x-amz-object-lock-mode')).toEqual(['GOVERNANCE']);
    expect(header('CreateMultipartUploadCommand', 'x-amz-object-lock-retain-until-date').map(lockedFor)).toEqual([180]);
    expect(header('CreateMultipartUploadCommand', 'x-amz-tagging')).toEqual([`${RETENTION_TAG_KEY}=monthly`]);
    // The objects are still complete and readable.
    expect(await text(await locked.get('backups/db/1/manifest.json'))).toBe('{}');

    sent.length = 0;
    await new S3Repository({ bucket, prefix: 'unlocked', client }).put('x', 'x', { tier: 'monthly' });
    expect(header('PutObjectCommand', 'x-amz-object-lock-mode')).toEqual([undefined]);
    expect(header('PutObjectCommand', 'x-amz-object-lock-retain-until-date')).toEqual([undefined]);
  });

  it('objectLock tiered: daily objects GOVERNANCE, weekly and monthly COMPLIANCE; tags afterwards only after reading the object tags (the vault denies re-tagging one that has them)', async () => {
    const { client, sent, header } = capturingClient();
    const tiered = new S3Repository({ bucket, prefix: 'tiered', objectLock: 'tiered', client });
    await tiered.put('backups/db/1/d', 'd', { tier: 'daily', expectedSize: 1 });
    await tiered.put('backups/db/1/w', 'w', { tier: 'weekly', expectedSize: 1 });
    await tiered.put('backups/db/1/m', generatedBody(17).body, { tier: 'monthly' });
    expect(header('PutObjectCommand', 'x-amz-object-lock-mode')).toEqual(['GOVERNANCE', 'COMPLIANCE']);
    expect(header('CreateMultipartUploadCommand', 'x-amz-object-lock-mode')).toEqual(['COMPLIANCE']);
    // s3rver drops PutObject's tags, so here every object is tagged afterwards, after a look.
    expect(sent.filter((c) => c.command === 'GetObjectTaggingCommand')).toHaveLength(3);
  });

  it('drill evidence (tier evidence): COMPLIANCE for 400 days wherever the repository locks, even with objectLock governance; no lock without one', async () => {
    const { client, sent, header } = capturingClient();
    const lockedFor = (value: string | undefined) => Math.round((Date.parse(value ?? '') - Date.now()) / 86_400_000);
    for (const objectLock of ['governance', 'tiered'] as const) {
      await new S3Repository({ bucket, prefix: `evidence-${objectLock}`, objectLock, client }).put(
        'reports/drills/2026-12-06/db.json',
        '{}',
        { tier: EVIDENCE },
      );
    }
    expect(header('PutObjectCommand', 'x-amz-object-lock-mode')).toEqual(['COMPLIANCE', 'COMPLIANCE']);
    expect(header('PutObjectCommand', 'x-amz-object-lock-retain-until-date').map(lockedFor)).toEqual([
      EVIDENCE_RETENTION_DAYS,
      EVIDENCE_RETENTION_DAYS,
    ]);
    expect(header('PutObjectCommand', 'x-amz-tagging')).toEqual([
      `${RETENTION_TAG_KEY}=evidence`,
      `${RETENTION_TAG_KEY}=evidence`,
    ]);
    sent.length = 0;
    await new S3Repository({ bucket, prefix: 'evidence-none', client }).put('reports/x.json', '{}', { tier: EVIDENCE });
    expect(header('PutObjectCommand', 'x-amz-object-lock-mode')).toEqual([undefined]);
  });

  it('openRepository takes the Object Lock mode (default none) and refuses unknown ones', () => {
    expect((openRepository(`s3://${bucket}/a`) as S3Repository).objectLock).toBe('none');
    expect((openRepository(`s3://${bucket}/a`, { objectLock: 'governance' }) as S3Repository).objectLock).toBe(
      'governance',
    );
    expect(() => openRepository(`s3://${bucket}/a`, { objectLock: 'compliance' as never })).toThrow(
      'unsupported object lock "compliance"',
    );
  });

  it('fails assertWritable with a DrError when the bucket does not exist', async () => {
    const repo = openRepository('s3://dr-missing-bucket-0000/backups');
    const err = await rejection(repo.assertWritable());
    expect(err).toBeInstanceOf(DrError);
    expect((err as DrError).message).toBe(
      'bucket dr-missing-bucket-0000 does not exist (repository s3://dr-missing-bucket-0000/backups)',
    );
    expect((err as DrError).hint).toBeTruthy();
  });

  it('names the endpoint when S3 is unreachable, without printing credentials', async () => {
    const saved = process.env.AWS_ENDPOINT_URL_S3;
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    process.env.AWS_ENDPOINT_URL_S3 = endpoint;
    try {
      const repo = openRepository(`s3://${bucket}/unreachable`);
      const err = await rejection(repo.assertWritable());
      expect(err).toBeInstanceOf(DrError);
      expect((err as DrError).message).toContain(endpoint);
      expect((err as DrError).message).toContain('ECONNREFUSED');
      expect((err as DrError).oneLine()).not.toContain(process.env.AWS_SECRET_ACCESS_KEY);
    } finally {
      process.env.AWS_ENDPOINT_URL_S3 = saved;
    }
  });
});

describe('openRepository', () => {
  it.each([
    'http://example.com/backups',
    'backups',
    '/var/backups',
    'file://backups',
    'file://host/share',
    's3://',
    's3:///prefix',
    'S3://bucket/x',
    's3://bucket//x',
  ])('refuses %j', (url) => {
    const err = (() => {
      try {
        openRepository(url);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DrError);
    expect((err as DrError).message).toMatch(`unsupported repository URL "${url}"`);
    expect((err as DrError).hint).toContain('file:///path/to/dir or s3://bucket/prefix');
  });

  it.each(['s3://Bad_Bucket/x', 's3://ab/x', 's3://my..bucket', 's3://192.168.0.1/x', `s3://${'a'.repeat(64)}`])(
    'refuses the invalid bucket name in %j',
    (url) => {
      expect(() => openRepository(url)).toThrow(/not a valid S3 bucket name/);
    },
  );

  it('opens file:///abs and file://./rel against the current directory', () => {
    const absolute = openRepository('file:///var/backups/');
    expect(absolute).toBeInstanceOf(FileRepository);
    expect((absolute as FileRepository).root).toBe('/var/backups');
    const relative = openRepository('file://./backups');
    expect((relative as FileRepository).root).toBe(join(process.cwd(), 'backups'));
    expect(relative.url).toBe(`file://${join(process.cwd(), 'backups')}`);
    expect((openRepository('file://../x') as FileRepository).root).toBe(join(process.cwd(), '..', 'x'));
  });

  it('opens s3://bucket and s3://bucket/prefix, normalising the prefix', () => {
    const plain = openRepository('s3://my-bucket');
    expect(plain).toBeInstanceOf(S3Repository);
    expect((plain as S3Repository).prefix).toBe('');
    expect(plain.url).toBe('s3://my-bucket');
    const prefixed = openRepository('s3://my.bucket-1/dr/backups/', { kmsKeyId: 'alias/dr' }) as S3Repository;
    expect(prefixed.bucket).toBe('my.bucket-1');
    expect(prefixed.prefix).toBe('dr/backups/');
    expect(prefixed.url).toBe('s3://my.bucket-1/dr/backups');
    expect((prefixed as Repository).localPath).toBeUndefined();
  });
});
