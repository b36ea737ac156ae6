/**
 * The core's catch-all memory kept in the store, so that a domain's answer
 * outlives the run for as long as its lifetime.
 */
import type { DomainFact, ResultStore } from '../store/store.js';
import type { CatchAllMemory } from '../verify/detect-catch-all.js';
import type { Clock } from '../verify/types.js';

/** `use`: read and write; `refresh`: skip reading, still write; `off`: neither. */
export type CacheMode = 'use' | 'refresh' | 'off';

export function createStoredCatchAllMemory(
  store: ResultStore,
  lifetimeSeconds: number,
  clock: Clock,
): CatchAllMemory {
  return {
    async recall(domain) {
      const fact = await store.getDomainFact(domain, 'catch_all', clock.now());
      return fact ? fact.value : null;
    },
    async remember(domain, isCatchAll) {
      const fact: DomainFact = {
        value: isCatchAll,
        expiresAt: clock.now() + lifetimeSeconds * 1000,
      };
      await store.putDomainFact(domain, 'catch_all', fact);
    },
  };
}
