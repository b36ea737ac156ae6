import { describe, expect, it } from 'vitest';

import {
  createPortalRateLimiter,
  HubspotStopError,
} from '../../../connectors/hubspot/portal-rate-limiter.js';
import { fakeClock } from './fake-portal.js';

const answer =
  (headers: Record<string, string> = {}) =>
  async () => ({
    httpStatusCode: 200,
    headers,
    data: 'ok',
  });

function apiError(code: number, headers: Record<string, string> = {}, body: unknown = {}) {
  return Object.assign(new Error(`HTTP-Code: ${code}`), { code, headers, body });
}

describe('createPortalRateLimiter', () => {
  it('waits for the window to refill when the headers say it is spent', async () => {
    const clock = fakeClock(0);
    const limiter = createPortalRateLimiter({ clock });
    const spent = {
      'X-HubSpot-RateLimit-Remaining': '1',
      'X-HubSpot-RateLimit-Interval-Milliseconds': '10000',
    };

    await limiter.call('standard', answer(spent));
    await limiter.call('standard', answer());

    expect(clock.sleeps).toEqual([10_000]);
  });

  it('does not wait while the window has room', async () => {
    const clock = fakeClock(0);
    const limiter = createPortalRateLimiter({ clock });
    const roomy = { 'x-hubspot-ratelimit-remaining': '150' };

    for (let call = 0; call < 5; call += 1) await limiter.call('standard', answer(roomy));

    expect(clock.sleeps).toEqual([]);
  });

  it('holds search calls to their own per-second limit', async () => {
    const clock = fakeClock(0);
    const limiter = createPortalRateLimiter({ clock, searchPerSecond: 4 });

    for (let call = 0; call < 3; call += 1) await limiter.call('search', answer());
    await limiter.call('standard', answer());

    expect(clock.sleeps).toEqual([250, 250]);
  });

  it('gives up after the last attempt at a 5xx, as a server_error stop', async () => {
    const clock = fakeClock(0);
    const limiter = createPortalRateLimiter({ clock, maxAttempts: 3 });

    const failing = async () => {
      throw apiError(503);
    };
    const attempt = limiter.call('standard', failing);

    await expect(attempt).rejects.toBeInstanceOf(HubspotStopError);
    await expect(attempt).rejects.toMatchObject({ reason: 'server_error', status: 503 });
    expect(clock.sleeps).toEqual([500, 1000]);
    expect(limiter.callsSent()).toBe(3);
  });

  it('stops at once on a 4xx that is not a rate limit', async () => {
    const clock = fakeClock(0);
    const limiter = createPortalRateLimiter({ clock });

    const attempt = limiter.call('standard', async () => {
      throw apiError(401);
    });

    await expect(attempt).rejects.toMatchObject({ reason: 'refused', status: 401 });
    expect(limiter.callsSent()).toBe(1);
  });
});

describe('a 429 without advice', () => {
  it('waits one second for search and the ten-second window otherwise', async () => {
    const clock = fakeClock(0);
    const limiter = createPortalRateLimiter({ clock, searchPerSecond: 1000 });
    const body = { status: 'error', message: 'You have reached your secondly limit.' };
    const once = () => {
      let isFirst = true;
      return async () => {
        if (!isFirst) return { httpStatusCode: 200, headers: {}, data: 'ok' };
        isFirst = false;
        throw apiError(429, {}, body);
      };
    };

    await limiter.call('search', once());
    await limiter.call('standard', once());

    expect(clock.sleeps.filter((ms) => ms >= 1000)).toEqual([1000, 10_000]);
  });

  it('ends at once when the daily limit is spent', async () => {
    const clock = fakeClock(0);
    const limiter = createPortalRateLimiter({ clock });
    const daily = apiError(429, {}, JSON.stringify({ policyName: 'DAILY' }));

    const attempt = limiter.call('standard', async () => {
      throw daily;
    });

    await expect(attempt).rejects.toMatchObject({ reason: 'daily_limit' });
    expect(clock.sleeps).toEqual([]);
  });
});
