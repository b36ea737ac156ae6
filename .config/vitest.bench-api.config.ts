import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * `npm run bench:api`: the built service under load from autocannon, in a
 * child process. Kept out of the normal suite; a missed target is printed,
 * only a crash fails the run.
 */
export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/bench/run-api-bench.ts'],
    testTimeout: 15 * 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    disableConsoleIntercept: true,
    reporters: ['default'],
  },
});
