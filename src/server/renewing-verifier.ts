/**
 * A BulkVerifier for a process that runs for weeks. The bulk engine is
 * built for one run: it remembers every domain's DNS answer and catch-all
 * answer, and treats a result stored during the run as current, for as
 * long as the run lasts. So the service starts a new generation every
 * `generationMs`: new addresses go to it, and the old one is closed once
 * its last address is answered. That bounds both the memory and how long
 * a DNS or catch-all answer can outlive its lifetime. An address still
 * being verified by an old generation is answered from there, so a renewal
 * never verifies one address twice at the same time.
 */
import type { Logger } from 'pino';

import { BulkClosedError } from '../engine/bulk-verifier.js';
import type { BulkStats, BulkVerifier } from '../engine/bulk-verifier.js';
import { parseAddress } from '../verify/parse-address.js';
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
  /** Answers on their way, by normalized address. */
  inFlight: Map<string, Promise<VerificationResult>>;
}

const STAT_NAMES = ['addresses', 'cacheHits', 'connections', 'commands', 'rcpts'] as const;

export function createRenewingVerifier(options: RenewingVerifierOptions): BulkVerifier {
  const { clock, logger } = options;
  const start = (): Generation => ({
    verifier: options.create(),
    startedAt: clock.now(),
    pending: 0,
    inFlight: new Map(),
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

  /** The answer an old generation is still working on for this address. */
  const answerInFlight = (key: string | null): Promise<VerificationResult> | undefined => {
    if (key === null) return undefined;
    for (const generation of draining) {
      const answer = generation.inFlight.get(key);
      if (answer) return answer;
    }
    return undefined;
  };

  return {
    async verify(email) {
      if (isClosed) throw new BulkClosedError();
      if (clock.now() - current.startedAt >= options.generationMs) renew();

      const syntax = parseAddress(email);
      const key = syntax.ok ? syntax.address.normalized : null;
      const earlier = answerInFlight(key);
      if (earlier) {
        const result = { ...(await earlier), email };
        options.onResult?.(result);
        return result;
      }

      const generation = current;
      generation.pending += 1;
      const answer = generation.verifier.verify(email);
      if (key !== null && !generation.inFlight.has(key)) generation.inFlight.set(key, answer);
      try {
        const result = await answer;
        options.onResult?.(result);
        return result;
      } finally {
        if (key !== null && generation.inFlight.get(key) === answer)
          generation.inFlight.delete(key);
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
