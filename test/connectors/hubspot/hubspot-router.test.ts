import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import express from 'express';
import nock from 'nock';
import pino from 'pino';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { signV3 } from '../../../connectors/hubspot/check-signature.js';
import { createContactQueue } from '../../../connectors/hubspot/contact-queue.js';
import type { ContactQueue } from '../../../connectors/hubspot/contact-queue.js';
import { PROPERTY_NAMES } from '../../../connectors/hubspot/hubspot-properties.js';
import { createHubspotRouter } from '../../../connectors/hubspot/hubspot-router.js';
import { createPortalRegistry } from '../../../connectors/hubspot/portal-registry.js';
import {
  CALLBACK_CLAIM_MS,
  createWorkflowAction,
} from '../../../connectors/hubspot/workflow-action.js';
import { createApp } from '../../../src/server/create-app.js';
import { createMetrics } from '../../../src/server/metrics.js';
import { createQuotaMeter } from '../../../src/server/quota-meter.js';
import { openSqlite } from '../../../src/store/sqlite-database.js';
import { SqliteHubspotStore } from '../../../src/store/sqlite-hubspot-store.js';
import { SqliteKeyStore } from '../../../src/store/sqlite-key-store.js';
import { SqliteStore } from '../../../src/store/sqlite-store.js';
import { createFakeBulkVerifier } from '../../helpers/fake-bulk-verifier.js';
import type { FakeBulkOptions } from '../../helpers/fake-bulk-verifier.js';
import { BASE_URL, FakePortal } from './fake-portal.js';

const SECRET = 'app-client-secret';
const PUBLIC_URL = 'https://verify.example.com';
const DAY = 86_400;
const LIFETIMES = { deliverable: 30 * DAY, undeliverable: 7 * DAY, risky: 7 * DAY, unknown: 3600 };

let portal: FakePortal;
const cleanups: (() => void)[] = [];

beforeEach(() => {
  nock.disableNetConnect();
  nock.enableNetConnect(/127\.0\.0\.1|localhost/);
  portal = new FakePortal();
});

afterEach(() => {
  cleanups.splice(0).forEach((cleanup) => cleanup());
  portal.close();
  nock.enableNetConnect();
});

function buildApp(verifierOptions: FakeBulkOptions = {}, dbPath = ':memory:') {
  const db = openSqlite(dbPath);
  cleanups.unshift(() => db.close());
  const clock = {
    now: () => portal.now,
    sleep: (ms: number) => new Promise<void>((done) => setTimeout(done, ms)),
  };
  const logger = pino({ level: 'silent' });
  const store = new SqliteHubspotStore(db);
  const verifier = createFakeBulkVerifier(
    new SqliteStore({ db, lifetimes: LIFETIMES }),
    verifierOptions,
  );
  const registry = createPortalRegistry({
    accessToken: 'pat-test',
    baseUrl: BASE_URL,
    oauth: null,
    store,
    clock,
  });
  const shared = { store, registry, clock, lifetimes: LIFETIMES, trustsHardBounces: true, logger };
  const queue: ContactQueue = createContactQueue({ ...shared, verifier });
  const drains: Promise<void>[] = [];
  const watchedQueue: Pick<ContactQueue, 'add' | 'drain'> = {
    add: (portalId, ids) => queue.add(portalId, ids),
    drain: () => {
      const drained = queue.drain();
      drains.push(drained);
      return drained;
    },
  };
  const action = createWorkflowAction({
    verifier,
    registry,
    store,
    clock,
    logger,
    answerWithinMs: 100,
  });
  const router = createHubspotRouter({
    clientSecret: SECRET,
    publicUrl: PUBLIC_URL,
    oauth: null,
    store,
    queue: watchedQueue,
    action,
    clock,
    logger,
  });

  const keys = new SqliteKeyStore({ db });
  const app = createApp({
    config: {
      requireApiKey: true,
      apiTimeout: 1,
      apiTimeoutMax: 1,
      apiRateLimit: 100,
      maxBodyBytes: 65_536,
    },
    verifier,
    keys,
    quota: createQuotaMeter({ keys, dailyQuota: 0, clock, logger }),
    metrics: createMetrics({ withProcessMetrics: false }),
    logger,
    clock,
    isReady: async () => true,
    enqueueJob: async () => ({ id: 'job_1', status: 'queued', total: 0 }),
    jobsRouter: express.Router(),
    schedulesRouter: express.Router(),
    openapi: {},
    hubspotRouter: router,
  });
  return { app, verifier, action, drained: () => Promise.all(drains) };
}

function temporaryDatabase(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mailverify-hubspot-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'mailverify.db');
}

const pause = (ms: number) => new Promise((done) => setTimeout(done, ms));

function signedPost(app: express.Application, path: string, body: string, at = portal.now) {
  const timestamp = String(at);
  const signature = signV3('POST', `${PUBLIC_URL}${path}`, Buffer.from(body), timestamp, SECRET);
  return request(app)
    .post(path)
    .set('content-type', 'application/json')
    .set('x-hubspot-signature-v3', signature)
    .set('x-hubspot-request-timestamp', timestamp)
    .send(body);
}

function events(...list: Record<string, unknown>[]) {
  return JSON.stringify(
    list.map((event, index) => ({
      eventId: 100 + index,
      subscriptionId: 1,
      portalId: 62515,
      appId: 54321,
      occurredAt: portal.now,
      attemptNumber: 0,
      changeSource: 'CRM',
      ...event,
    })),
  );
}

describe('POST /hubspot/webhooks', () => {
  it('verifies a created contact and writes its properties, without an API key', async () => {
    portal.addContacts(1, () => ({ email: 'nobody@example.com' }));
    const { app, drained } = buildApp();

    const body = events({ subscriptionType: 'contact.creation', objectId: 1 });
    await signedPost(app, '/hubspot/webhooks', body).expect(204);
    await drained();

    const properties = portal.contacts.get('1')!.properties;
    expect(properties[PROPERTY_NAMES.status]).toBe('undeliverable');
    expect(properties[PROPERTY_NAMES.verifiedEmail]).toBe('nobody@example.com');
  });

  it('verifies a changed email and ignores changes to our own properties', async () => {
    portal.addContacts(2, (index) => ({ email: `user${index}@example.com` }));
    const { app, verifier, drained } = buildApp();

    const body = events(
      { subscriptionType: 'contact.propertyChange', objectId: 1, propertyName: 'email' },
      {
        subscriptionType: 'contact.propertyChange',
        objectId: 2,
        propertyName: PROPERTY_NAMES.status,
      },
    );
    await signedPost(app, '/hubspot/webhooks', body).expect(204);
    await drained();

    expect(verifier.calls).toEqual(['user0@example.com']);
    expect(portal.contacts.get('2')!.properties[PROPERTY_NAMES.status]).toBeUndefined();
  });

  it('does the work of a replayed event only once', async () => {
    portal.addContacts(1, () => ({ email: 'a@example.com' }));
    const { app, drained } = buildApp();
    const body = events({ subscriptionType: 'contact.creation', objectId: 1 });

    await signedPost(app, '/hubspot/webhooks', body).expect(204);
    await drained();
    await signedPost(app, '/hubspot/webhooks', body).expect(204);
    await drained();

    expect(portal.callsTo('POST', /batch\/read$/)).toHaveLength(1);
  });

  it('refuses a forged signature and queues nothing', async () => {
    portal.addContacts(1, () => ({ email: 'a@example.com' }));
    const { app, drained } = buildApp();
    const body = events({ subscriptionType: 'contact.creation', objectId: 1 });
    const timestamp = String(portal.now);

    await request(app)
      .post('/hubspot/webhooks')
      .set('content-type', 'application/json')
      .set(
        'x-hubspot-signature-v3',
        signV3('POST', `${PUBLIC_URL}/hubspot/webhooks`, Buffer.from(body), timestamp, 'guessed'),
      )
      .set('x-hubspot-request-timestamp', timestamp)
      .send(body)
      .expect(401);
    await drained();

    expect(portal.calls).toHaveLength(0);
  });

  it('refuses a correctly signed request older than five minutes', async () => {
    const { app } = buildApp();
    const body = events({ subscriptionType: 'contact.creation', objectId: 1 });

    await signedPost(app, '/hubspot/webhooks', body, portal.now - 6 * 60_000).expect(401);
  });
});

describe('POST /hubspot/actions/verify', () => {
  const actionBody = (callbackId: string, email: string) =>
    JSON.stringify({
      callbackId,
      origin: { portalId: 62515, actionDefinitionId: 7 },
      context: { source: 'WORKFLOWS', workflowId: 9 },
      object: { objectId: 1, objectType: 'CONTACT', properties: { email } },
      inputFields: { email },
    });

  it('answers the result at once when it is known quickly', async () => {
    const { app } = buildApp();

    const answer = await signedPost(
      app,
      '/hubspot/actions/verify',
      actionBody('cb-1', 'nobody@example.com'),
    ).expect(200);

    expect(answer.body).toEqual({
      outputFields: {
        status: 'undeliverable',
        reason: 'mailbox_not_found',
        score: 2,
        hs_execution_state: 'SUCCESS',
      },
    });
  });

  it('answers BLOCK when slow, then completes through the callback API once', async () => {
    const { app, verifier } = buildApp({ lateMs: () => 300 });

    const first = await signedPost(
      app,
      '/hubspot/actions/verify',
      actionBody('cb-2', 'a@example.com'),
    );
    const retry = await signedPost(
      app,
      '/hubspot/actions/verify',
      actionBody('cb-2', 'a@example.com'),
    );
    expect(first.body.outputFields.hs_execution_state).toBe('BLOCK');
    expect(retry.body.outputFields.hs_execution_state).toBe('BLOCK');

    await new Promise((done) => setTimeout(done, 400));
    const completions = portal.callsTo('POST', /actions\/callbacks\/cb-2\/complete$/);
    expect(completions).toHaveLength(1);
    expect(completions[0]!.body).toEqual({
      outputFields: {
        status: 'deliverable',
        reason: 'accepted',
        score: 95,
        hs_execution_state: 'SUCCESS',
      },
    });
    expect(verifier.calls).toEqual(['a@example.com']);
  });

  it('refuses an unsigned action request', async () => {
    const { app } = buildApp();
    await request(app)
      .post('/hubspot/actions/verify')
      .set('content-type', 'application/json')
      .send(actionBody('cb-3', 'a@example.com'))
      .expect(401);
  });

  it('does not verify or complete again when a retry reaches a restarted instance', async () => {
    const path = temporaryDatabase();
    const first = buildApp({ lateMs: () => 300 }, path);
    const body = actionBody('cb-restart', 'a@example.com');
    await signedPost(first.app, '/hubspot/actions/verify', body).expect(200);
    await pause(400);
    expect(portal.callsTo('POST', /callbacks\/cb-restart\/complete$/)).toHaveLength(1);

    const second = buildApp({}, path);
    const retry = await signedPost(second.app, '/hubspot/actions/verify', body).expect(200);
    await pause(200);

    expect(retry.body.outputFields.hs_execution_state).toBe('BLOCK');
    expect(second.verifier.calls).toEqual([]);
    expect(portal.callsTo('POST', /callbacks\/cb-restart\/complete$/)).toHaveLength(1);
  });

  it('leaves a callback still being verified to the instance that accepted it', async () => {
    const path = temporaryDatabase();
    const first = buildApp({ lateMs: () => 300 }, path);
    const second = buildApp({ lateMs: () => 300 }, path);
    const body = actionBody('cb-shared', 'a@example.com');

    await signedPost(first.app, '/hubspot/actions/verify', body).expect(200);
    const retry = await signedPost(second.app, '/hubspot/actions/verify', body).expect(200);
    await pause(400);

    expect(retry.body.outputFields.hs_execution_state).toBe('BLOCK');
    expect(first.verifier.calls).toEqual(['a@example.com']);
    expect(second.verifier.calls).toEqual([]);
    expect(portal.callsTo('POST', /callbacks\/cb-shared\/complete$/)).toHaveLength(1);
  });

  it('takes over a callback whose instance ended before completing it, once', async () => {
    const path = temporaryDatabase();
    const ended = buildApp({ hangs: () => true }, path);
    const body = actionBody('cb-orphan', 'a@example.com');
    const blocked = await signedPost(ended.app, '/hubspot/actions/verify', body).expect(200);
    expect(blocked.body.outputFields.hs_execution_state).toBe('BLOCK');

    const survivor = buildApp({}, path);
    expect(await survivor.action.resumeUnfinished()).toBe(0);
    portal.now += CALLBACK_CLAIM_MS + 1;
    expect(await survivor.action.resumeUnfinished()).toBe(1);
    await pause(100);

    expect(survivor.verifier.calls).toEqual(['a@example.com']);
    const completions = portal.callsTo('POST', /callbacks\/cb-orphan\/complete$/);
    expect(completions).toHaveLength(1);
    expect(completions[0]!.body).toMatchObject({ outputFields: { status: 'deliverable' } });
    portal.now += CALLBACK_CLAIM_MS + 1;
    expect(await survivor.action.resumeUnfinished()).toBe(0);
  });

  it('completes a callback in a later sweep when HubSpot refused the completion', async () => {
    const { app, action, verifier } = buildApp({ lateMs: () => 150 });
    portal.failNext(/callbacks\/cb-refused\/complete$/, { status: 400 });
    await signedPost(app, '/hubspot/actions/verify', actionBody('cb-refused', 'a@example.com'));
    await pause(300);
    expect(portal.callsTo('POST', /callbacks\/cb-refused\/complete$/)).toHaveLength(1);

    portal.now += CALLBACK_CLAIM_MS + 1;
    expect(await action.resumeUnfinished()).toBe(1);
    await pause(300);

    expect(portal.callsTo('POST', /callbacks\/cb-refused\/complete$/)).toHaveLength(2);
    expect(verifier.calls).toEqual(['a@example.com', 'a@example.com']);
    portal.now += CALLBACK_CLAIM_MS + 1;
    expect(await action.resumeUnfinished()).toBe(0);
  });

  it('leaves an unfinished callback that HubSpot has already given up on', async () => {
    const path = temporaryDatabase();
    const ended = buildApp({ hangs: () => true }, path);
    await signedPost(ended.app, '/hubspot/actions/verify', actionBody('cb-late', 'a@example.com'));

    const survivor = buildApp({}, path);
    portal.now += 86_400_000 + 1;
    expect(await survivor.action.resumeUnfinished()).toBe(0);
    expect(survivor.verifier.calls).toEqual([]);
  });

  it('does not verify again a callback answered at once before a restart', async () => {
    const path = temporaryDatabase();
    const body = actionBody('cb-answered', 'nobody@example.com');
    const first = await signedPost(buildApp({}, path).app, '/hubspot/actions/verify', body);
    expect(first.body.outputFields.hs_execution_state).toBe('SUCCESS');

    const second = buildApp({}, path);
    await signedPost(second.app, '/hubspot/actions/verify', body).expect(200);
    await pause(200);

    expect(second.verifier.calls).toEqual([]);
    expect(portal.callsTo('POST', /callbacks\/cb-answered\/complete$/)).toHaveLength(0);
  });
});
