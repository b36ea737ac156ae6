/**
 * A BulkVerifier that answers from the address itself, for the file
 * command's tests: the local part picks the verdict, some answers arrive
 * late (to shuffle completion order), some never until close(), and every
 * result is stored the way the engine stores it.
 */
import { BulkClosedError } from '../../src/engine/bulk-verifier.js';
import type { BulkStats, BulkVerifier } from '../../src/engine/bulk-verifier.js';
import type { ResultStore } from '../../src/store/store.js';
import { parseAddress } from '../../src/verify/parse-address.js';
import type { Reason, Verdict, VerificationResult } from '../../src/verify/types.js';

export interface FakeBulkOptions {
  /** Addresses answered after this many milliseconds instead of at once. */
  lateMs?: (email: string) => number;
  /** Addresses never answered: their promise rejects on close(). */
  hangs?: (email: string) => boolean;
  /** Called (in a microtask) after each call with the number of calls so far. */
  onCall?: (calls: number) => void;
  /** Called after each answer with the number of answers so far. */
  onAnswer?: (answers: number) => void;
  /** Answers with this error instead of a result: an engine fault. */
  fails?: (email: string) => Error | null;
}

export interface FakeBulkVerifier extends BulkVerifier {
  calls: string[];
  /** Most verify() promises pending at once. */
  maxPending: number;
  isClosed: boolean;
}

const OUTCOMES: Record<string, [Verdict, Reason, number]> = {
  nobody: ['undeliverable', 'mailbox_not_found', 2],
  info: ['risky', 'catch_all', 50],
  grey: ['unknown', 'greylisted', 50],
};

export function resultFor(email: string, checkedAt = '2025-01-02T03:04:05.000Z') {
  const parsed = parseAddress(email);
  if (!parsed.ok) throw new Error(`fake verifier given an invalid address: ${email}`);
  const local = parsed.address.localPart.toLowerCase().replace(/\d+$/, '');
  const [verdict, reason, score] = OUTCOMES[local] ?? ['deliverable', 'accepted', 95];
  const result: VerificationResult = {
    email,
    normalized: parsed.address.normalized,
    verdict,
    reason,
    score,
    flags: {
      role: local === 'info',
      free: false,
      disposable: false,
      catchAll: reason === 'catch_all',
      smtputf8: false,
    },
    suggestion: null,
    mx: [{ host: `mx.${parsed.address.domain}`, preference: 10 }],
    evidence: null,
    durationMs: 1,
    checkedAt,
  };
  return result;
}

export function createFakeBulkVerifier(
  store: ResultStore,
  options: FakeBulkOptions = {},
): FakeBulkVerifier {
  const rejections = new Set<(error: Error) => void>();
  let pending = 0;
  let answers = 0;

  const fake: FakeBulkVerifier = {
    calls: [],
    maxPending: 0,
    isClosed: false,

    verify(email) {
      fake.calls.push(email);
      const calls = fake.calls.length;
      if (options.onCall) queueMicrotask(() => options.onCall?.(calls));
      if (fake.isClosed) return Promise.reject(new BulkClosedError());
      pending += 1;
      fake.maxPending = Math.max(fake.maxPending, pending);

      return new Promise<VerificationResult>((resolve, reject) => {
        const settle = () => {
          pending -= 1;
          rejections.delete(reject);
        };
        rejections.add(reject);
        if (options.hangs?.(email)) return;

        const answer = async () => {
          if (fake.isClosed) return;
          const failure = options.fails?.(email) ?? null;
          if (failure) {
            settle();
            reject(failure);
            return;
          }
          const result = resultFor(email);
          await store.putResult(result.normalized!, result, Date.now());
          settle();
          resolve(result);
          answers += 1;
          options.onAnswer?.(answers);
        };
        const lateMs = options.lateMs?.(email) ?? 0;
        if (lateMs > 0) setTimeout(() => void answer(), lateMs);
        else queueMicrotask(() => void answer());
      });
    },

    stats(): BulkStats {
      return { addresses: answers, cacheHits: 0, connections: 0, commands: 0, rcpts: 0 };
    },

    async close() {
      fake.isClosed = true;
      for (const reject of rejections) reject(new BulkClosedError());
      rejections.clear();
      pending = 0;
    },
  };
  return fake;
}
