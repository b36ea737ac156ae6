/**
 * The result of an address that fails the syntax check, made without the
 * verifier: it has no cache key (no normalized form) to be found by later.
 * It says what the core says for it (verify-address.ts, the syntax step).
 */
import type { VerificationResult } from '../../src/index.js';

export function invalidAddressResult(
  email: string,
  detail: string,
  checkedAt: string,
): VerificationResult {
  return {
    email,
    normalized: null,
    verdict: 'undeliverable',
    reason: 'invalid_syntax',
    score: 0,
    flags: { role: false, free: false, disposable: false, catchAll: null, smtputf8: false },
    suggestion: null,
    mx: [],
    evidence: {
      stage: 'syntax',
      host: null,
      ip: null,
      code: null,
      enhancedCode: null,
      text: detail,
      attempts: 1,
    },
    durationMs: 0,
    checkedAt,
  };
}
