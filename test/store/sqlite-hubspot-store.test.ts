import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { openSqlite } from '../../src/store/sqlite-database.js';
import { SqliteHubspotStore } from '../../src/store/sqlite-hubspot-store.js';

const REQUEST = { portalId: '62515', email: 'someone@acme.test' };

function openStore() {
  return new SqliteHubspotStore(openSqlite(':memory:'));
}

describe('SqliteHubspotStore', () => {
  it('keeps one cursor per portal and replaces it', async () => {
    const store = openStore();
    expect(await store.getCursor('1')).toBeNull();
    await store.saveCursor('1', { since: 10 });
    await store.saveCursor('1', { since: 20 });
    await store.saveCursor('2', { since: 5 });
    expect(await store.getCursor('1')).toEqual({ since: 20 });
    expect(await store.getCursor('2')).toEqual({ since: 5 });
  });

  it('claims each event id once, and forgets old ones when pruned', async () => {
    const store = openStore();
    expect([...(await store.claimEvents(['a', 'b'], 100))]).toEqual(['a', 'b']);
    expect([...(await store.claimEvents(['b', 'c'], 200))]).toEqual(['c']);
    await store.pruneEvents(150);
    expect([...(await store.claimEvents(['a', 'c'], 300))]).toEqual(['a']);
  });

  it('queues contacts once per portal, oldest first, until dequeued', async () => {
    const store = openStore();
    await store.queueContacts('1', ['7', '3'], 100);
    await store.queueContacts('1', ['7', '9'], 200);
    await store.queueContacts('2', ['4'], 150);
    expect(await store.listQueued('1', 10)).toEqual(['3', '7', '9']);
    expect((await store.listQueuedPortals()).sort()).toEqual(['1', '2']);

    await store.dequeueContacts('1', ['3', '7', '9']);
    expect(await store.listQueued('1', 10)).toEqual([]);
    expect(await store.listQueuedPortals()).toEqual(['2']);
  });

  it('stores the tokens of each installed portal', async () => {
    const store = openStore();
    const tokens = {
      portalId: '62515',
      sealedRefreshToken: 'v1.x',
      accessToken: 'a',
      expiresAt: 9,
    };
    await store.saveTokens(tokens);
    await store.saveTokens({ ...tokens, accessToken: 'b' });
    expect(await store.getTokens('62515')).toEqual({ ...tokens, accessToken: 'b' });
    expect(await store.getTokens('1')).toBeNull();
    expect(await store.listPortals()).toEqual(['62515']);
  });

  it('answers the earlier state of a known callback id, and forgets old ones', async () => {
    const store = openStore();
    expect(await store.acceptCallback('cb-1', 100, REQUEST)).toBeNull();
    expect(await store.acceptCallback('cb-1', 110, REQUEST)).toBe('accepted');
    await store.completeCallback('cb-1');
    expect(await store.acceptCallback('cb-1', 120, REQUEST)).toBe('completed');

    expect(await store.acceptCallback('cb-2', 200, REQUEST)).toBeNull();
    await store.pruneCallbacks(150);
    expect(await store.acceptCallback('cb-1', 300, REQUEST)).toBeNull();
    expect(await store.acceptCallback('cb-2', 300, REQUEST)).toBe('accepted');
  });

  it('hands unfinished callbacks with a stale claim to one claimer, with their request', async () => {
    const store = openStore();
    await store.acceptCallback('cb-old', 1_000, { portalId: '62515', email: 'ann@acme.test' });
    await store.acceptCallback('cb-done', 1_000, REQUEST);
    await store.completeCallback('cb-done');
    await store.acceptCallback('cb-expired', 10, REQUEST);
    await store.acceptCallback('cb-fresh', 5_000, REQUEST);
    const claim = { claimedBefore: 2_000, acceptedAfter: 100, now: 6_000, limit: 10 };

    expect(await store.claimUnfinishedCallbacks(claim)).toEqual([
      { callbackId: 'cb-old', portalId: '62515', email: 'ann@acme.test', acceptedAt: 1_000 },
    ]);
    // Claimed at 6000: a second claimer finds nothing until that claim is stale.
    expect(await store.claimUnfinishedCallbacks(claim)).toEqual([]);
    const later = { ...claim, claimedBefore: 6_001, now: 9_000 };
    expect((await store.claimUnfinishedCallbacks(later)).map((c) => c.callbackId)).toEqual([
      'cb-old',
      'cb-fresh',
    ]);
  });

  it('takes over no callback accepted before its request was kept', async () => {
    const db = openSqlite(':memory:');
    new SqliteHubspotStore(db);
    db.prepare(
      `INSERT INTO hubspot_callbacks (callback_id, state, accepted_at) VALUES ('cb-1', 'accepted', 1)`,
    ).run();
    const store = new SqliteHubspotStore(db);

    const claim = { claimedBefore: 100, acceptedAfter: 0, now: 100, limit: 10 };
    expect(await store.claimUnfinishedCallbacks(claim)).toEqual([]);
    expect(await store.acceptCallback('cb-1', 100, REQUEST)).toBe('accepted');
  });

  it('keeps callback ids across store instances on one file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailverify-store-'));
    const path = join(dir, 'mailverify.db');
    try {
      const first = openSqlite(path);
      const store = new SqliteHubspotStore(first);
      await store.acceptCallback('cb-1', 100, REQUEST);
      await store.completeCallback('cb-1');
      first.close();

      const second = openSqlite(path);
      const reopened = new SqliteHubspotStore(second);
      expect(await reopened.acceptCallback('cb-1', 200, REQUEST)).toBe('completed');
      expect(await reopened.acceptCallback('cb-2', 200, REQUEST)).toBeNull();
      second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
