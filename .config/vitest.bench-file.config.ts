import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * `npm run bench:file`: the built command line over a generated CSV file,
 * in a child process whose memory is watched. Kept out of the normal suite.
 */
export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/bench/run-file-bench.ts'],
    testTimeout: 3 * 60 * 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    disableConsoleIntercept: true,
    reporters: ['default'],
  },
});
