/**
 * A BulkVerifier whose answers the test decides: a result at once, or a
 * promise the test settles when it wants (a slow server).
 */
import { BulkClosedError } from '../../src/engine/bulk-verifier.js';
import type { BulkStats, BulkVerifier } from '../../src/engine/bulk-verifier.js';
import type { Reason, VerificationResult, Verdict } from '../../src/verify/types.js';

export function resultFor(
  email: string,
  verdict: Verdict = 'deliverable',
  reason: Reason = 'accepted',
): VerificationResult {
  return {
    email,
    normalized: email.toLowerCase(),
    verdict,
    reason,
    score: verdict === 'deliverable' ? 95 : 0,
    flags: { role: false, free: false, disposable: false, catchAll: false, smtputf8: false },
    suggestion: null,
    mx: [{ host: 'mx.acme.test', preference: 10 }],
    evidence: {
      stage: 'rcpt',
      host: 'mx.acme.test',
      ip: '127.0.0.61',
      code: verdict === 'deliverable' ? 250 : 550,
      enhancedCode: verdict === 'deliverable' ? '2.1.5' : '5.1.1',
      text: verdict === 'deliverable' ? 'OK' : 'No such user',
      attempts: 1,
    },
    durationMs: 12,
    checkedAt: '2025-03-01T12:00:00.000Z',
  };
}

export interface FakeVerifier extends BulkVerifier {
  /** Addresses asked, in order. */
  asked: string[];
  /** Makes `email` wait until `release(email)`. */
  hold(email: string): void;
  release(email: string, result?: VerificationResult): void;
  isClosed: boolean;
}

export function createFakeVerifier(
  answer: (email: string) => VerificationResult = (email) => resultFor(email),
): FakeVerifier {
  const held = new Set<string>();
  const waiting = new Map<string, ((result: VerificationResult) => void)[]>();
  const failures = new Set<(error: Error) => void>();
  const counts: BulkStats = { addresses: 0, cacheHits: 0, connections: 0, commands: 0, rcpts: 0 };

  const fake: FakeVerifier = {
    asked: [],
    isClosed: false,
    hold: (email) => void held.add(email),
    release(email, result = answer(email)) {
      held.delete(email);
      for (const resolve of waiting.get(email) ?? []) resolve(result);
      waiting.delete(email);
    },
    verify(email) {
      fake.asked.push(email);
      if (fake.isClosed) return Promise.reject(new BulkClosedError());
      counts.addresses += 1;
      if (!held.has(email)) return Promise.resolve(answer(email));
      return new Promise((resolve, reject) => {
        waiting.set(email, [...(waiting.get(email) ?? []), resolve]);
        failures.add(reject);
      });
    },
    stats: () => ({ ...counts }),
    async close() {
      fake.isClosed = true;
      for (const fail of failures) fail(new BulkClosedError());
      failures.clear();
    },
  };
  return fake;
}
