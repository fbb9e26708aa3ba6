import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startS3rver } from '../../fixtures/s3rver.ts';
import { startTimescaleServer } from '../../fixtures/timescale-server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    s3Endpoint: string;
    /** The run's TimescaleDB server (test/support/timescale.ts), database `postgres`. */
    timescaleUrl: string;
  }
}

/** Starts one real s3rver on a random loopback port and one TimescaleDB server for the whole run. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const directory = mkdtempSync(join(tmpdir(), 's3rver-'));
  const [s3rver, timescale] = await Promise.all([startS3rver(directory), startTimescaleServer()]);
  project.provide('s3Endpoint', s3rver.endpoint);
  project.provide('timescaleUrl', timescale.url());
  return async () => {
    await Promise.all([s3rver.stop(), timescale.stop()]);
    rmSync(directory, { recursive: true, force: true });
  };
}
