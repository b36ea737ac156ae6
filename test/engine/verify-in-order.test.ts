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

  it('never holds more addresses in hand than the window', async () => {
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
    expect(results.map((result) => result.email)).toEqual(input);
    expect(peak).toBeLessThanOrEqual(4);
    expect(peak).toBeGreaterThan(1);
  });

  it('yields an early answer before a slow one that came later has finished', async () => {
    const yielded: string[] = [];
    let slowDone = false;
    const verify = async (email: string) => {
      if (email === 'slow@x.io') {
        await delay(80);
        slowDone = true;
      }
      return fakeResult(email);
    };

    for await (const result of verifyInOrder(['fast@x.io', 'slow@x.io'], verify, 10)) {
      yielded.push(`${result.email}:${slowDone}`);
    }
    expect(yielded).toEqual(['fast@x.io:false', 'slow@x.io:true']);
  });
});
