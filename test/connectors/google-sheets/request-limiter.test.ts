import { describe, expect, it } from 'vitest';

import { createRequestLimiter } from '../../../connectors/google-sheets/request-limiter.js';

function fakeTime() {
  let now = 1_000_000;
  const sleeps: number[] = [];
  return {
    deps: {
      now: () => now,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        now += ms;
      },
    },
    sleeps,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('createRequestLimiter', () => {
  it('lets 60 requests through at once and makes the 61st wait for the window', async () => {
    const time = fakeTime();
    const limiter = createRequestLimiter(60, time.deps);

    for (let request = 0; request < 60; request += 1) await limiter.acquire();
    expect(time.sleeps).toEqual([]);

    await limiter.acquire();
    expect(time.sleeps).toEqual([60_000]);
  });

  it('waits only until the oldest request leaves the minute', async () => {
    const time = fakeTime();
    const limiter = createRequestLimiter(2, time.deps);

    await limiter.acquire();
    time.advance(45_000);
    await limiter.acquire();
    await limiter.acquire();

    expect(time.sleeps).toEqual([15_000]);
  });

  it('never lets more than the limit through in any minute, callers at once', async () => {
    const time = fakeTime();
    const limiter = createRequestLimiter(5, time.deps);
    const sentAt: number[] = [];

    await Promise.all(
      Array.from({ length: 17 }, () => limiter.acquire().then(() => sentAt.push(time.deps.now()))),
    );

    for (const start of sentAt) {
      const inWindow = sentAt.filter((at) => at >= start && at < start + 60_000);
      expect(inWindow.length).toBeLessThanOrEqual(5);
    }
    expect(sentAt).toHaveLength(17);
  });
});
