import { describe, expect, it } from 'vitest';

import { verifyInOrder } from '../../src/engine/verify-in-order.js';
import type { VerificationResult } from '../../src/verify/types.js';

function fakeResult(email: string): VerificationResult {
  return {
    email,
    normalized: email,
    verdict: 'deliverable',
    reason: 'accepted',
    score: 95,
    flags: { role: false, free: false, disposable: false, catchAll: false, smtputf8: false },
    suggestion: null,
    mx: [],
    evidence: null,
    durationMs: 0,
    checkedAt: new Date(0).toISOString(),
  };
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('verifyInOrder', () => {
  it('yields results in input order even when later ones finish first', async () => {
    const timings: Record<string, number> = { 'a@x.io': 60, 'b@x.io': 5, 'c@x.io': 30 };
    const verify = async (email: string) => {
      await delay(timings[email] ?? 0);
      return fakeResult(email);
    };

    const emails: string[] = [];
    for await (const result of verifyInOrder(Object.keys(timings), verify, 3)) {
      emails.push(result.email);
    }
    expect(emails).toEqual(['a@x.io', 'b@x.io', 'c@x.io']);
  });

  it('never runs more verifications at once than the concurrency', async () => {
    let running = 0;
    let peak = 0;
    const verify = async (email: string) => {
      running += 1;
      peak = Math.max(peak, running);
      await delay(5);
      running -= 1;
      return fakeResult(email);
    };

    const input = Array.from({ length: 20 }, (_, index) => `user${index}@x.io`);
    const results = [];
    for await (const result of verifyInOrder(input, verify, 4)) results.push(result);
    expect(results).toHaveLength(20);
    expect(peak).toBe(4);
  });

  it('verifies a repeated address once and answers it for every occurrence', async () => {
    const calls: string[] = [];
    const verify = async (email: string) => {
      calls.push(email);
      return fakeResult(email);
    };

    const results = [];
    for await (const result of verifyInOrder(['a@x.io', 'b@x.io', 'a@x.io'], verify, 2)) {
      results.push(result.email);
    }
    expect(results).toEqual(['a@x.io', 'b@x.io', 'a@x.io']);
    expect(calls).toEqual(['a@x.io', 'b@x.io']);
  });
});
