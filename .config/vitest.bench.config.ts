import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * `npm run bench`: the benchmark, kept out of the normal suite. Its
 * figures go straight to standard output; a missed target does not fail
 * the run, only a crash does.
 */
export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/bench/run-bench.ts'],
    testTimeout: 60 * 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    execArgv: ['--expose-gc'],
    disableConsoleIntercept: true,
    reporters: ['default'],
  },
});
