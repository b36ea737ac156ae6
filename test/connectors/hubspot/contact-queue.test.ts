import nock from 'nock';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createContactQueue } from '../../../connectors/hubspot/contact-queue.js';
import { PROPERTY_NAMES } from '../../../connectors/hubspot/hubspot-properties.js';
import {
  createPortalRegistry,
  PortalUnavailableError,
} from '../../../connectors/hubspot/portal-registry.js';
import type { PortalRegistry } from '../../../connectors/hubspot/portal-registry.js';
import { BulkClosedError } from '../../../src/engine/bulk-verifier.js';
import { openSqlite } from '../../../src/store/sqlite-database.js';
import { SqliteHubspotStore } from '../../../src/store/sqlite-hubspot-store.js';
import type { VerificationResult } from '../../../src/verify/types.js';
import { scriptedResult } from '../../helpers/scripted-verifier.js';
import { BASE_URL, FakePortal, fakeClock } from './fake-portal.js';

const DAY = 86_400;
const LIFETIMES = { deliverable: 30 * DAY, undeliverable: 7 * DAY, risky: 7 * DAY, unknown: 3600 };
const PORTAL_ID = '62515';

let portal: FakePortal;
const cleanups: (() => void)[] = [];

beforeEach(() => {
  nock.disableNetConnect();
  portal = new FakePortal();
});

afterEach(() => {
  cleanups.splice(0).forEach((cleanup) => cleanup());
  portal.close();
  nock.enableNetConnect();
});

/** A verifier that answers only when told to, and refuses everything once closed. */
function heldVerifier() {
  const waiting: { email: string; settle: (result: VerificationResult | Error) => void }[] = [];
  return {
    waiting,
    verify: (email: string) =>
      new Promise<VerificationResult>((resolve, reject) => {
        waiting.push({
          email,
          settle: (outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome)),
        });
      }),
    answerAll() {
      for (const held of waiting.splice(0)) held.settle(scriptedResult(held.email));
    },
    close() {
      for (const held of waiting.splice(0)) held.settle(new BulkClosedError());
    },
  };
}

function setUp(registryOverride?: PortalRegistry) {
  const db = openSqlite(':memory:');
  cleanups.push(() => db.close());
  const store = new SqliteHubspotStore(db);
  const clock = fakeClock(portal.now);
  const lines: { level: number; msg: string }[] = [];
  const logger = pino(
    { level: 'info' },
    {
      write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }),
    },
  );
  const registry =
    registryOverride ??
    createPortalRegistry({
      accessToken: 'pat-test',
      baseUrl: BASE_URL,
      oauth: null,
      store,
      clock,
    });
  const verifier = heldVerifier();
  const queue = createContactQueue({
    store,
    registry,
    verifier,
    clock,
    lifetimes: LIFETIMES,
    trustsHardBounces: true,
    logger,
  });
  return { store, queue, verifier, lines };
}

async function until(check: () => boolean) {
  for (let tries = 0; tries < 500 && !check(); tries += 1) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  expect(check()).toBe(true);
}

describe('createContactQueue stop', () => {
  it('waits for the running round, which finishes when its answers come', async () => {
    portal.addContacts(2, (index) => ({ email: `ann${index}@example.com` }));
    const { store, queue, verifier } = setUp();
    await queue.add(PORTAL_ID, ['1', '2']);

    const drained = queue.drain();
    await until(() => verifier.waiting.length === 2);
    let isStopped = false;
    const stopped = queue.stop().then(() => (isStopped = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(isStopped).toBe(false);

    verifier.answerAll();
    await stopped;
    await drained;
    expect(portal.contacts.get('1')!.properties[PROPERTY_NAMES.status]).toBe('deliverable');
    expect(await store.listQueued(PORTAL_ID, 10)).toEqual([]);
  });

  it('leaves a round cut short by a closed verifier queued, and logs no error', async () => {
    portal.addContacts(2, (index) => ({ email: `ann${index}@example.com` }));
    const { store, queue, verifier, lines } = setUp();
    await queue.add(PORTAL_ID, ['1', '2']);

    void queue.drain();
    await until(() => verifier.waiting.length === 2);
    const stopped = queue.stop();
    verifier.close();
    await stopped;

    expect((await store.listQueued(PORTAL_ID, 10)).sort()).toEqual(['1', '2']);
    expect(portal.callsTo('POST', /batch\/update/)).toHaveLength(0);
    expect(lines.filter((line) => line.level >= 50)).toEqual([]);
    expect(lines.map((line) => line.msg)).toContain('hubspot queue stopped; contacts stay queued');
    // A stopped queue starts no new round.
    await queue.drain();
    expect(verifier.waiting).toHaveLength(0);
  });

  it('keeps the contacts of a portal whose access cannot be renewed now', async () => {
    const unavailable: PortalRegistry = {
      connectAll: async () => [],
      connect: async (portalId) => {
        throw new PortalUnavailableError(portalId, '503 UNAVAILABLE');
      },
    };
    const { store, queue, verifier, lines } = setUp(unavailable);
    await queue.add(PORTAL_ID, ['1', '2']);

    await queue.drain();

    expect((await store.listQueued(PORTAL_ID, 10)).sort()).toEqual(['1', '2']);
    expect(verifier.waiting).toHaveLength(0);
    expect(lines.map((line) => line.msg)).toContain('hubspot queue paused: portal unavailable');
  });
});
