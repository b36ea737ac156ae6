import pino from 'pino';
import { describe, expect, it } from 'vitest';

import {
  createGoogleCaller,
  GoogleApiError,
} from '../../../connectors/google-sheets/call-google.js';

function caller() {
  const sleeps: number[] = [];
  let acquired = 0;
  const call = createGoogleCaller({
    limiter: {
      acquire: async () => {
        acquired += 1;
      },
    },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    logger: pino({ level: 'silent' }),
  });
  return { call, sleeps, acquired: () => acquired };
}

function httpError(status: number, headers: Record<string, string> = {}) {
  return Object.assign(new Error(`status ${status}`), {
    status,
    response: { status, headers: new Headers(headers) },
  });
}

describe('createGoogleCaller', () => {
  it('does not retry a 400, which would fail the same way again', async () => {
    const { call, sleeps } = caller();
    let attempts = 0;

    const attempt = call('values.batchUpdate', async () => {
      attempts += 1;
      throw httpError(400);
    });

    await expect(attempt).rejects.toMatchObject({ status: 400, attempts: 1 });
    expect(attempts).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('retries a reset connection and counts every attempt against the limiter', async () => {
    const { call, acquired, sleeps } = caller();
    let attempts = 0;

    const data = await call('spreadsheets.get', async () => {
      attempts += 1;
      if (attempts < 3) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      return { data: 'ok' };
    });

    expect(data).toBe('ok');
    expect(acquired()).toBe(3);
    expect(sleeps).toEqual([1_500, 2_500]);
  });

  it('backs off exponentially with jitter and stops after 6 attempts', async () => {
    const { call, sleeps } = caller();

    const attempt = call('spreadsheets.batchUpdate', async () => {
      throw httpError(503);
    });

    await expect(attempt).rejects.toBeInstanceOf(GoogleApiError);
    expect(sleeps).toEqual([1_500, 2_500, 4_500, 8_500, 16_500]);
  });

  it('waits as long as Retry-After asks when it is longer than the backoff', async () => {
    const { call, sleeps } = caller();
    let attempts = 0;

    await call('spreadsheets.get', async () => {
      attempts += 1;
      if (attempts === 1) throw httpError(429, { 'Retry-After': '30' });
      return { data: null };
    });

    expect(sleeps).toEqual([30_000]);
  });
});
