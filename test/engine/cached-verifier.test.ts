import { describe, expect, it } from 'vitest';

import { createCachedVerifier } from '../../src/engine/cached-verifier.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { Clock, VerificationResult, Verdict } from '../../src/verify/types.js';

const lifetimes = { deliverable: 100, undeliverable: 50, risky: 50, unknown: 10 };

function manualClock(): Clock & { advance(ms: number): void } {
  let now = 1_000_000;
  return {
    now: () => now,
    sleep: async (ms) => void (now += ms),
    advance: (ms) => void (now += ms),
  };
}

function answering(verdicts: Verdict[]) {
  const calls: string[] = [];
  const verify = async (email: string): Promise<VerificationResult> => {
    calls.push(email);
    const verdict = verdicts[Math.min(calls.length - 1, verdicts.length - 1)] ?? 'unknown';
    return {
      email,
      normalized: email.toLowerCase(),
      verdict,
      reason: verdict === 'unknown' ? 'timeout' : 'accepted',
      score: 0,
      flags: { role: false, free: false, disposable: false, catchAll: null, smtputf8: false },
      suggestion: null,
      mx: [],
      evidence: null,
      durationMs: 0,
      checkedAt: new Date(0).toISOString(),
    };
  };
  return { verify, calls };
}

describe('createCachedVerifier', () => {
  it('answers a fresh stored result without verifying again', async () => {
    const clock = manualClock();
    const store = new SqliteStore({ path: ':memory:', lifetimes });
    const { verify, calls } = answering(['deliverable']);
    const cached = createCachedVerifier({ verify, store, mode: 'use', clock });

    await cached('ann@example.net');
    const second = await cached('ann@EXAMPLE.net');
    expect(calls).toHaveLength(1);
    expect(second.verdict).toBe('deliverable');
    expect(second.email).toBe('ann@EXAMPLE.net');
  });

  it('verifies again once the stored result has expired', async () => {
    const clock = manualClock();
    const store = new SqliteStore({ path: ':memory:', lifetimes });
    const { verify, calls } = answering(['deliverable']);
    const cached = createCachedVerifier({ verify, store, mode: 'use', clock });

    await cached('ann@example.net');
    clock.advance(100 * 1000 + 1);
    await cached('ann@example.net');
    expect(calls).toHaveLength(2);
  });

  it('in refresh mode verifies again but keeps a fresh definite answer over a timeout', async () => {
    const clock = manualClock();
    const store = new SqliteStore({ path: ':memory:', lifetimes });
    const { verify, calls } = answering(['deliverable', 'unknown']);

    await createCachedVerifier({ verify, store, mode: 'use', clock })('ann@example.net');
    const refreshed = await createCachedVerifier({ verify, store, mode: 'refresh', clock })(
      'ann@example.net',
    );
    expect(calls).toHaveLength(2);
    expect(refreshed.verdict).toBe('unknown');
    expect((await store.getResult('ann@example.net'))?.result.verdict).toBe('deliverable');
  });

  it('does not touch the store when off', async () => {
    const clock = manualClock();
    const store = new SqliteStore({ path: ':memory:', lifetimes });
    const { verify } = answering(['deliverable']);

    await createCachedVerifier({ verify, store, mode: 'off', clock })('ann@example.net');
    expect(await store.getResult('ann@example.net')).toBeNull();
  });
});
