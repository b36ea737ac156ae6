import { describe, expect, it } from 'vitest';

import { openSqlite } from '../../src/store/sqlite-database.js';
import { SqliteScheduleStore } from '../../src/store/sqlite-schedule-store.js';

const LEASE = 60_000;
const succeeded = { outcome: 'succeeded', summary: { verified: 3 }, error: null } as const;

function openStore(): SqliteScheduleStore {
  return new SqliteScheduleStore(openSqlite(':memory:'));
}

describe('SqliteScheduleStore', () => {
  it('records a run from start to outcome', async () => {
    const store = openStore();
    expect(await store.startRun('nightly', 'p1', 1_000, LEASE)).toBe(true);
    expect((await store.listSchedules(1_001))[0]).toMatchObject({
      name: 'nightly',
      isRunning: true,
      lastStartedAt: 1_000,
      lastOutcome: null,
    });

    await store.finishRun('nightly', 'p1', 2_000, succeeded);
    expect((await store.listSchedules(2_001))[0]).toMatchObject({
      isRunning: false,
      lastFinishedAt: 2_000,
      lastOutcome: 'succeeded',
      lastSummary: { verified: 3 },
      lastError: null,
    });
  });

  it('refuses a second run while the first holds its lease', async () => {
    const store = openStore();
    await store.startRun('nightly', 'p1', 0, LEASE);

    expect(await store.startRun('nightly', 'p2', LEASE - 1, LEASE)).toBe(false);
    expect(await store.renewRun('nightly', 'p1', LEASE - 1, LEASE)).toBe(true);
    expect(await store.startRun('nightly', 'p2', LEASE + 1, LEASE)).toBe(false);
    expect(await store.startRun('other', 'p2', 1, LEASE)).toBe(true);
  });

  it('shows a run whose lease ran out as interrupted, and lets the next one start', async () => {
    const store = openStore();
    await store.startRun('nightly', 'p1', 0, LEASE);

    expect((await store.listSchedules(LEASE))[0]).toMatchObject({
      isRunning: false,
      lastOutcome: 'interrupted',
    });
    expect(await store.startRun('nightly', 'p2', LEASE, LEASE)).toBe(true);
    expect(await store.renewRun('nightly', 'p1', LEASE, LEASE)).toBe(false);

    await store.finishRun('nightly', 'p1', LEASE + 5, succeeded);
    expect((await store.listSchedules(LEASE + 6))[0]?.isRunning).toBe(true);
  });

  it('counts skipped runs and remembers the next run', async () => {
    const store = openStore();
    await store.recordSkip('nightly', 10);
    await store.recordSkip('nightly', 20);
    await store.setNextRun('nightly', 86_400_000);

    expect((await store.listSchedules(30))[0]).toMatchObject({
      skippedRuns: 2,
      lastSkippedAt: 20,
      nextRunAt: 86_400_000,
      lastOutcome: null,
    });
  });
});
