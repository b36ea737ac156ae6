import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { VerificationResult, Verdict } from '../../src/verify/types.js';

const HOUR = 3600;
const lifetimes = {
  deliverable: 30 * 24 * HOUR,
  undeliverable: 7 * 24 * HOUR,
  risky: 24 * HOUR,
  unknown: HOUR,
};

function resultWith(verdict: Verdict, reason: VerificationResult['reason']): VerificationResult {
  return {
    email: 'ann@example.net',
    normalized: 'ann@example.net',
    verdict,
    reason,
    score: 50,
    flags: { role: false, free: false, disposable: false, catchAll: null, smtputf8: false },
    suggestion: null,
    mx: [],
    evidence: null,
    durationMs: 1,
    checkedAt: new Date(0).toISOString(),
  };
}

const folders: string[] = [];
afterEach(() => folders.splice(0).forEach((folder) => rmSync(folder, { recursive: true })));

function openStore(): SqliteStore {
  return new SqliteStore({ path: ':memory:', lifetimes });
}

describe('SqliteStore', () => {
  it('returns a stored result with an expiry set by its verdict', async () => {
    const store = openStore();
    await store.putResult('ann@example.net', resultWith('deliverable', 'accepted'), 1_000);

    const stored = await store.getResult('ann@example.net');
    expect(stored?.result.verdict).toBe('deliverable');
    expect(stored?.expiresAt).toBe(1_000 + lifetimes.deliverable * 1000);
  });

  it('gives unknown results the short lifetime', async () => {
    const store = openStore();
    await store.putResult('ann@example.net', resultWith('unknown', 'timeout'), 0);
    expect((await store.getResult('ann@example.net'))?.expiresAt).toBe(HOUR * 1000);
  });

  it('keeps a fresh definite result when a later check only times out', async () => {
    const store = openStore();
    await store.putResult('ann@example.net', resultWith('undeliverable', 'mailbox_not_found'), 0);

    const replaced = await store.putResult('ann@example.net', resultWith('unknown', 'timeout'), 10);
    expect(replaced).toBe(false);
    expect((await store.getResult('ann@example.net'))?.result.reason).toBe('mailbox_not_found');
  });

  it('lets an unknown result replace a definite one that has expired', async () => {
    const store = openStore();
    await store.putResult('ann@example.net', resultWith('deliverable', 'accepted'), 0);

    const later = lifetimes.deliverable * 1000 + 1;
    expect(await store.putResult('ann@example.net', resultWith('unknown', 'timeout'), later)).toBe(
      true,
    );
    expect((await store.getResult('ann@example.net'))?.result.verdict).toBe('unknown');
  });

  it('lets a definite result replace any other', async () => {
    const store = openStore();
    await store.putResult('ann@example.net', resultWith('deliverable', 'accepted'), 0);
    await store.putResult('ann@example.net', resultWith('undeliverable', 'mailbox_disabled'), 5);
    expect((await store.getResult('ann@example.net'))?.result.reason).toBe('mailbox_disabled');
  });

  it('remembers domain facts until they expire', async () => {
    const store = openStore();
    await store.putDomainFact('example.net', 'catch_all', { value: true, expiresAt: 100 });

    expect(await store.getDomainFact('example.net', 'catch_all', 99)).toEqual({
      value: true,
      expiresAt: 100,
    });
    expect(await store.getDomainFact('example.net', 'catch_all', 100)).toBeNull();
  });

  it('lists expired results, the longest expired first, up to the limit', async () => {
    const store = openStore();
    await store.putResult('ann@example.net', resultWith('unknown', 'timeout'), 0);
    await store.putResult('bob@example.net', resultWith('risky', 'catch_all'), 0);
    await store.putResult('cy@example.net', resultWith('unknown', 'timeout'), 1_000);
    const now = HOUR * 1000 + 1_000;

    const expired = await store.listExpired(now, 10);
    expect(expired.map((entry) => entry.address)).toEqual(['ann@example.net', 'cy@example.net']);
    expect(expired[0]?.expiresAt).toBe(HOUR * 1000);
    expect(expired[0]?.result.reason).toBe('timeout');

    expect((await store.listExpired(now, 1)).map((entry) => entry.address)).toEqual([
      'ann@example.net',
    ]);
    expect(await store.listExpired(HOUR * 1000 - 1, 10)).toEqual([]);
  });

  it('creates its folder and keeps results across reopening the file', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'mailverify-store-'));
    folders.push(folder);
    const path = join(folder, 'nested', 'cache.db');

    const first = new SqliteStore({ path, lifetimes });
    await first.putResult('ann@example.net', resultWith('risky', 'catch_all'), 0);
    await first.close();

    const second = new SqliteStore({ path, lifetimes });
    expect((await second.getResult('ann@example.net'))?.result.reason).toBe('catch_all');
    await second.close();
  });
});
