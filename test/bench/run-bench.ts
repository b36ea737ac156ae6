/**
 * `npm run bench`: how much faster the bulk engine verifies a list than
 * the naive way (a connection and a round trip per command for every
 * address), on a loopback world with simulated network delay. It prints
 * figures and PASS/FAIL lines against the targets; it is a measurement,
 * so only a crash fails the run. Knobs: see bench-options.ts.
 */
import { test } from 'vitest';

import { createBulkVerifier } from '../../src/engine/bulk-verifier.js';
import type { BulkSettings, BulkStats } from '../../src/engine/bulk-verifier.js';
import type { CatchAllMemory } from '../../src/verify/detect-catch-all.js';
import { loadAddressLists } from '../../src/verify/address-flags.js';
import { createTcpOpener } from '../../src/verify/open-socket.js';
import { systemClock } from '../../src/verify/types.js';
import { verifyAddress } from '../../src/verify/verify-address.js';
import { collectGarbage, mapWithConcurrency, watchPeakRss } from './bench-measure.js';
import { describeBenchOptions, readBenchOptions } from './bench-options.js';
import type { BenchOptions } from './bench-options.js';
import { formatBenchReport } from './bench-report.js';
import type { Answer, RunFigures } from './bench-report.js';
import { seededRandom } from './bench-world.js';
import type { BenchWorld } from './bench-world.js';
import { startBenchWorldProcess } from './bench-world-process.js';
import { verifyNaively } from './naive-verifier.js';

/** Bounds the whole run; at the defaults the naive way takes under a minute. */
const RUN_TIMEOUT_MS = 60 * 60_000;
/** The engine gets this long for all its addresses before it is closed. */
const ENGINE_DEADLINE_MS = 10 * 60_000;
const NAIVE_STEP_TIMEOUT_MS = 10_000;

const MAX_RECIPIENTS_PER_ENVELOPE = 50;

const print = (...lines: string[]): void => {
  process.stdout.write(`${lines.join('\n')}\n`);
};

test(
  'measures the bulk engine against the naive way',
  async () => {
    const options = readBenchOptions(process.env);
    print(
      '',
      'mailverify benchmark: the bulk engine against the naive way',
      ...describeBenchOptions(options, [
        'domains',
        'servers',
        'addresses',
        'rttMs',
        'concurrency',
        'perHostConcurrency',
        'maxRejectedPerSession',
        'seed',
        'sample',
      ]),
    );

    const world = await startBenchWorldProcess({ ...options, greylistSeconds: 1 });
    try {
      print('', describeWorld(world));
      const addresses = Array.from({ length: options.addresses }, (_, index) =>
        world.addressAt(index),
      );

      // The flag lists load once per process; the naive way has no flags,
      // so neither way is timed with that load.
      loadAddressLists();
      const naive = await measure(world, 'naive', () => runNaive(world, addresses, options));
      let engineStats: BulkStats | null = null;
      const engine = await measure(world, 'engine', async () => {
        const run = await runEngine(world, addresses, options);
        engineStats = run.stats;
        return run.answers;
      });
      const sample = await runSample(world, addresses, options);

      const runs = {
        naive,
        engine,
        engineStats,
        sample,
        rejectedCap: options.maxRejectedPerSession,
        perHostCap: options.perHostConcurrency,
        concurrency: options.concurrency,
      };
      print(...formatBenchReport(world, addresses, runs));
    } finally {
      await world.close();
    }
  },
  RUN_TIMEOUT_MS,
);

function describeWorld(world: BenchWorld): string {
  const count = (kind: string) => world.domains.filter((domain) => domain.kind === kind).length;
  const { rttMs } = world.options;
  const delay =
    rttMs > 0 ? `${rttMs} ms round trip on every TCP chunk and DNS datagram` : 'no delay';

  return (
    `world: ${world.options.servers} Postfix-like mail servers with PIPELINING, ` +
    `${world.domains.length} domains (${count('catch_all')} catch-all, ` +
    `${count('greylisting')} greylisting for 1 s), ${delay}`
  );
}

/** Runs one way on a fresh world, timing it and watching the process's memory. */
async function measure(
  world: BenchWorld,
  name: string,
  run: () => Promise<Map<string, Answer>>,
): Promise<RunFigures> {
  await world.reset();
  collectGarbage();
  const startRssBytes = process.memoryUsage.rss();
  const rss = watchPeakRss();
  const startedAt = performance.now();
  print('', `running the ${name} way...`);

  const answers = await run();

  const wallMs = performance.now() - startedAt;
  const peakRssBytes = rss.stop();
  await waitForSessionsToClose(world);
  print(`  done in ${(wallMs / 1000).toFixed(2)} s`);
  const server = await world.totals();
  return { name, wallMs, startRssBytes, peakRssBytes, server, answers };
}

async function runNaive(
  world: BenchWorld,
  addresses: readonly string[],
  options: BenchOptions,
): Promise<Map<string, Answer>> {
  const settings = { ...world.settings(), stepTimeoutMs: NAIVE_STEP_TIMEOUT_MS };
  const deps = { resolver: world.resolver, opener: createTcpOpener() };

  const outcomes = await mapWithConcurrency(addresses, options.concurrency, (email) =>
    verifyNaively(email, settings, deps),
  );
  return new Map(outcomes.map((outcome) => [outcome.email, outcome]));
}

/** Every address submitted at once; an address still open at the deadline has no answer. */
async function runEngine(
  world: BenchWorld,
  addresses: readonly string[],
  options: BenchOptions,
): Promise<{ answers: Map<string, Answer>; stats: BulkStats }> {
  const settings: BulkSettings = {
    ...world.settings(),
    concurrency: options.concurrency,
    perHostConcurrency: options.perHostConcurrency,
    maxRejectedPerSession: options.maxRejectedPerSession,
    maxRecipientsPerEnvelope: MAX_RECIPIENTS_PER_ENVELOPE,
    domainRate: 0,
  };
  const verifier = createBulkVerifier(settings, {
    resolver: world.resolver,
    opener: createTcpOpener(),
    clock: systemClock,
    random: seededRandom(options.seed),
  });

  const deadline = setTimeout(() => void verifier.close(), ENGINE_DEADLINE_MS);
  const settled = await Promise.allSettled(addresses.map((email) => verifier.verify(email)));
  clearTimeout(deadline);
  const stats = verifier.stats();
  await verifier.close();

  const answers = new Map<string, Answer>();
  for (const outcome of settled) {
    if (outcome.status === 'fulfilled') answers.set(outcome.value.email, outcome.value);
  }
  return { answers, stats };
}

/** The single-address path over an evenly spread sample, on a fresh world. */
async function runSample(
  world: BenchWorld,
  addresses: readonly string[],
  options: BenchOptions,
): Promise<Map<string, Answer>> {
  const step = Math.max(1, Math.floor(addresses.length / Math.max(1, options.sample)));
  const sample = addresses.filter((_, index) => index % step === 0).slice(0, options.sample);
  const deps = {
    resolver: world.resolver,
    opener: createTcpOpener(),
    clock: systemClock,
    random: seededRandom(options.seed + 1),
    catchAllMemory: createMemory(),
  };

  await world.reset();
  print('', `verifying ${sample.length} sampled addresses with verifyAddress...`);
  const results = await mapWithConcurrency(sample, options.concurrency, (email) =>
    verifyAddress(email, world.settings(), deps),
  );
  return new Map(results.map((result) => [result.email, result]));
}

/** Catch-all answers kept for the run, as the engine keeps them per domain. */
function createMemory(): CatchAllMemory {
  const known = new Map<string, boolean>();
  return {
    recall: async (domain) => known.get(domain) ?? null,
    remember: async (domain, isCatchAll) => void known.set(domain, isCatchAll),
  };
}

/** The servers' counts are read once the last QUIT has been answered. */
async function waitForSessionsToClose(world: BenchWorld): Promise<void> {
  const deadline = Date.now() + 5_000 + world.options.rttMs * 4;
  while ((await world.totals()).openSessions > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
