import { describe, expect, it } from 'vitest';

import { createProgressReporter, formatProgress } from '../../src/cli/progress-reporter.js';
import type { ProgressCounts } from '../../src/cli/progress-reporter.js';

function fakeStream(isTTY: boolean, columns = 120) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns, write: (text: string) => writes.push(text) } };
}

function manualTimer() {
  let tick: (() => void) | null = null;
  let stopped = false;
  return {
    every: (_ms: number, next: () => void) => {
      tick = next;
      return () => void (stopped = true);
    },
    fire: () => tick?.(),
    isStopped: () => stopped,
  };
}

describe('formatProgress', () => {
  it('shows a bar, the share, the counts, the rate and the time left once the total is known', () => {
    const counts: ProgressCounts = { done: 250, total: 1000, isTotalKnown: true };
    expect(formatProgress('verifying', 'addresses', counts, 10_000)).toBe(
      'verifying [#####...............]  25%  250/1,000 addresses  25/s  ETA 30s',
    );
  });

  it('shows what is done of what is read so far while the total is unknown', () => {
    const counts: ProgressCounts = { done: 4100, total: 12_000, isTotalKnown: false };
    expect(formatProgress('verifying', 'addresses', counts, 41_000)).toBe(
      'verifying  4,100/12,000+ addresses  100/s',
    );
  });

  it('has no estimate before the first answer', () => {
    const counts: ProgressCounts = { done: 0, total: 10, isTotalKnown: true };
    expect(formatProgress('verifying', 'addresses', counts, 5_000)).toMatch(/ETA \?$/);
  });
});

describe('createProgressReporter', () => {
  it('redraws one line in place on a terminal, cut to its width, and ends it', () => {
    const { writes, stream } = fakeStream(true, 40);
    const timer = manualTimer();
    let counts: ProgressCounts = { done: 1, total: 4, isTotalKnown: false };
    const reporter = createProgressReporter({
      stream,
      now: () => 0,
      label: 'verifying',
      noun: 'addresses',
      read: () => counts,
      every: timer.every,
    });

    timer.fire();
    timer.fire();
    counts = { done: 2, total: 4, isTotalKnown: true };
    reporter.finish();

    expect(writes).toEqual([
      '\rverifying  1/4+ addresses  -/s\x1b[K',
      '\rverifying [##########..........]  50%  \x1b[K',
      '\n',
    ]);
    expect(timer.isStopped()).toBe(true);
  });

  it('writes whole lines elsewhere, one a tick and one at the end', () => {
    const { writes, stream } = fakeStream(false);
    const timer = manualTimer();
    let now = 0;
    const reporter = createProgressReporter({
      stream,
      now: () => now,
      label: 'writing',
      noun: 'rows',
      read: () => ({ done: 10, total: 10, isTotalKnown: true }),
      every: timer.every,
    });

    now = 5_000;
    timer.fire();
    reporter.finish();
    reporter.finish();

    expect(writes).toHaveLength(2);
    expect(writes.every((line) => line.startsWith('writing [') && line.endsWith('\n'))).toBe(true);
  });
});
