import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests start real servers on loopback ports and spawn processes; two cores.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
  },
});
