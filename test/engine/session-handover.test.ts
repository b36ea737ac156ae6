import { afterEach, describe, expect, it } from 'vitest';

import { createBulkVerifier } from '../../src/engine/bulk-verifier.js';
import { createTcpOpener } from '../../src/verify/open-socket.js';
import type { SocketOpener } from '../../src/verify/types.js';
import { systemClock } from '../../src/verify/types.js';
import { seededRandom, startBenchWorld } from '../bench/bench-world.js';
import type { BenchWorld } from '../bench/bench-world.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An opener that counts the sockets open on our side. */
function countingOpener(): { opener: SocketOpener; peak: () => number } {
  const tcp = createTcpOpener();
  let open = 0;
  let peak = 0;
  return {
    opener: async (target, timeoutMs) => {
      const socket = await tcp(target, timeoutMs);
      open += 1;
      peak = Math.max(peak, open);
      socket.once('close', () => (open -= 1));
      return socket;
    },
    peak: () => peak,
  };
}

async function verifyThirty(world: BenchWorld, opener: SocketOpener) {
  const verifier = createBulkVerifier(
    {
      ...world.settings(),
      catchAllProbe: false,
      concurrency: 1,
      perHostConcurrency: 1,
      maxRejectedPerSession: 3,
      maxRecipientsPerEnvelope: 50,
      domainRate: 0,
    },
    { resolver: world.resolver, opener, clock: systemClock, random: seededRandom(5) },
  );
  cleanups.push(() => verifier.close());
  const addresses = Array.from({ length: 30 }, (_, index) => world.addressAt(index));
  const results = await Promise.all(addresses.map((email) => verifier.verify(email)));
  return { addresses, results };
}

/** One server, three plain domains, the given round trip. */
async function oneServerWorld(rttMs: number): Promise<BenchWorld> {
  const world = await startBenchWorld({
    domains: 3,
    servers: 1,
    rttMs,
    seed: 11,
    greylistSeconds: 1,
  });
  cleanups.push(() => world.close());
  return world;
}

describe('handing a session slot over at QUIT', () => {
  it('starts the next connection during the last round trip, never two sessions at the server', async () => {
    const world = await oneServerWorld(40);
    const counting = countingOpener();

    const { addresses, results } = await verifyThirty(world, counting.opener);

    expect(results.map((result) => result.verdict)).toEqual(
      addresses.map((email) => world.truthOf(email).verdict),
    );
    const totals = await world.totals();
    expect(totals.connections).toBeGreaterThanOrEqual(4);
    expect(totals.peakOpenSessions).toBe(1);
    expect(counting.peak()).toBe(2);
  });

  it('keeps the slot until the session ends when the round trip is too short to be a margin', async () => {
    const world = await oneServerWorld(0);
    const counting = countingOpener();

    await verifyThirty(world, counting.opener);

    expect((await world.totals()).peakOpenSessions).toBe(1);
    expect(counting.peak()).toBe(1);
  });
});
