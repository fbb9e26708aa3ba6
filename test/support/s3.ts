import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import { s3ClientFor, s3EnvFor } from '../../fixtures/s3rver.ts';

/** The standard AWS environment pointed at the run's s3rver (see s3EnvFor). */
export function s3Env(): Record<string, string> {
  return s3EnvFor(inject('s3Endpoint'));
}

/** Applies s3Env() to this test process (the in-process S3 repository reads process.env). */
export function useS3Env(): void {
  Object.assign(process.env, s3Env());
}

export function s3Client(): S3Client {
  return s3ClientFor(inject('s3Endpoint'));
}

/** A fresh bucket for one test file, so suites never see each other's objects. */
export async function createTestBucket(prefix = 'dr-test'): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await s3Client().send(new CreateBucketCommand({ Bucket: name }));
  return name;
}
