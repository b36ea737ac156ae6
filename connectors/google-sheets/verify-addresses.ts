/**
 * Verifies a sheet's distinct addresses with a bounded number pending at
 * once (the bulk verifier shares SMTP sessions among them), letting the
 * caller flush results between answers. An address that fails the syntax
 * check gets the core's invalid_syntax result without a verifier call.
 */
import { invalidAddressResult } from '../csv/invalid-address-result.js';
import { parseAddress } from '../../src/index.js';
import type { VerificationResult } from '../../src/index.js';
import type { AddressVerifier, SyncDeps } from './sync-spreadsheet.js';

/** Verifications pending at once. */
export const MAX_IN_FLIGHT = 64;

type VerifyDeps = Pick<SyncDeps, 'now' | 'logger' | 'signal' | 'maxInFlight'> & {
  verifier: AddressVerifier;
};

export interface VerifyHooks {
  onResult: (key: string, result: VerificationResult) => Promise<void>;
  onFailure: (key: string, error: unknown) => void;
  shouldFlush: (sinceFlushMs: number) => boolean;
  flush: () => Promise<void>;
}

/** At most maxInFlight verifications pending; flushes between answers. */
export async function verifyAll(
  addresses: ReadonlyMap<string, string>,
  deps: VerifyDeps,
  hooks: VerifyHooks,
): Promise<void> {
  const queue = [...addresses];
  const limit = deps.maxInFlight ?? MAX_IN_FLIGHT;
  const inFlight = new Set<Promise<void>>();
  let lastFlush = deps.now();

  const start = (key: string, email: string) => {
    const task = verifyOne(email, deps)
      .then(
        (result) => hooks.onResult(key, result),
        (error: unknown) => {
          deps.logger.warn({ err: error }, 'sheet address not verified');
          hooks.onFailure(key, error);
        },
      )
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
  };

  // Each pass starts at least one verification or waits for one to end.
  while (queue.length > 0 || inFlight.size > 0) {
    while (queue.length > 0 && inFlight.size < limit && !deps.signal?.aborted) {
      const [key, email] = queue.shift()!;
      start(key, email);
    }
    if (inFlight.size === 0) break;
    await Promise.race(inFlight);
    if (hooks.shouldFlush(deps.now() - lastFlush)) {
      await hooks.flush();
      lastFlush = deps.now();
    }
  }
}

function verifyOne(email: string, deps: VerifyDeps): Promise<VerificationResult> {
  const parsed = parseAddress(email);
  if (!parsed.ok) {
    const checkedAt = new Date(deps.now()).toISOString();
    return Promise.resolve(invalidAddressResult(email, parsed.detail, checkedAt));
  }
  return deps.verifier.verify(email);
}
