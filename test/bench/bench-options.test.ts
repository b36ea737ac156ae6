import { describe, expect, it } from 'vitest';

import { describeBenchOptions, readBenchOptions } from './bench-options.js';

describe('readBenchOptions', () => {
  it('takes the defaults when no BENCH_ variable is set', () => {
    expect(readBenchOptions({})).toMatchObject({
      domains: 40,
      servers: 6,
      addresses: 2_000,
      rttMs: 50,
      concurrency: 20,
      perHostConcurrency: 5,
      maxRejectedPerSession: 9,
      rows: 1_000_000,
    });
  });

  it('reads each knob from its environment variable', () => {
    const options = readBenchOptions({ BENCH_ADDRESSES: '500', BENCH_RTT_MS: '0' });

    expect(options).toMatchObject({ addresses: 500, rttMs: 0 });
  });

  it('lets an override change a default but not a value the environment gives', () => {
    expect(readBenchOptions({}, { rttMs: 0 }).rttMs).toBe(0);
    expect(readBenchOptions({ BENCH_RTT_MS: '20' }, { rttMs: 0 }).rttMs).toBe(20);
  });

  it('refuses a value that is not a whole number in range', () => {
    expect(() => readBenchOptions({ BENCH_CONCURRENCY: '0' })).toThrow(/BENCH_CONCURRENCY/);
    expect(() => readBenchOptions({ BENCH_DOMAINS: '4.5' })).toThrow(/whole number/);
    expect(() => readBenchOptions({ BENCH_ROWS: 'many' })).toThrow(/BENCH_ROWS/);
  });

  it('describes the chosen knobs by their environment names', () => {
    const lines = describeBenchOptions(readBenchOptions({}), ['rttMs']);

    expect(lines).toEqual(['  BENCH_RTT_MS       50']);
  });
});
