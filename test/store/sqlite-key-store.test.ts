import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { openSqlite } from '../../src/store/sqlite-database.js';
import { SqliteKeyStore } from '../../src/store/sqlite-key-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

const folders: string[] = [];
afterEach(() => folders.splice(0).forEach((folder) => rmSync(folder, { recursive: true })));

function newKey(id: string, prefix = 'mv_live_00000000') {
  return { id, name: `key ${id}`, prefix, hash: `hash-of-${id}`, createdAt: 1_000 };
}

describe('SqliteKeyStore', () => {
  it('finds active keys by prefix, with their hashes', async () => {
    const store = new SqliteKeyStore({ path: ':memory:' });
    await store.createKey(newKey('key_a', 'mv_live_aaaaaaaa'));
    await store.createKey(newKey('key_b', 'mv_live_bbbbbbbb'));

    const found = await store.findActiveByPrefix('mv_live_aaaaaaaa');
    expect(found).toEqual([
      { ...newKey('key_a', 'mv_live_aaaaaaaa'), lastUsedAt: null, revokedAt: null },
    ]);
  });

  it('no longer finds a revoked key, and keeps the first revocation time', async () => {
    const store = new SqliteKeyStore({ path: ':memory:' });
    await store.createKey(newKey('key_a'));

    expect((await store.revokeKey('key_a', 5_000))?.revokedAt).toBe(5_000);
    expect((await store.revokeKey('key_a', 9_000))?.revokedAt).toBe(5_000);
    expect(await store.findActiveByPrefix('mv_live_00000000')).toEqual([]);
  });

  it('answers null when revoking a key that does not exist', async () => {
    const store = new SqliteKeyStore({ path: ':memory:' });
    expect(await store.revokeKey('key_missing', 1)).toBeNull();
  });

  it('lists every key oldest first, without hashes, with the last use', async () => {
    const store = new SqliteKeyStore({ path: ':memory:' });
    await store.createKey({ ...newKey('key_new'), createdAt: 2_000 });
    await store.createKey(newKey('key_old'));
    await store.markUsed('key_new', 3_000);

    const list = await store.listKeys();
    expect(list.map((key) => key.id)).toEqual(['key_old', 'key_new']);
    expect(list[1]).toMatchObject({ lastUsedAt: 3_000, revokedAt: null });
    expect(list[0]).not.toHaveProperty('hash');
  });

  it('adds usage per key and per day', async () => {
    const store = new SqliteKeyStore({ path: ':memory:' });
    await store.createKey(newKey('key_a'));
    await store.createKey(newKey('key_b'));

    await store.addUsage('key_a', '2025-03-01', 5);
    await store.addUsage('key_a', '2025-03-01', 7);
    await store.addUsage('key_a', '2025-03-02', 1);
    await store.addUsage('key_b', '2025-03-01', 2);

    expect(await store.getUsage('key_a', '2025-03-01')).toBe(12);
    expect(await store.getUsage('key_a', '2025-03-02')).toBe(1);
    expect(await store.getUsage('key_b', '2025-03-01')).toBe(2);
    expect(await store.getUsage('key_b', '2025-03-02')).toBe(0);
  });

  it('shares one database file with the results part and survives reopening', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'mailverify-keys-'));
    folders.push(folder);
    const path = join(folder, 'service.db');

    const db = openSqlite(path);
    const results = new SqliteStore({
      db,
      lifetimes: { deliverable: 1, undeliverable: 1, risky: 1, unknown: 1 },
    });
    const keys = new SqliteKeyStore({ db });
    await keys.createKey(newKey('key_a'));
    await keys.close();
    await results.close();
    expect(db.open).toBe(true);
    db.close();

    const reopened = new SqliteKeyStore({ path });
    expect((await reopened.listKeys()).map((key) => key.id)).toEqual(['key_a']);
    await reopened.close();
  });
});
