import fc from 'fast-check';
import cron from 'node-cron';
import { describe, expect, it } from 'vitest';

import {
  checkCronExpression,
  isValidTimezone,
  nextRunAfter,
} from '../../src/scheduler/next-run.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

describe('nextRunAfter', () => {
  it('finds the next quarter hour, strictly after the given instant', () => {
    expect(iso(nextRunAfter('*/15 * * * *', at('2025-05-01T10:07:30Z'), 'UTC'))).toBe(
      '2025-05-01T10:15:00.000Z',
    );
    expect(iso(nextRunAfter('*/15 * * * *', at('2025-05-01T10:15:00Z'), 'UTC'))).toBe(
      '2025-05-01T10:30:00.000Z',
    );
  });

  it('reads a sixth field as seconds', () => {
    expect(iso(nextRunAfter('*/10 * * * * *', at('2025-05-01T10:00:01.500Z'), 'UTC'))).toBe(
      '2025-05-01T10:00:10.000Z',
    );
  });

  it('runs at the wall-clock time of the time zone', () => {
    expect(iso(nextRunAfter('0 3 * * *', at('2025-01-15T12:00:00Z'), 'America/New_York'))).toBe(
      '2025-01-16T08:00:00.000Z',
    );
    expect(iso(nextRunAfter('0 3 * * *', at('2025-07-15T12:00:00Z'), 'Asia/Kolkata'))).toBe(
      '2025-07-15T21:30:00.000Z',
    );
  });

  it('crosses month and year ends', () => {
    expect(iso(nextRunAfter('0 0 1 * *', at('2025-12-31T23:59:59Z'), 'UTC'))).toBe(
      '2026-01-01T00:00:00.000Z',
    );
    expect(iso(nextRunAfter('0 12 29 2 *', at('2025-03-01T00:00:00Z'), 'UTC'))).toBe(
      '2028-02-29T12:00:00.000Z',
    );
  });

  it('requires both day fields to match, as node-cron does', () => {
    // The 13th that is a Friday: June 2025.
    expect(iso(nextRunAfter('0 9 13 * 5', at('2025-01-01T00:00:00Z'), 'UTC'))).toBe(
      '2025-06-13T09:00:00.000Z',
    );
  });

  it('understands last day, nearest weekday, nth and last weekday', () => {
    const from = at('2025-05-01T00:00:00Z');
    expect(iso(nextRunAfter('0 0 L * *', from, 'UTC'))).toBe('2025-05-31T00:00:00.000Z');
    expect(iso(nextRunAfter('0 0 L-2 * *', from, 'UTC'))).toBe('2025-05-29T00:00:00.000Z');
    // 15 June 2025 is a Sunday: the nearest weekday is Monday the 16th.
    expect(iso(nextRunAfter('0 0 15W 6 *', from, 'UTC'))).toBe('2025-06-16T00:00:00.000Z');
    // 31 May 2025 is a Saturday: the last weekday is Friday the 30th.
    expect(iso(nextRunAfter('0 0 LW * *', from, 'UTC'))).toBe('2025-05-30T00:00:00.000Z');
    expect(iso(nextRunAfter('0 0 * * 2#3', from, 'UTC'))).toBe('2025-05-20T00:00:00.000Z');
    expect(iso(nextRunAfter('0 0 * * 5L', from, 'UTC'))).toBe('2025-05-30T00:00:00.000Z');
  });

  it('skips a run whose time the spring-forward change skips (New York, 9 March 2025)', () => {
    const zone = 'America/New_York';
    expect(iso(nextRunAfter('30 2 * * *', at('2025-03-08T08:00:00Z'), zone))).toBe(
      '2025-03-10T06:30:00.000Z',
    );
    expect(iso(nextRunAfter('0 3 * * *', at('2025-03-08T09:00:00Z'), zone))).toBe(
      '2025-03-09T07:00:00.000Z',
    );
    // 01:45 EST, then the clocks jump from 02:00 to 03:00 EDT.
    expect(iso(nextRunAfter('*/15 * * * *', at('2025-03-09T06:45:00Z'), zone))).toBe(
      '2025-03-09T07:00:00.000Z',
    );
  });

  it('runs a repeated time once, at its first occurrence (New York, 2 November 2025)', () => {
    const zone = 'America/New_York';
    const first = nextRunAfter('30 1 * * *', at('2025-11-02T00:00:00Z'), zone);
    expect(iso(first)).toBe('2025-11-02T05:30:00.000Z');
    expect(iso(nextRunAfter('30 1 * * *', first!, zone))).toBe('2025-11-03T06:30:00.000Z');
  });

  it('pauses a sub-hourly schedule during the repeated hour (Berlin, 26 October 2025)', () => {
    const zone = 'Europe/Berlin';
    // 02:45 CEST; the next wall-clock quarter not yet seen is 03:00 CET.
    expect(iso(nextRunAfter('*/15 * * * *', at('2025-10-26T00:45:00Z'), zone))).toBe(
      '2025-10-26T02:00:00.000Z',
    );
    expect(iso(nextRunAfter('30 2 * * *', at('2025-10-25T12:00:00Z'), zone))).toBe(
      '2025-10-26T00:30:00.000Z',
    );
  });

  it('gives null for a schedule that never comes again', () => {
    // The 31st is never in a month's first week.
    expect(iso(nextRunAfter('0 0 31 * 2#1', at('2025-01-01T00:00:00Z'), 'UTC'))).toBeNull();
  });

  it('agrees with node-cron on the next matching minute where clocks do not change', () => {
    const expressions = ['*/7 * * * *', '5 */3 * * *', '0 9 * * 1-5', '30 2 1,15 * *'];
    const zones = ['UTC', 'Asia/Kolkata', 'Asia/Tokyo'];
    const start = at('2024-01-01T00:00:00Z');
    fc.assert(
      fc.property(
        fc.constantFrom(...expressions),
        fc.constantFrom(...zones),
        fc.integer({ min: 0, max: 365 * 86_400 }),
        (expression, zone, offsetSeconds) => {
          const after = start + offsetSeconds * 1000;
          const next = nextRunAfter(expression, after, zone);
          const task = cron.createTask(expression, () => undefined, { timezone: zone });
          try {
            let expected = (Math.floor(after / 60_000) + 1) * 60_000;
            while (!task.match(new Date(expected))) expected += 60_000;
            expect(next).toBe(expected);
          } finally {
            void task.destroy();
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('checkCronExpression', () => {
  it('lists what is wrong, in node-cron words, and nothing for a good expression', () => {
    expect(checkCronExpression('0 3 * * *')).toEqual([]);
    expect(checkCronExpression('61 * * * *')).toEqual([
      'minute: 61 is a invalid expression for minute',
    ]);
    expect(checkCronExpression('soon')[0]).toMatch(/expected 5 or 6 fields/);
  });
});

describe('isValidTimezone', () => {
  it('accepts IANA names and refuses made-up ones', () => {
    expect(isValidTimezone('Europe/Paris')).toBe(true);
    expect(isValidTimezone('Mars/Olympus_Mons')).toBe(false);
  });
});
