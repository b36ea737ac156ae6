/**
 * The benchmark's knobs, read from BENCH_* environment variables, each
 * with a default and checked to be a whole number in range. The engine's
 * caps default to the product's own defaults.
 */
import { OPTIONS } from '../../src/config.js';
import type { ConfigKey } from '../../src/config.js';

export interface BenchOptions {
  domains: number;
  servers: number;
  addresses: number;
  rttMs: number;
  concurrency: number;
  perHostConcurrency: number;
  maxRejectedPerSession: number;
  rows: number;
  seed: number;
  /** Addresses verified one by one with verifyAddress to check the engine's verdicts. */
  sample: number;
}

interface Knob {
  key: keyof BenchOptions;
  env: string;
  fallback: number;
  min: number;
  max: number;
}

const KNOBS: readonly Knob[] = [
  { key: 'domains', env: 'BENCH_DOMAINS', fallback: 40, min: 1, max: 10_000 },
  { key: 'servers', env: 'BENCH_SERVERS', fallback: 6, min: 1, max: 200 },
  { key: 'addresses', env: 'BENCH_ADDRESSES', fallback: 2_000, min: 1, max: 1_000_000 },
  { key: 'rttMs', env: 'BENCH_RTT_MS', fallback: 50, min: 0, max: 2_000 },
  {
    key: 'concurrency',
    env: 'BENCH_CONCURRENCY',
    fallback: productDefault('concurrency'),
    min: 1,
    max: 256,
  },
  {
    key: 'perHostConcurrency',
    env: 'BENCH_PER_HOST',
    fallback: productDefault('perHostConcurrency'),
    min: 1,
    max: 64,
  },
  {
    key: 'maxRejectedPerSession',
    env: 'BENCH_MAX_REJECTED',
    fallback: productDefault('maxRejectedPerSession'),
    min: 1,
    max: 100,
  },
  { key: 'rows', env: 'BENCH_ROWS', fallback: 1_000_000, min: 1, max: 100_000_000 },
  { key: 'seed', env: 'BENCH_SEED', fallback: 1, min: 0, max: 2 ** 31 },
  { key: 'sample', env: 'BENCH_SAMPLE', fallback: 200, min: 0, max: 100_000 },
];

function productDefault(key: ConfigKey): number {
  return Number(OPTIONS.find((option) => option.key === key)?.default);
}

/** `overrides` change a default, e.g. no simulated delay for the file mode. */
export function readBenchOptions(
  env: NodeJS.ProcessEnv,
  overrides: Partial<BenchOptions> = {},
): BenchOptions {
  const options = {} as BenchOptions;
  for (const knob of KNOBS) {
    const text = env[knob.env];
    const fallback = overrides[knob.key] ?? knob.fallback;
    const isUnset = text === undefined || text === '';
    options[knob.key] = isUnset ? fallback : readWhole(knob, text);
  }
  return options;
}

/** One line per knob: its environment name and the value in use. */
export function describeBenchOptions(options: BenchOptions, keys: (keyof BenchOptions)[]) {
  return KNOBS.filter((knob) => keys.includes(knob.key)).map(
    (knob) => `  ${knob.env.padEnd(18)} ${options[knob.key]}`,
  );
}

function readWhole(knob: Knob, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < knob.min || value > knob.max) {
    throw new Error(`${knob.env} must be a whole number from ${knob.min} to ${knob.max}`);
  }
  return value;
}
