/**
 * Puts the result cache in front of the verification core: a fresh stored
 * verdict is answered without network traffic, and new verdicts are stored
 * with the lifetime of their verdict.
 */
import type { DomainFact, ResultStore } from '../store/store.js';
import type { CatchAllMemory } from '../verify/detect-catch-all.js';
import { parseAddress } from '../verify/parse-address.js';
import type { Clock, VerificationResult } from '../verify/types.js';

/** `use`: read and write; `refresh`: skip reading, still write; `off`: neither. */
export type CacheMode = 'use' | 'refresh' | 'off';

export type VerifyOne = (email: string) => Promise<VerificationResult>;

export interface CachedVerifierOptions {
  verify: VerifyOne;
  store: ResultStore;
  mode: CacheMode;
  clock: Clock;
}

export function createCachedVerifier(options: CachedVerifierOptions): VerifyOne {
  const { verify, store, mode, clock } = options;
  if (mode === 'off') return verify;

  return async (email) => {
    const parsed = parseAddress(email);
    if (!parsed.ok) return verify(email);
    const key = parsed.address.normalized;

    if (mode === 'use') {
      const stored = await store.getResult(key);
      if (stored && stored.expiresAt > clock.now()) return { ...stored.result, email };
    }

    const result = await verify(email);
    await store.putResult(key, result, clock.now());
    return result;
  };
}

/** The catch-all memory of the core, kept in the store. */
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
