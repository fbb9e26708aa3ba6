import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';

/**
 * The standard AWS environment pointed at the run's s3rver. The product reads exactly these
 * variables (AWS_ENDPOINT_URL_S3, the credential chain), so tests pass them, not special options.
 * The checksum settings are an s3rver quirk: it rejects the SDK's default CRC trailers.
 */
export function s3Env(): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: inject('s3Endpoint'),
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
  };
}

/** Applies s3Env() to this test process (the in-process S3 repository reads process.env). */
export function useS3Env(): void {
  Object.assign(process.env, s3Env());
}

export function s3Client(): S3Client {
  const env = s3Env();
  return new S3Client({
    endpoint: env.AWS_ENDPOINT_URL_S3,
    region: env.AWS_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** A fresh bucket for one test file, so suites never see each other's objects. */
export async function createTestBucket(prefix = 'dr-test'): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await s3Client().send(new CreateBucketCommand({ Bucket: name }));
  return name;
}
