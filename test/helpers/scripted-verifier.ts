/**
 * A BulkVerifier for job and scheduler tests: the local part picks the
 * verdict, answers arrive after a chosen delay or when the test releases
 * them, and every call is counted, so tests can see what was verified,
 * how often, and how many calls were pending at once.
 */
import { BulkClosedError } from '../../src/engine/bulk-verifier.js';
import type { BulkStats, BulkVerifier } from '../../src/engine/bulk-verifier.js';
import type { Reason, Verdict, VerificationResult } from '../../src/verify/types.js';

const OUTCOMES: Record<string, [Verdict, Reason]> = {
  nobody: ['undeliverable', 'mailbox_not_found'],
  info: ['risky', 'catch_all'],
  grey: ['unknown', 'greylisted'],
};

export function scriptedResult(email: string, checkedAt = '2025-01-02T03:04:05.000Z') {
  const at = email.lastIndexOf('@');
  const local = email.slice(0, at).toLowerCase().replace(/\d+$/, '');
  const domain = email.slice(at + 1).toLowerCase();
  const [verdict, reason] = OUTCOMES[local] ?? ['deliverable', 'accepted'];
  const result: VerificationResult = {
    email,
    normalized: `${email.slice(0, at)}@${domain}`,
    verdict,
    reason,
    score: verdict === 'deliverable' ? 95 : 10,
    flags: { role: false, free: false, disposable: false, catchAll: null, smtputf8: false },
    suggestion: null,
    mx: [{ host: `mx.${domain}`, preference: 10 }],
    evidence: null,
    durationMs: 1,
    checkedAt,
  };
  return result;
}

export interface ScriptedVerifierOptions {
  /** Milliseconds before an address is answered; 0 answers on the next tick. */
  delayMs?: (email: string) => number;
  /** Addresses answered only when the test calls release(). */
  isHeld?: (email: string) => boolean;
  /** An engine fault instead of a result. */
  failure?: (email: string) => Error | null;
}

export interface ScriptedVerifier extends BulkVerifier {
  calls: string[];
  pending: number;
  maxPending: number;
  /** Answers every held address. */
  release(): void;
}

export function createScriptedVerifier(options: ScriptedVerifierOptions = {}): ScriptedVerifier {
  const held: (() => void)[] = [];
  const rejections = new Set<(error: Error) => void>();
  let isClosed = false;

  const verifier: ScriptedVerifier = {
    calls: [],
    pending: 0,
    maxPending: 0,

    verify(email) {
      verifier.calls.push(email);
      if (isClosed) return Promise.reject(new BulkClosedError());
      verifier.pending += 1;
      verifier.maxPending = Math.max(verifier.maxPending, verifier.pending);

      return new Promise<VerificationResult>((resolve, reject) => {
        rejections.add(reject);
        const answer = () => {
          if (!rejections.delete(reject)) return;
          verifier.pending -= 1;
          const failure = options.failure?.(email) ?? null;
          if (failure) reject(failure);
          else resolve(scriptedResult(email));
        };
        if (options.isHeld?.(email)) held.push(answer);
        else setTimeout(answer, options.delayMs?.(email) ?? 0);
      });
    },

    release() {
      held.splice(0).forEach((answer) => answer());
    },

    stats(): BulkStats {
      const addresses = verifier.calls.length;
      return { addresses, cacheHits: 0, connections: 0, commands: 0, rcpts: 0 };
    },

    async close() {
      isClosed = true;
      for (const reject of rejections) reject(new BulkClosedError());
      verifier.pending -= rejections.size;
      rejections.clear();
    },
  };
  return verifier;
}
