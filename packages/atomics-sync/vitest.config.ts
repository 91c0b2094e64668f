import { defineConfig } from 'vitest/config';

// Tests run against the build (dist/): the ring tests' worker threads load it by path.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
  },
});
