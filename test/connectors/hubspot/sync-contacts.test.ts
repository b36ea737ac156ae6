import nock from 'nock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createHubspotClient } from '../../../connectors/hubspot/create-hubspot-client.js';
import { PROPERTY_NAMES } from '../../../connectors/hubspot/hubspot-properties.js';
import { createPortalRateLimiter } from '../../../connectors/hubspot/portal-rate-limiter.js';
import { syncContacts } from '../../../connectors/hubspot/sync-contacts.js';
import type { SyncDeps } from '../../../connectors/hubspot/sync-contacts.js';
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

function setup(options: { verifier?: SyncDeps['verifier'] } = {}) {
  const db = openSqlite(':memory:');
  const results = new SqliteStore({ db, lifetimes: LIFETIMES });
  const store = new SqliteHubspotStore(db);
  const verifier = createFakeBulkVerifier(results);
  const clock = fakeClock(portal.now);
  const limiter = createPortalRateLimiter({ clock });
  const deps: SyncDeps = {
    client: createHubspotClient({ accessToken: 'pat-test', baseUrl: BASE_URL }),
    limiter,
    verifier: options.verifier ?? verifier,
    store,
    portalId: 'portal-1',
    clock,
    lifetimes: LIFETIMES,
  };
  return { deps, verifier, store, clock };
}

const emailOf = (index: number) => ({ email: `user${index}@example.com` });

describe('syncContacts', () => {
  it('pages through every contact on the first run and writes in batches of 100', async () => {
    portal.addContacts(250, emailOf);
    const { deps, verifier, store } = setup();

    const report = await syncContacts(deps);

    expect(report.mode).toBe('full');
    expect(report.fetched).toBe(250);
    expect(verifier.calls).toHaveLength(250);
    expect(report.written).toBe(250);
    expect(portal.callsTo('GET', /^\/crm\/v3\/objects\/contacts$/)).toHaveLength(3);
    const batches = portal.callsTo('POST', /batch\/update$/);
    expect(batches.map((call) => (call.body as { inputs: unknown[] }).inputs.length)).toEqual([
      100, 100, 50,
    ]);
    expect(portal.contacts.get('7')!.properties[PROPERTY_NAMES.status]).toBe('deliverable');
    expect(portal.contacts.get('7')!.properties[PROPERTY_NAMES.verifiedEmail]).toBe(
      'user6@example.com',
    );
    expect(report.apiCalls).toBe(6);
    expect(await store.getCursor('portal-1')).toEqual({ since: portal.now - 60_000 });
  });

  it('fetches only contacts modified since the cursor on later runs', async () => {
    portal.addContacts(300, emailOf);
    const { deps, verifier, clock } = setup();
    await syncContacts(deps);
    verifier.calls.length = 0;

    clock.time += 3_600_000;
    portal.now = clock.time;
    portal.touch('42', { email: 'changed@example.com' }, clock.time);
    portal.touch('43', { firstname: 'Ann' }, clock.time);
    const callsBefore = portal.calls.length;

    const report = await syncContacts(deps);

    expect(report.mode).toBe('modified_since');
    // Our own writes of the first run modified every contact: they come
    // back once, and cost reads but no SMTP check.
    expect(verifier.calls).toEqual(['changed@example.com']);
    expect(report.skipped).toBe(299);
    expect(report.written).toBe(1);
    expect(portal.calls.slice(callsBefore).map((call) => call.path)).toEqual([
      '/crm/v3/objects/contacts/search',
      '/crm/v3/objects/contacts/search',
      '/crm/v3/objects/contacts/search',
      '/crm/v3/objects/contacts/batch/update',
    ]);
    expect(portal.contacts.get('42')!.properties[PROPERTY_NAMES.verifiedEmail]).toBe(
      'changed@example.com',
    );
  });

  it('does not verify again the contacts its own writes modified', async () => {
    portal.addContacts(120, emailOf);
    const { deps, verifier, clock } = setup();
    await syncContacts(deps);
    clock.time += 60_000;

    const report = await syncContacts(deps);

    expect(report.mode).toBe('modified_since');
    expect(report.fetched).toBe(120);
    expect(report.skipped).toBe(120);
    expect(verifier.calls).toHaveLength(120);
    expect(portal.callsTo('POST', /batch\/update$/)).toHaveLength(2);
  });

  it('stays complete past the 10,000 search cap by restarting after the last id', async () => {
    portal.addContacts(10_250, emailOf);
    const { deps, store } = setup();
    await store.saveCursor('portal-1', { since: portal.now - 1 });

    const report = await syncContacts(deps);

    expect(report.mode).toBe('modified_since');
    expect(report.fetched).toBe(10_250);
    expect(report.written).toBe(10_250);
    const searches = portal.callsTo('POST', /search$/);
    expect(searches).toHaveLength(103);
    expect(searches.every((call) => (call.body as { after?: string }).after === undefined)).toBe(
      true,
    );
  }, 60_000);

  it('retries the contacts a 207 names one by one and reports those still failing', async () => {
    portal.addContacts(5, emailOf);
    portal.refusedIds.add('3');
    const { deps, store } = setup();

    const report = await syncContacts(deps);

    expect(report.written).toBe(4);
    expect(report.failed).toEqual([{ id: '3', message: expect.stringContaining('404') }]);
    expect(portal.callsTo('PATCH', /\/contacts\/3$/)).toHaveLength(1);
    expect(portal.contacts.get('4')!.properties[PROPERTY_NAMES.status]).toBe('deliverable');
    expect(await store.getCursor('portal-1')).not.toBeNull();
  });

  it('writes only the properties whose values changed', async () => {
    portal.addContacts(2, emailOf);
    const { deps, clock } = setup();
    await syncContacts(deps, { isFull: true });
    portal.touch('1', { [PROPERTY_NAMES.checkedAt]: '2020-01-01T00:00:00Z' }, clock.time);
    portal.touch('2', { [PROPERTY_NAMES.score]: '95.0' }, clock.time);
    const before = portal.callsTo('POST', /batch\/update$/).length;

    await syncContacts(deps, { isFull: true });

    const batches = portal.callsTo('POST', /batch\/update$/).slice(before);
    expect(batches).toHaveLength(1);
    expect((batches[0]!.body as { inputs: unknown[] }).inputs).toEqual([
      { id: '1', properties: { [PROPERTY_NAMES.checkedAt]: '2025-01-02T03:04:05.000Z' } },
    ]);
  });

  it('writes nothing on a dry run and reports what it would change', async () => {
    portal.addContacts(2, (index) => ({
      email: index === 0 ? 'nobody@example.com' : 'a@b.example',
    }));
    const { deps, store } = setup();

    const report = await syncContacts(deps, { isDryRun: true });

    expect(portal.callsTo('POST', /batch\/update$/)).toHaveLength(0);
    expect(report.changes).toContainEqual({
      id: '1',
      email: 'nobody@example.com',
      properties: expect.objectContaining({
        [PROPERTY_NAMES.status]: 'undeliverable',
        [PROPERTY_NAMES.reason]: 'mailbox_not_found',
      }),
    });
    expect(await store.getCursor('portal-1')).toBeNull();
  });

  it('records contacts HubSpot marks hard-bounced without an SMTP check', async () => {
    portal.addContacts(2, (index) => ({
      email: `user${index}@example.com`,
      hs_email_hard_bounce_reason_enum: index === 0 ? 'UNKNOWN_USER' : null,
    }));
    const { deps, verifier } = setup();

    await syncContacts(deps, { trustsHardBounces: true });

    expect(verifier.calls).toEqual(['user1@example.com']);
    expect(portal.contacts.get('1')!.properties[PROPERTY_NAMES.status]).toBe('undeliverable');
  });

  it('keeps the cursor on a crash between verify and write-back; loses no work', async () => {
    portal.addContacts(3, emailOf);
    const { deps, store } = setup();
    portal.failNext(/batch\/update$/, { status: 400, body: { message: 'boom' } });

    const crashed = await syncContacts(deps);
    expect(crashed.stoppedBy).toBe('refused');
    expect(await store.getCursor('portal-1')).toBeNull();

    const report = await syncContacts(deps);
    expect(report.mode).toBe('full');
    expect(report.written).toBe(3);
    expect(await store.getCursor('portal-1')).not.toBeNull();
  });

  it('waits the advised time after a 429 and backs off after a 5xx', async () => {
    portal.addContacts(3, emailOf);
    const { deps, clock } = setup();
    portal.failNext(
      /^\/crm\/v3\/objects\/contacts$/,
      {
        status: 429,
        headers: { 'retry-after': '2', 'x-hubspot-ratelimit-remaining': '0' },
        body: {
          status: 'error',
          message: 'You have reached your ten_secondly_rolling limit.',
          policyName: 'TEN_SECONDLY_ROLLING',
        },
      },
      { status: 502, body: 'bad gateway' },
      { status: 503, body: 'unavailable' },
    );

    const report = await syncContacts(deps);

    expect(report.written).toBe(3);
    expect(clock.sleeps.slice(0, 3)).toEqual([2000, 1000, 2000]);
    expect(report.apiCalls).toBe(5);
  });

  it('ends cleanly at an exhausted daily limit and resumes next time', async () => {
    portal.addContacts(150, emailOf);
    const { deps, store, verifier } = setup();
    portal.failLater(/^\/crm\/v3\/objects\/contacts$/, 1, {
      status: 429,
      headers: { 'x-hubspot-ratelimit-daily-remaining': '0' },
      body: { status: 'error', message: 'You have reached your daily limit.', policyName: 'DAILY' },
    });

    const stopped = await syncContacts(deps);
    expect(stopped.stoppedBy).toBe('daily_limit');
    expect(stopped.written).toBe(100);
    expect(await store.getCursor('portal-1')).toBeNull();

    const resumed = await syncContacts(deps);
    expect(resumed.stoppedBy).toBeNull();
    expect(resumed.skipped).toBe(100);
    expect(resumed.written).toBe(50);
    expect(verifier.calls).toHaveLength(150);
  });
});

describe('API calls per 1,000 contacts', () => {
  it('spends 20 on a first sync, 10 on the next, and 2 when 1% changed', async () => {
    portal.addContacts(1000, emailOf);
    const { deps, clock } = setup();

    const first = await syncContacts(deps);
    clock.time += 3_600_000;
    portal.now = clock.time;
    const second = await syncContacts(deps);
    clock.time += 3_600_000;
    portal.now = clock.time;
    for (let index = 1; index <= 10; index += 1) {
      portal.touch(String(index * 97), { email: `moved${index}@example.com` }, clock.time);
    }
    const third = await syncContacts(deps);

    expect([first.apiCalls, second.apiCalls, third.apiCalls]).toEqual([20, 10, 2]);
    expect(third.written).toBe(10);
  });
});
