import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration suites share the machine's PostgreSQL database `test`; each suite uses its own schema.
    fileParallelism: true,
  },
});
