import nock from 'nock';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createHubspotSyncTask } from '../../../connectors/hubspot/hubspot-sync-task.js';
import { createPortalRegistry } from '../../../connectors/hubspot/portal-registry.js';
import { openSqlite } from '../../../src/store/sqlite-database.js';
import { SqliteHubspotStore } from '../../../src/store/sqlite-hubspot-store.js';
import { SqliteStore } from '../../../src/store/sqlite-store.js';
import { createFakeBulkVerifier } from '../../helpers/fake-bulk-verifier.js';
import { BASE_URL, FakePortal, fakeClock } from './fake-portal.js';

const DAY = 86_400;
const LIFETIMES = { deliverable: 30 * DAY, undeliverable: 7 * DAY, risky: 7 * DAY, unknown: 3600 };

let portal: FakePortal;

beforeEach(() => {
  nock.disableNetConnect();
  portal = new FakePortal();
});

afterEach(() => {
  portal.close();
  nock.enableNetConnect();
});

function buildTask(accessToken: string) {
  const db = openSqlite(':memory:');
  const store = new SqliteHubspotStore(db);
  const clock = fakeClock(portal.now);
  const registry = createPortalRegistry({
    accessToken,
    baseUrl: BASE_URL,
    oauth: null,
    store,
    clock,
  });
  let closed = 0;
  const verifier = createFakeBulkVerifier(new SqliteStore({ db, lifetimes: LIFETIMES }));
  const task = createHubspotSyncTask({
    connectPortals: () => registry.connectAll(),
    openVerifier: () => ({ verifier, close: async () => void (closed += 1) }),
    store,
    clock,
    lifetimes: LIFETIMES,
    trustsHardBounces: true,
  });
  return { task, store, closedCount: () => closed };
}

const context = () => ({ signal: new AbortController().signal, logger: pino({ level: 'silent' }) });

describe('the hubspot-sync task', () => {
  it('syncs the private-app portal and reports flat counts', async () => {
    portal.addContacts(3, (index) => ({ email: `user${index}@example.com` }));
    const { task, store, closedCount } = buildTask('pat-test');

    const outcome = await task({}, context());

    expect(outcome.outcome).toBe('succeeded');
    expect(outcome.summary).toMatchObject({
      'private-app.fetched': 3,
      'private-app.written': 3,
      'private-app.failed': 0,
      'private-app.stoppedBy': null,
    });
    expect(await store.getCursor('private-app')).not.toBeNull();
    expect(closedCount()).toBe(1);
  });

  it('fails with a reason when no portal is connected', async () => {
    const { task } = buildTask('');
    const outcome = await task({}, context());
    expect(outcome).toMatchObject({ outcome: 'failed', error: 'no HubSpot portal is connected' });
  });

  it('refuses unknown options', async () => {
    const { task } = buildTask('pat-test');
    const outcome = await task({ fulll: true }, context());
    expect(outcome.outcome).toBe('failed');
    expect(outcome.error).toContain('invalid options');
  });
});
