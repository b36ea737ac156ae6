import { describe, expect, it } from 'vitest';

import { createRateLimiter } from '../../src/server/rate-limiter.js';
import { createFakeClock } from './fake-clock.js';

describe('createRateLimiter', () => {
  it('allows a burst, then refuses with the wait until the next token', () => {
    const clock = createFakeClock();
    const limiter = createRateLimiter({ ratePerSecond: 2, burst: 4, clock });

    const decisions = Array.from({ length: 5 }, () => limiter.take('key:a'));
    expect(decisions.slice(0, 4).every((decision) => decision.isAllowed)).toBe(true);
    expect(decisions[4]).toEqual({ isAllowed: false, retryAfterSeconds: 1 });
  });

  it('refills at the configured rate', () => {
    const clock = createFakeClock();
    const limiter = createRateLimiter({ ratePerSecond: 10, burst: 1, clock });

    expect(limiter.take('key:a').isAllowed).toBe(true);
    expect(limiter.take('key:a').isAllowed).toBe(false);
    clock.advance(99);
    expect(limiter.take('key:a').isAllowed).toBe(false);
    clock.advance(101);
    expect(limiter.take('key:a').isAllowed).toBe(true);
  });

  it('rounds a long wait up to whole seconds', () => {
    const clock = createFakeClock();
    const limiter = createRateLimiter({ ratePerSecond: 0.25, burst: 1, clock });

    limiter.take('key:a');
    expect(limiter.take('key:a')).toEqual({ isAllowed: false, retryAfterSeconds: 4 });
  });

  it('keeps callers apart', () => {
    const clock = createFakeClock();
    const limiter = createRateLimiter({ ratePerSecond: 1, burst: 1, clock });

    expect(limiter.take('key:a').isAllowed).toBe(true);
    expect(limiter.take('key:a').isAllowed).toBe(false);
    expect(limiter.take('key:b').isAllowed).toBe(true);
  });

  it('forgets idle callers first when the table is full, and stays bounded', () => {
    const clock = createFakeClock();
    const limiter = createRateLimiter({ ratePerSecond: 1, burst: 2, clock, maxCallers: 3 });

    limiter.take('busy');
    limiter.take('busy');
    limiter.take('idle-1');
    limiter.take('idle-2');
    clock.advance(5_000);
    limiter.take('busy');
    limiter.take('busy');
    // A fourth caller: the idle ones (refilled) are forgotten, the busy one kept.
    expect(limiter.take('new').isAllowed).toBe(true);
    expect(limiter.take('busy').isAllowed).toBe(false);

    for (let index = 0; index < 100; index += 1) limiter.take(`flood-${index}`);
    // The busy caller may have been dropped to make room, which only ever
    // errs on its side; what matters is that no caller was refused wrongly.
    expect(limiter.take('flood-99').isAllowed).toBe(true);
  });
});
