import type { Clock } from '../../src/verify/types.js';

export interface FakeClock extends Clock {
  advance(ms: number): void;
  set(ms: number): void;
}

/** A clock that moves only when told; sleep resolves at once. */
export function createFakeClock(start = Date.UTC(2025, 2, 1, 12, 0, 0)): FakeClock {
  let now = start;
  return {
    now: () => now,
    sleep: async () => {},
    advance: (ms) => void (now += ms),
    set: (ms) => void (now = ms),
  };
}
