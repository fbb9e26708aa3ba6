import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/setup.ts'],
    // Integration tests run pg_dump/pg_restore against one real server on 2 cores.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Reported on every run; .ci/run sets the floor. Only code running inside vitest's workers is
    // counted: the CLI runs that tests start as child processes (bin/dr.mjs, the job) are not.
    coverage: {
      enabled: true,
      provider: 'v8',
      include: ['bin/**/*.ts', 'core/**/*.ts', 'lib/**/*.ts', 'lambdas/**/*.ts', 'job/**/*.ts'],
      reporter: ['text-summary'],
      reportOnFailure: true,
    },
  },
});
