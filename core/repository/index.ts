import { DrError } from '../errors.ts';
import { FileRepository } from './file.ts';
import { S3Repository } from './s3.ts';
import { OBJECT_LOCKS, type ObjectLock, type Repository } from './types.ts';

export { FileRepository } from './file.ts';
export { S3Repository } from './s3.ts';
export { OBJECT_LOCKS, type ObjectLock, type Repository } from './types.ts';

const URL_HINT = 'use file:///path/to/dir or s3://bucket/prefix';

export interface OpenRepositoryOptions {
  /** SSE-KMS key for every object written to an s3:// repository; ignored for file://. */
  readonly kmsKeyId?: string;
  /**
   * 'governance' locks every object written to an s3:// repository until its tier's retention
   * ends (Object Lock, GOVERNANCE mode); 'tiered' locks weekly and monthly ones in COMPLIANCE
   * mode instead; ignored for file://.
   * @default 'none'
   */
  readonly objectLock?: ObjectLock;
}

/**
 * The repository a `--repo` URL names: `file:///abs/dir`, `file://./rel/dir` (against the
 * current directory) or `s3://bucket[/prefix]`. Anything else is a DrError.
 */
export function openRepository(url: string, options: OpenRepositoryOptions = {}): Repository {
  if (url.startsWith('file://')) {
    const root = FileRepository.rootFromUrl(url);
    if (root === undefined) throw unsupported(url);
    return new FileRepository(root);
  }
  const s3 = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(url);
  if (!s3) throw unsupported(url);
  const [, bucket, prefix = ''] = s3;
  if (!bucket) throw unsupported(url);
  if (!isValidBucketName(bucket)) {
    throw new DrError(
      `unsupported repository URL "${url}": "${bucket}" is not a valid S3 bucket name`,
      'bucket names are 3-63 lowercase letters, digits, dots and hyphens; use s3://bucket/prefix',
      2,
    );
  }
  if (prefix.split('/').some((part, i, parts) => part === '' && i < parts.length - 1) || /[\0\\]/.test(prefix)) {
    throw new DrError(`unsupported repository URL "${url}": the prefix has empty or invalid segments`, URL_HINT, 2);
  }
  const objectLock = options.objectLock ?? 'none';
  if (!OBJECT_LOCKS.includes(objectLock)) {
    throw new DrError(`unsupported object lock "${String(objectLock)}"`, `use one of ${OBJECT_LOCKS.join(', ')}`, 2);
  }
  return new S3Repository({ bucket, prefix, kmsKeyId: options.kmsKeyId, objectLock });
}

/** A usage error (exit 2): the URL is what is wrong, not the environment. */
function unsupported(url: string): DrError {
  return new DrError(`unsupported repository URL "${url}"`, URL_HINT, 2);
}

/** The general-purpose bucket naming rules of S3. */
function isValidBucketName(name: string): boolean {
  return (
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) &&
    !name.includes('..') &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(name) &&
    !name.startsWith('xn--') &&
    !name.endsWith('-s3alias')
  );
}
