import pino from 'pino';
import { describe, expect, it } from 'vitest';

import { ApiError } from '../../src/server/api-error.js';
import { createQuotaMeter, utcDay } from '../../src/server/quota-meter.js';
import { SqliteKeyStore } from '../../src/store/sqlite-key-store.js';
import { createFakeClock } from './fake-clock.js';

const silent = pino({ level: 'silent' });

async function storeWithKey(): Promise<SqliteKeyStore> {
  const keys = new SqliteKeyStore({ path: ':memory:' });
  await keys.createKey({ id: 'key_a', name: 'a', prefix: 'p', hash: 'h', createdAt: 0 });
  return keys;
}

async function refusal(work: Promise<void>): Promise<ApiError> {
  const error = await work.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe('createQuotaMeter', () => {
  it('charges up to the quota and refuses the charge that would pass it', async () => {
    const clock = createFakeClock(Date.UTC(2025, 2, 1, 23, 0, 0));
    const meter = createQuotaMeter({
      keys: await storeWithKey(),
      dailyQuota: 10,
      clock,
      logger: silent,
    });

    await meter.charge('key_a', 6);
    await meter.charge('key_a', 4);
    const error = await refusal(meter.charge('key_a', 1));

    expect(error.code).toBe('quota_exceeded');
    expect(error.status).toBe(429);
    expect(error.details).toEqual({ quota: 10, used: 10, requested: 1 });
    // An hour before midnight UTC: retry in 3600 seconds.
    expect(error.retryAfter).toBe(3600);
  });

  it('refuses a batch bigger than what is left, without charging any of it', async () => {
    const clock = createFakeClock();
    const meter = createQuotaMeter({
      keys: await storeWithKey(),
      dailyQuota: 10,
      clock,
      logger: silent,
    });

    await meter.charge('key_a', 8);
    await refusal(meter.charge('key_a', 3));
    await expect(meter.charge('key_a', 2)).resolves.toBeUndefined();
  });

  it('starts again at midnight UTC', async () => {
    const clock = createFakeClock(Date.UTC(2025, 2, 1, 23, 59, 0));
    const meter = createQuotaMeter({
      keys: await storeWithKey(),
      dailyQuota: 5,
      clock,
      logger: silent,
    });

    await meter.charge('key_a', 5);
    await refusal(meter.charge('key_a', 1));
    clock.advance(60_000);
    await expect(meter.charge('key_a', 5)).resolves.toBeUndefined();
  });

  it('writes counts to the store on flush, each charge exactly once', async () => {
    const keys = await storeWithKey();
    const clock = createFakeClock();
    const meter = createQuotaMeter({ keys, dailyQuota: 100, clock, logger: silent });

    await meter.charge('key_a', 3);
    await meter.charge('key_a', 4);
    expect(await keys.getUsage('key_a', utcDay(clock.now()))).toBe(0);
    await meter.flush();
    await meter.flush();
    expect(await keys.getUsage('key_a', utcDay(clock.now()))).toBe(7);
  });

  it('writes the day that ended under that day when the next begins', async () => {
    const keys = await storeWithKey();
    const clock = createFakeClock(Date.UTC(2025, 2, 1, 23, 59, 0));
    const meter = createQuotaMeter({ keys, dailyQuota: 100, clock, logger: silent });

    await meter.charge('key_a', 3);
    clock.advance(120_000);
    await meter.charge('key_a', 1);
    await meter.stop();

    expect(await keys.getUsage('key_a', '2025-03-01')).toBe(3);
    expect(await keys.getUsage('key_a', '2025-03-02')).toBe(1);
  });

  it('counts what an earlier process stored for today', async () => {
    const keys = await storeWithKey();
    const clock = createFakeClock();
    await keys.addUsage('key_a', utcDay(clock.now()), 9);
    const meter = createQuotaMeter({ keys, dailyQuota: 10, clock, logger: silent });

    await meter.charge('key_a', 1);
    expect((await refusal(meter.charge('key_a', 1))).details).toMatchObject({ used: 10 });
  });

  it('never lets concurrent charges pass the quota together', async () => {
    const clock = createFakeClock();
    const meter = createQuotaMeter({
      keys: await storeWithKey(),
      dailyQuota: 50,
      clock,
      logger: silent,
    });

    const outcomes = await Promise.allSettled(
      Array.from({ length: 80 }, () => meter.charge('key_a', 1)),
    );
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(50);
  });

  it('counts but never refuses when the quota is 0', async () => {
    const keys = await storeWithKey();
    const clock = createFakeClock();
    const meter = createQuotaMeter({ keys, dailyQuota: 0, clock, logger: silent });

    await meter.charge('key_a', 1_000_000);
    await meter.flush();
    expect(await keys.getUsage('key_a', utcDay(clock.now()))).toBe(1_000_000);
  });

  it('keeps a count the store refused and writes it on the next flush', async () => {
    const keys = await storeWithKey();
    const clock = createFakeClock();
    let isStoreDown = true;
    const flaky = Object.assign(Object.create(keys) as SqliteKeyStore, {
      addUsage: async (id: string, day: string, count: number) => {
        if (isStoreDown) throw new Error('database is locked');
        return keys.addUsage(id, day, count);
      },
    });
    const meter = createQuotaMeter({ keys: flaky, dailyQuota: 100, clock, logger: silent });

    await meter.charge('key_a', 5);
    await meter.flush();
    isStoreDown = false;
    await meter.flush();
    expect(await keys.getUsage('key_a', utcDay(clock.now()))).toBe(5);
  });

  it('sees what other processes charged within one flush, so together they keep the quota', async () => {
    const keys = await storeWithKey();
    const clock = createFakeClock();
    const first = createQuotaMeter({ keys, dailyQuota: 100, clock, logger: silent });
    const second = createQuotaMeter({ keys, dailyQuota: 100, clock, logger: silent });
    await second.charge('key_a', 10);
    await second.flush();

    await first.charge('key_a', 60);
    await first.flush();
    // The second learns of the first's 60 on its next flush, with or without counts of its own.
    await second.flush();
    const error = await refusal(second.charge('key_a', 40));
    expect(error.details).toMatchObject({ used: 70, requested: 40 });

    await second.charge('key_a', 30);
    await second.flush();
    await first.flush();
    await refusal(first.charge('key_a', 1));
    expect(await keys.getUsage('key_a', utcDay(clock.now()))).toBe(100);
  });
});
