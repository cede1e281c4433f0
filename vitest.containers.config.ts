import { defineConfig } from 'vitest/config';

/** `npm run test:containers`: the Docker suite (scripts/containers/run.sh builds the image first). */
export default defineConfig({
  test: {
    include: ['test/containers/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    env: { TESTCONTAINERS_RYUK_DISABLED: 'true' },
  },
});
