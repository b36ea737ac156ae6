import { describe, expect, it } from 'vitest';

import { authenticateApiKey, hashApiKey, issueApiKey } from '../../src/server/api-keys.js';
import { SqliteKeyStore } from '../../src/store/sqlite-key-store.js';

/** Bytes 0, 1, 2... so that keys are predictable and prefixes can collide on purpose. */
function countingBytes(start = 0) {
  let next = start;
  return (size: number) => Buffer.from(Array.from({ length: size }, () => next++ % 256));
}

describe('issueApiKey', () => {
  it('returns a mv_live_ key of 64 hex digits and stores only its hash and prefix', async () => {
    const keys = new SqliteKeyStore({ path: ':memory:' });
    const issued = await issueApiKey(keys, 'crm sync', 1_000);

    expect(issued.key).toMatch(/^mv_live_[0-9a-f]{64}$/);
    expect(issued.record).toMatchObject({ name: 'crm sync', createdAt: 1_000, revokedAt: null });
    expect(issued.record.id).toMatch(/^key_[0-9a-f]{12}$/);
    expect(issued.record.prefix).toBe(issued.key.slice(0, 16));

    const [stored] = await keys.findActiveByPrefix(issued.record.prefix);
    expect(stored?.hash).toBe(hashApiKey(issued.key));
    expect(JSON.stringify(await keys.listKeys())).not.toContain(issued.key.slice(16));
  });
});

describe('authenticateApiKey', () => {
  it('returns the key record for the exact key', async () => {
    const keys = new SqliteKeyStore({ path: ':memory:' });
    const issued = await issueApiKey(keys, 'a', 1);

    expect(await authenticateApiKey(keys, issued.key)).toEqual(issued.record);
  });

  it('refuses a key that differs in its last digit', async () => {
    const keys = new SqliteKeyStore({ path: ':memory:' });
    const issued = await issueApiKey(keys, 'a', 1);
    const last = issued.key.at(-1) === '0' ? '1' : '0';

    expect(await authenticateApiKey(keys, issued.key.slice(0, -1) + last)).toBeNull();
  });

  it('tells apart two keys that share a visible prefix', async () => {
    const keys = new SqliteKeyStore({ path: ':memory:' });
    const first = await issueApiKey(keys, 'first', 1, countingBytes(0));
    // Same first 4 secret bytes (the 8 hex digits of the prefix), then different ones.
    const bytes = countingBytes(0);
    const second = await issueApiKey(keys, 'second', 1, (size) => {
      const buffer = bytes(size);
      if (size === 32) buffer[31] = 0xff;
      else buffer[0] = 0xee;
      return buffer;
    });
    expect(second.record.prefix).toBe(first.record.prefix);

    expect((await authenticateApiKey(keys, first.key))?.name).toBe('first');
    expect((await authenticateApiKey(keys, second.key))?.name).toBe('second');
  });

  it('refuses a revoked key', async () => {
    const keys = new SqliteKeyStore({ path: ':memory:' });
    const issued = await issueApiKey(keys, 'a', 1);
    await keys.revokeKey(issued.record.id, 2);

    expect(await authenticateApiKey(keys, issued.key)).toBeNull();
  });

  it('refuses text that is not shaped like a key without asking the store', async () => {
    const asked: string[] = [];
    const keys = new SqliteKeyStore({ path: ':memory:' });
    const spy = Object.assign(Object.create(keys) as SqliteKeyStore, {
      findActiveByPrefix: async (prefix: string) => {
        asked.push(prefix);
        return [];
      },
    });

    for (const text of ['', 'mv_live_', 'mv_test_' + '0'.repeat(64), 'mv_live_' + 'G'.repeat(64)]) {
      expect(await authenticateApiKey(spy, text)).toBeNull();
    }
    expect(asked).toEqual([]);
  });
});
