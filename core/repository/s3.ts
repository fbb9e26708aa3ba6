import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PutObjectCommandInput, S3Client } from '@aws-sdk/client-s3';
import { DrError } from '../errors.ts';
import { AccessError } from '../faults.ts';
import { cjsExports } from '../interop.ts';
import { Sha256Stream, toReadable } from './hashing.ts';
import { EVIDENCE, RETENTION_TAG_KEY, type RetentionClass, retentionDays } from './tiers.ts';
import type { ObjectInfo, ObjectLock, PutOptions, Repository, StoredObject } from './types.ts';

const DAY_MS = 86_400_000;

/**
 * Memory per upload is about QUEUE_SIZE × part size, so it stays flat whatever the object's size;
 * parts grow only when S3's 10,000-part limit requires it (expectedSize).
 */
const MIN_PART_SIZE = 8 * 1024 * 1024;
/** Up to this size a body of known length is sent as one streaming PutObject. */
const SINGLE_PUT_MAX_BYTES = 256 * 1024 * 1024;
const MAX_PARTS = 10_000;
const QUEUE_SIZE = 2;
/** How long the read-back waits before it looks at an object a second time. */
const READ_BACK_RETRY_MS = 500;

export function partSizeFor(expectedSize: number | undefined): number {
  if (!expectedSize) return MIN_PART_SIZE;
  return Math.max(MIN_PART_SIZE, Math.ceil((expectedSize * 1.1) / (MAX_PARTS - 1)));
}

type Sdk = { s3: typeof import('@aws-sdk/client-s3'); storage: typeof import('@aws-sdk/lib-storage') };
let sdkLoading: Promise<Sdk> | undefined;

/** The SDK loads on first use, so file:// runs of dr never pay its start-up time. */
function loadSdk(): Promise<Sdk> {
  sdkLoading ??= Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]).then(([s3, storage]) => ({
    s3: cjsExports(s3, 'S3Client'),
    storage: cjsExports(storage, 'Upload'),
  }));
  return sdkLoading;
}

/**
 * The credentials the SDK's default chain finds (environment, profile, web identity, ECS/Fargate
 * task role, EC2 instance role), for tools that cannot look them up themselves (pgBackRest's
 * `auto` key type knows only the EC2 instance role).
 */
export async function resolveAwsCredentials(): Promise<{
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}> {
  const sdk = await loadSdk();
  try {
    const credentials = await new sdk.s3.S3Client({}).config.credentials();
    return {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      sessionToken: credentials.sessionToken,
    };
  } catch (err) {
    throw new DrError(
      `no AWS credentials found: ${(err as Error).message}`,
      'run with a task/instance role, AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY',
      1,
      { cause: err },
    );
  }
}

export interface S3RepositoryOptions {
  readonly bucket: string;
  /** Key prefix inside the bucket; slashes at either end are ignored. */
  readonly prefix?: string;
  /** SSE-KMS key id or ARN; without it objects are encrypted with SSE-S3 (AES256). */
  readonly kmsKeyId?: string;
  /**
   * 'governance': every object is written with an Object Lock retain-until date of its tier's
   * retention (core/repository/tiers.ts) in GOVERNANCE mode. The bucket must have Object Lock enabled, and
   * S3 requires a checksum on such writes: keep the SDK's default AWS_REQUEST_CHECKSUM_CALCULATION
   * (WHEN_SUPPORTED, CRC32), do not set it to WHEN_REQUIRED against real S3.
   * @default 'none'
   */
  readonly objectLock?: ObjectLock;
  /** ListObjectsV2 MaxKeys, so tests can exercise pagination without thousands of objects. */
  readonly listPageSize?: number;
  /** @default - a client from the standard AWS environment, built on first use */
  readonly client?: S3Client;
}

/**
 * A repository under `s3://bucket/prefix`, configured only by the standard AWS environment:
 * AWS_REGION, AWS_ENDPOINT_URL_S3 (read by the SDK itself), the default credential chain, and
 * AWS_REQUEST_CHECKSUM_CALCULATION / AWS_RESPONSE_CHECKSUM_VALIDATION (also read by the SDK).
 *
 * The role needs s3:ListBucket (HeadBucket, listings, and a 404 rather than 403 from HEAD on a
 * missing key, which `put` relies on), s3:PutObject, s3:PutObjectTagging, s3:AbortMultipartUpload
 * and s3:GetObject, plus the KMS key's GenerateDataKey/Decrypt when one is configured, and
 * s3:PutObjectRetention with objectLock 'governance'. It never needs s3:Delete* or
 * s3:BypassGovernanceRetention.
 */
export class S3Repository implements Repository {
  readonly url: string;
  readonly streamsUnsizedBodies = false;
  readonly bucket: string;
  /** '' or ending in '/': prepended to every key. */
  readonly prefix: string;
  private readonly kmsKeyId: string | undefined;
  readonly objectLock: ObjectLock;
  private readonly listPageSize: number | undefined;
  private clientInstance: S3Client | undefined;

  constructor(options: S3RepositoryOptions) {
    this.bucket = options.bucket;
    const trimmed = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.prefix = trimmed ? `${trimmed}/` : '';
    this.url = `s3://${this.bucket}${trimmed ? `/${trimmed}` : ''}`;
    this.kmsKeyId = options.kmsKeyId;
    this.objectLock = options.objectLock ?? 'none';
    this.listPageSize = options.listPageSize;
    this.clientInstance = options.client;
  }

  /** Built lazily so the environment is read when the repository is used, not when imported. */
  private async api(): Promise<Sdk & { client: S3Client }> {
    const sdk = await loadSdk();
    this.clientInstance ??= new sdk.s3.S3Client({ forcePathStyle: customEndpoint() !== undefined });
    return { ...sdk, client: this.clientInstance };
  }

  /**
   * HeadBucket only: it proves the bucket exists and the credentials reach it. No probe object,
   * because the production role may not delete and the bucket is write-once.
   */
  async assertWritable(): Promise<void> {
    const { client, s3 } = await this.api();
    try {
      await client.send(new s3.HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const status = httpStatus(err);
      if (status === 404 || errorName(err) === 'NoSuchBucket' || errorName(err) === 'NotFound') {
        throw new DrError(
          `bucket ${this.bucket} does not exist (repository ${this.url})`,
          'create it (deploy the vault stack) or fix the bucket name in --repo',
          1,
          { cause: err },
        );
      }
      if (status === 403) {
        throw new DrError(
          `bucket ${this.bucket} is missing or not writable with the current AWS credentials (repository ${this.url})`,
          'check the bucket name and that the role may s3:ListBucket and s3:PutObject on it',
          1,
          { cause: err },
        );
      }
      if (status === 301) {
        throw new DrError(
          `bucket ${this.bucket} is in another region than ${String(process.env.AWS_REGION ?? 'the configured one')}`,
          'set AWS_REGION to the bucket region',
          1,
          { cause: err },
        );
      }
      throw this.translate(err, `reach bucket ${this.bucket}`);
    }
  }

  async put(key: string, body: Readable | Buffer | string, options: PutOptions): Promise<StoredObject> {
    const objectKey = this.objectKey(key);
    const source = toReadable(body);
    let bodyError: unknown;
    // Registered at once: before pipeline, so it is set before the error reaches the upload, and
    // before the HEAD, so an early body error is not an uncaught exception.
    source.on('error', (err) => (bodyError ??= err));
    try {
      return await this.upload(key, objectKey, source, options, () => bodyError);
    } catch (err) {
      // put owns the body: a producer blocked on it (pg_dump) must not wait forever.
      source.destroy();
      throw err;
    }
  }

  private async upload(
    key: string,
    objectKey: string,
    source: Readable,
    options: PutOptions,
    bodyError: () => unknown,
  ): Promise<StoredObject> {
    // s3rver and older S3-compatible stores ignore If-None-Match on writes: refuse up front too.
    if (await this.head(key)) throw this.alreadyExists(key);

    const hasher = new Sha256Stream();
    // pipeline forwards a body error into the hasher, which fails the upload and aborts it.
    const feeding = pipeline(source, hasher);
    feeding.catch(() => undefined);
    const params: PutObjectCommandInput = {
      Bucket: this.bucket,
      Key: objectKey,
      Body: hasher,
      ContentType: options.contentType ?? 'application/octet-stream',
      // lib-storage passes params to PutObject and CompleteMultipartUpload: both honour it on AWS.
      IfNoneMatch: '*',
      ...(this.kmsKeyId
        ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: this.kmsKeyId }
        : { ServerSideEncryption: 'AES256' }),
      // Born tagged on S3, so lifecycle and replication see the tier from the first version.
      Tagging: `${RETENTION_TAG_KEY}=${options.tier}`,
      ...this.retention(options.tier),
    };
    const { client, s3, storage } = await this.api();
    // A body of known, moderate size streams in one PutObject: no part buffers, one request.
    // Larger or unknown-size bodies go multipart, so a failure retries a part, not the whole file.
    const single = options.expectedSize !== undefined && options.expectedSize <= SINGLE_PUT_MAX_BYTES;
    try {
      if (single) {
        // A body that ends short of its announced length would leave the request waiting forever.
        const aborter = new AbortController();
        feeding.then(
          () => {
            if (hasher.bytesSeen !== options.expectedSize) {
              aborter.abort(
                new DrError(
                  `upload of ${key} stopped: the file has ${hasher.bytesSeen} bytes, ${options.expectedSize} were announced`,
                  'the file changed while it was uploaded; run the backup again',
                ),
              );
            }
          },
          () => undefined,
        );
        try {
          await client.send(new s3.PutObjectCommand({ ...params, ContentLength: options.expectedSize }), {
            abortSignal: aborter.signal,
          });
        } catch (err) {
          if (aborter.signal.aborted) throw aborter.signal.reason;
          throw err;
        }
      } else {
        await new storage.Upload({
          client,
          params,
          partSize: partSizeFor(options.expectedSize),
          queueSize: QUEUE_SIZE,
        }).done();
      }
      await feeding;
    } catch (err) {
      // The body's own error wins: lib-storage reports a failed AbortMultipartUpload instead
      // (s3rver answers it with 405), which would hide why the put failed.
      if (bodyError() !== undefined) throw bodyError();
      hasher.destroy();
      const status = httpStatus(err);
      if (status === 412 || errorName(err) === 'ConditionalRequestConflict') throw this.alreadyExists(key);
      if (isSdkError(err) || networkCode(err)) throw this.translate(err, `upload ${key}`);
      throw err;
    }
    // DR_S3_SKIP_READBACK=1 exists only so npm run bench can price the read-back; never set it otherwise.
    if (process.env.DR_S3_SKIP_READBACK !== '1')
      await this.assertStored(key, objectKey, hasher.bytesSeen, hasher.sha256Base64());
    // After the upload because s3rver ignores tags on PutObject. If this fails the object stays
    // untagged, so lifecycle rules by tier would never expire it: the error is surfaced. Only when
    // the tag is missing: the vault's policy denies re-tagging an object that has one (AWS keeps
    // the PutObject's tag).
    try {
      const existing = await client.send(new s3.GetObjectTaggingCommand({ Bucket: this.bucket, Key: objectKey }));
      if (existing.TagSet?.some((t) => t.Key === RETENTION_TAG_KEY && t.Value === options.tier))
        return { key, ...hasher.result() };
      await client.send(
        new s3.PutObjectTaggingCommand({
          Bucket: this.bucket,
          Key: objectKey,
          Tagging: { TagSet: [{ Key: RETENTION_TAG_KEY, Value: options.tier }] },
        }),
      );
    } catch (err) {
      throw this.translate(err, `tag ${key} with ${RETENTION_TAG_KEY}=${options.tier}`);
    }
    return { key, ...hasher.result() };
  }

  /**
   * The store must hold exactly the bytes sent: a store that does not decode the SDK's
   * `aws-chunked` uploads (s3rver, some Ceph, Backblaze and older MinIO) keeps the chunk framing
   * as data, so the object comes out larger. Checked by a HEAD before the backup counts it, with
   * the store's own SHA-256 when it reports one (single-part objects only; multipart ones carry
   * a checksum of checksums).
   */
  private async assertStored(key: string, objectKey: string, size: number, sha256Base64: string): Promise<void> {
    const { client, s3 } = await this.api();
    const readBack = async () => {
      const stored = await client
        .send(new s3.HeadObjectCommand({ Bucket: this.bucket, Key: objectKey, ChecksumMode: 'ENABLED' }))
        .catch((err: unknown) => {
          throw this.translate(err, `read back ${key}`);
        });
      const storedSha = stored.ChecksumSHA256;
      const shaMismatch = storedSha !== undefined && !storedSha.includes('-') && storedSha !== sha256Base64;
      return { storedSize: stored.ContentLength, ok: stored.ContentLength === size && !shaMismatch };
    };
    let { storedSize, ok } = await readBack();
    // Read once more before calling it damaged: a store may answer before the object is all on its
    // disk (s3rver under CI load once showed 0 bytes of a 640-byte object it then held whole).
    if (!ok) {
      await sleep(READ_BACK_RETRY_MS);
      ({ storedSize, ok } = await readBack());
    }
    if (ok) return;
    const what =
      storedSize !== size
        ? `holds ${storedSize ?? 'an unknown number of'} bytes, ${size} were written`
        : 'reports another SHA-256 than the bytes written';
    throw new DrError(
      `upload of ${key} is damaged: ${this.url} ${what}, so the backup was not recorded`,
      "this store does not decode the AWS SDK's aws-chunked uploads (s3rver, some Ceph, Backblaze, older MinIO): set AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED and AWS_RESPONSE_CHECKSUM_VALIDATION=WHEN_REQUIRED for it",
    );
  }

  async get(key: string): Promise<Readable> {
    const { client, s3 } = await this.api();
    try {
      const response = await client.send(new s3.GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      // In Node the SDK's body is an http.IncomingMessage.
      return response.Body as Readable;
    } catch (err) {
      if (errorName(err) === 'NoSuchKey' || httpStatus(err) === 404) {
        throw new DrError(`object ${key} not found in ${this.url}`, 'check the backup id with `dr list`', 1, {
          cause: err,
        });
      }
      throw this.translate(err, `read ${key}`);
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const { client, s3 } = await this.api();
    try {
      const response = await client.send(new s3.HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      const lock =
        response.ObjectLockMode && response.ObjectLockRetainUntilDate
          ? { mode: response.ObjectLockMode, until: response.ObjectLockRetainUntilDate }
          : undefined;
      return {
        size: response.ContentLength ?? 0,
        lastModified: response.LastModified ?? new Date(0),
        ...(lock ? { lock } : {}),
      };
    } catch (err) {
      if (errorName(err) === 'NotFound' || errorName(err) === 'NoSuchKey' || httpStatus(err) === 404) return undefined;
      throw this.translate(err, `look up ${key}`);
    }
  }

  /** PutObjectLegalHold ON/OFF (s3:PutObjectLegalHold; the bucket must have Object Lock enabled). */
  async setLegalHold(key: string, on: boolean): Promise<void> {
    const { client, s3 } = await this.api();
    try {
      await client.send(
        new s3.PutObjectLegalHoldCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          LegalHold: { Status: on ? 'ON' : 'OFF' },
        }),
      );
    } catch (err) {
      if (httpStatus(err) === 403) {
        throw new DrError(
          `cannot ${on ? 'place' : 'release'} the legal hold on ${key} in ${this.url}: access denied`,
          'the role needs s3:PutObjectLegalHold on backups/* (the drill report Lambda has it)',
          1,
          { cause: err },
        );
      }
      throw this.translate(err, `${on ? 'place' : 'release'} the legal hold on ${key}`);
    }
  }

  /** GetObjectLegalHold: an object that never had a hold answers NoSuchObjectLockConfiguration, which is false. */
  async legalHold(key: string): Promise<boolean | undefined> {
    const { client, s3 } = await this.api();
    try {
      const response = await client.send(
        new s3.GetObjectLegalHoldCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      return response.LegalHold?.Status === 'ON';
    } catch (err) {
      if (errorName(err) === 'NoSuchObjectLockConfiguration') return false;
      if (errorName(err) === 'NoSuchKey' || httpStatus(err) === 404) return undefined;
      throw this.translate(err, `read the legal hold of ${key}`);
    }
  }

  /** DeleteObject: on a versioned bucket a delete marker, the locked versions stay (dr prune checks locks first). */
  async delete(key: string): Promise<void> {
    const { client, s3 } = await this.api();
    try {
      await client.send(new s3.DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    } catch (err) {
      if (httpStatus(err) === 403) {
        throw new DrError(
          `cannot remove ${key} from ${this.url}: access denied (locked, or the role may not s3:DeleteObject)`,
          'it stays; the deployed vault expires backups by its lifecycle rules instead',
          1,
          { cause: err },
        );
      }
      throw this.translate(err, `remove ${key}`);
    }
  }

  async list(prefix: string, options?: { readonly delimiter?: string }): Promise<string[]> {
    const { client, s3 } = await this.api();
    // A set: s3rver can repeat a common prefix on the page after a truncated one.
    const found = new Set<string>();
    let token: string | undefined;
    do {
      const page = await client
        .send(
          new s3.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            Delimiter: options?.delimiter,
            MaxKeys: this.listPageSize,
            ContinuationToken: token,
          }),
        )
        .catch((err: unknown) => {
          throw this.translate(err, `list ${prefix || '/'}`);
        });
      for (const common of page.CommonPrefixes ?? []) if (common.Prefix) found.add(common.Prefix);
      for (const object of page.Contents ?? []) if (object.Key) found.add(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return [...found].map((key) => key.slice(this.prefix.length)).sort();
  }

  /** The Object Lock fields of a write (lib-storage passes them on to CreateMultipartUpload). */
  private retention(tier: RetentionClass): Pick<PutObjectCommandInput, 'ObjectLockMode' | 'ObjectLockRetainUntilDate'> {
    if (this.objectLock === 'none') return {};
    // Evidence is never GOVERNANCE: an admin who can bypass governance could erase the drill record.
    const mode = tier === EVIDENCE || (this.objectLock === 'tiered' && tier !== 'daily') ? 'COMPLIANCE' : 'GOVERNANCE';
    return { ObjectLockMode: mode, ObjectLockRetainUntilDate: new Date(Date.now() + retentionDays(tier) * DAY_MS) };
  }

  private objectKey(key: string): string {
    if (key === '' || key.startsWith('/')) throw new Error(`invalid repository key ${JSON.stringify(key)}`);
    return this.prefix + key;
  }

  private alreadyExists(key: string): DrError {
    return new DrError(
      `object ${key} already exists in ${this.url}; backups are write-once`,
      'use a new backup id instead of overwriting',
    );
  }

  /** Network, credential and permission failures as DrErrors; anything else is rethrown. */
  private translate(err: unknown, action: string): unknown {
    const code = networkCode(err);
    if (code) {
      return new DrError(
        `cannot ${action}: S3 endpoint ${endpointName()} is unreachable (${code})`,
        'check network access and AWS_ENDPOINT_URL_S3 / AWS_REGION',
        1,
        { cause: err },
      );
    }
    const name = errorName(err);
    if (
      name === 'CredentialsProviderError' ||
      name === 'InvalidAccessKeyId' ||
      name === 'SignatureDoesNotMatch' ||
      name === 'ExpiredToken'
    ) {
      return new DrError(
        `cannot ${action} in ${this.url}: AWS credentials are missing or invalid (${name})`,
        'configure credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an instance role)',
        1,
        { cause: err },
      );
    }
    if (typeof name === 'string' && name.startsWith('KMS.')) {
      const why =
        name === 'KMS.DisabledException'
          ? 'disabled'
          : name === 'KMS.KMSInvalidStateException'
            ? 'pending deletion or unusable'
            : `refused: ${name.slice(4)}`;
      return new AccessError(
        `cannot ${action} in ${this.url} (KMS key ${why})`,
        'use a role that can decrypt with the vault key, and check that the key is enabled',
        1,
        { cause: err },
      );
    }
    if (httpStatus(err) === 403) {
      return new AccessError(
        `cannot ${action} in ${this.url} (access denied)`,
        'use a role that may read this bucket and decrypt with the vault key (s3:GetObject, kms:Decrypt)',
        1,
        { cause: err },
      );
    }
    if (name === 'NoSuchBucket') {
      return new DrError(
        `bucket ${this.bucket} does not exist (repository ${this.url})`,
        'fix the bucket name in --repo',
        1,
        {
          cause: err,
        },
      );
    }
    // Any other answer of the store is the environment's, not a bug of dr (exit 1, never 70).
    if (isSdkError(err)) {
      return new DrError(
        `cannot ${action} in ${this.url}: ${name ?? 'error'} (HTTP ${httpStatus(err) ?? '?'}): ${(err as Error).message}`,
        "check the bucket, the role's permissions and the KMS key",
        1,
        { cause: err },
      );
    }
    return err;
  }
}

/** Counts and hashes the bytes flowing to the upload, so the result describes what was sent. */

/** The endpoint the SDK resolves from the environment, if one overrides AWS's. */
function customEndpoint(): string | undefined {
  return process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined;
}

function endpointName(): string {
  return customEndpoint() ?? `https://s3.${process.env.AWS_REGION ?? '<region>'}.amazonaws.com`;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'TimeoutError',
]);

/** The network failure code, looking inside AggregateError (Node tries every address of a host). */
function networkCode(err: unknown): string | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const { code, name } = err as { code?: unknown; name?: unknown };
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
  if (typeof name === 'string' && NETWORK_CODES.has(name)) return name;
  if (err instanceof AggregateError) {
    for (const inner of err.errors) {
      const found = networkCode(inner);
      if (found) return found;
    }
  }
  return undefined;
}

function isSdkError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && '$metadata' in err;
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}
