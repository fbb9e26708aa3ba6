import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startS3rver } from './s3rver.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    s3Endpoint: string;
  }
}

/** Starts one real s3rver on a random loopback port for the whole run. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const directory = mkdtempSync(join(tmpdir(), 's3rver-'));
  const s3rver = await startS3rver(directory);
  project.provide('s3Endpoint', s3rver.endpoint);
  return async () => {
    await s3rver.stop();
    rmSync(directory, { recursive: true, force: true });
  };
}
