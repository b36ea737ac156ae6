/**
 * A BulkVerifier for a process that runs for weeks. The bulk engine is
 * built for one run: it remembers every domain's DNS answer and catch-all
 * answer, and treats a result stored during the run as current, for as
 * long as the run lasts. So the service starts a new generation every
 * `generationMs`: new addresses go to it, and the old one is closed once
 * its last address is answered. That bounds both the memory and how long
 * a DNS or catch-all answer can outlive its lifetime.
 *
 * TODO: an address asked just before a renewal and again just after is
 * verified twice (once per generation) unless the first answer reached the
 * store in between; at one renewal per ten minutes this is rare.
 */
import type { Logger } from 'pino';

import { BulkClosedError } from '../engine/bulk-verifier.js';
import type { BulkStats, BulkVerifier } from '../engine/bulk-verifier.js';
import type { Clock, VerificationResult } from '../verify/types.js';

export interface RenewingVerifierOptions {
  create: () => BulkVerifier;
  /** How long a generation takes new addresses. */
  generationMs: number;
  clock: Clock;
  logger: Logger;
  /** Called with every answer (the metrics count them). */
  onResult?: (result: VerificationResult) => void;
}

interface Generation {
  verifier: BulkVerifier;
  startedAt: number;
  pending: number;
}

const STAT_NAMES = ['addresses', 'cacheHits', 'connections', 'commands', 'rcpts'] as const;

export function createRenewingVerifier(options: RenewingVerifierOptions): BulkVerifier {
  const { clock, logger } = options;
  const start = (): Generation => ({
    verifier: options.create(),
    startedAt: clock.now(),
    pending: 0,
  });

  let current = start();
  const draining = new Set<Generation>();
  const retiredStats: BulkStats = {
    addresses: 0,
    cacheHits: 0,
    connections: 0,
    commands: 0,
    rcpts: 0,
  };
  let isClosed = false;

  const retire = (generation: Generation): void => {
    draining.delete(generation);
    const stats = generation.verifier.stats();
    for (const name of STAT_NAMES) retiredStats[name] += stats[name];
    generation.verifier.close().catch((error: unknown) => {
      logger.warn({ err: error }, 'old verifier generation did not close cleanly');
    });
  };

  const renew = (): void => {
    const old = current;
    current = start();
    logger.debug({ answered: old.verifier.stats().addresses }, 'verifier generation renewed');
    if (old.pending === 0) retire(old);
    else draining.add(old);
  };

  return {
    async verify(email) {
      if (isClosed) throw new BulkClosedError();
      if (clock.now() - current.startedAt >= options.generationMs) renew();

      const generation = current;
      generation.pending += 1;
      try {
        const result = await generation.verifier.verify(email);
        options.onResult?.(result);
        return result;
      } finally {
        generation.pending -= 1;
        if (generation !== current && generation.pending === 0 && !isClosed) retire(generation);
      }
    },
    stats() {
      const total = { ...retiredStats };
      for (const generation of [current, ...draining]) {
        const stats = generation.verifier.stats();
        for (const name of STAT_NAMES) total[name] += stats[name];
      }
      return total;
    },
    async close() {
      if (isClosed) return;
      isClosed = true;
      await Promise.all([current, ...draining].map((generation) => generation.verifier.close()));
      draining.clear();
    },
  };
}
