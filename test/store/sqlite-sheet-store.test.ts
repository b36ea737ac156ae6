import { describe, expect, it } from 'vitest';

import { openSqlite } from '../../src/store/sqlite-database.js';
import { SqliteSheetStore } from '../../src/store/sqlite-sheet-store.js';

describe('SqliteSheetStore', () => {
  it('keeps fingerprints per sheet and updates their expiry', async () => {
    const store = new SqliteSheetStore(openSqlite(':memory:'));

    await store.putFingerprints('s1', 0, [{ fingerprint: 'a', expiresAt: 10 }]);
    await store.putFingerprints('s1', 0, [{ fingerprint: 'a', expiresAt: 20 }]);
    await store.putFingerprints('s1', 7, [{ fingerprint: 'b', expiresAt: 30 }]);

    expect(await store.loadFingerprints('s1', 0)).toEqual(new Map([['a', 20]]));
    expect(await store.loadFingerprints('s1', 7)).toEqual(new Map([['b', 30]]));
    expect(await store.loadFingerprints('s2', 0)).toEqual(new Map());
  });

  it('forgets the fingerprints of rows that are gone', async () => {
    const store = new SqliteSheetStore(openSqlite(':memory:'));
    await store.putFingerprints('s1', 0, [
      { fingerprint: 'a', expiresAt: 1 },
      { fingerprint: 'b', expiresAt: 1 },
    ]);
    await store.putFingerprints('s1', 1, [{ fingerprint: 'c', expiresAt: 1 }]);

    await store.keepOnlyFingerprints('s1', 0, new Set(['b']));

    expect([...(await store.loadFingerprints('s1', 0)).keys()]).toEqual(['b']);
    expect([...(await store.loadFingerprints('s1', 1)).keys()]).toEqual(['c']);
  });

  it('remembers the last sync of each sheet, migrating a shared database once', async () => {
    const db = openSqlite(':memory:');
    const store = new SqliteSheetStore(db);
    const state = {
      spreadsheetId: 's1',
      sheetId: 3,
      title: 'Leads',
      emailHeader: 'Email',
      syncedAt: 1234,
      rows: 10,
      verified: 4,
      written: 4,
    };

    await store.saveSyncState(state);
    await new SqliteSheetStore(db).saveSyncState({ ...state, written: 5 });

    expect(await store.getSyncState('s1', 3)).toEqual({ ...state, written: 5 });
    expect(await store.getSyncState('s1', 4)).toBeNull();
  });
});
