import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import express from 'express';
import nock from 'nock';
import pino from 'pino';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { OAUTH_SCOPES } from '../../../connectors/hubspot/hubspot-oauth.js';
import type { OAuthSettings } from '../../../connectors/hubspot/hubspot-oauth.js';
import { createHubspotRouter } from '../../../connectors/hubspot/hubspot-router.js';
import { unsealToken } from '../../../connectors/hubspot/seal-token.js';
import { openSqlite } from '../../../src/store/sqlite-database.js';
import type { SqliteDatabase } from '../../../src/store/sqlite-database.js';
import { SqliteHubspotStore } from '../../../src/store/sqlite-hubspot-store.js';
import { BASE_URL, fakeClock } from './fake-portal.js';

const KEY = 'c'.repeat(64);
const SETTINGS: OAuthSettings = {
  clientId: 'client-id-7',
  clientSecret: 'client-secret-7',
  tokenKey: KEY,
  publicUrl: 'https://verify.example.com',
  baseUrl: BASE_URL,
};
const REDIRECT_URI = 'https://verify.example.com/hubspot/oauth/callback';
const REFRESH_TOKEN = 'refresh-5f1c0a9e-7d2b-4e33-9a41-2c6b8d0e4f17';
const ACCESS_TOKEN = 'access-8b2d4f60-1e3a-4c57-b9d8-7a0c3e5f2b91';

let dir: string;
const opened: SqliteDatabase[] = [];

beforeEach(() => {
  nock.disableNetConnect();
  nock.enableNetConnect(/127\.0\.0\.1|localhost/);
  dir = mkdtempSync(join(tmpdir(), 'mailverify-oauth-'));
});

afterEach(() => {
  opened.splice(0).forEach((db) => db.open && db.close());
  nock.cleanAll();
  nock.enableNetConnect();
  rmSync(dir, { recursive: true, force: true });
});

function buildApp() {
  const path = join(dir, 'mailverify.db');
  const db = openSqlite(path);
  opened.push(db);
  const store = new SqliteHubspotStore(db);
  const clock = fakeClock(Date.parse('2025-01-05T00:00:00Z'));
  const unused = () => Promise.reject(new Error('not used by the OAuth routes'));
  const router = createHubspotRouter({
    clientSecret: SETTINGS.clientSecret,
    publicUrl: SETTINGS.publicUrl,
    oauth: SETTINGS,
    store,
    queue: { add: unused, drain: unused },
    action: { handle: unused, resumeUnfinished: unused },
    clock,
    logger: pino({ level: 'silent' }),
  });
  const app = express();
  app.use(router);
  return { app, db, store, clock };
}

/** HubSpot's token and token-info endpoints; the forms sent to the first. */
function interceptTokenExchange() {
  const forms: Record<string, string>[] = [];
  nock(BASE_URL)
    .post('/oauth/v1/token', (body: string | Record<string, string>) => {
      forms.push(Object.fromEntries(new URLSearchParams(body)));
      return true;
    })
    .reply(200, {
      access_token: ACCESS_TOKEN,
      refresh_token: REFRESH_TOKEN,
      expires_in: 1800,
      token_type: 'bearer',
    })
    .get(`/oauth/v1/access-tokens/${ACCESS_TOKEN}`)
    .reply(200, {
      token: ACCESS_TOKEN,
      hub_id: 62515,
      user_id: 1,
      app_id: 2,
      scopes: [...OAUTH_SCOPES],
      token_type: 'access',
      expires_in: 1800,
    });
  return forms;
}

async function stateFromInstall(app: express.Application): Promise<string> {
  const answer = await request(app).get('/hubspot/install').expect(302);
  return new URL(answer.headers.location as string).searchParams.get('state') ?? '';
}

describe('GET /hubspot/install', () => {
  it("redirects to HubSpot's authorize URL with our scopes, callback and a state", async () => {
    const { app } = buildApp();

    const answer = await request(app).get('/hubspot/install').expect(302);

    const url = new URL(answer.headers.location as string);
    expect(`${url.origin}${url.pathname}`).toBe('https://app.hubspot.com/oauth/authorize');
    expect(url.searchParams.get('client_id')).toBe('client-id-7');
    expect(url.searchParams.get('scope')?.split(' ')).toEqual([...OAUTH_SCOPES]);
    expect(url.searchParams.get('redirect_uri')).toBe(REDIRECT_URI);
    expect(url.searchParams.get('state')).toMatch(/^\d+\.[\w-]+$/);
  });
});

describe('GET /hubspot/oauth/callback', () => {
  it('refuses a forged state, exchanges no code and stores nothing', async () => {
    const { app, store, clock } = buildApp();
    const forms = interceptTokenExchange();
    const genuine = await stateFromInstall(app);
    const forged = `${clock.now()}.${'A'.repeat(genuine.split('.')[1]!.length)}`;

    const answer = await request(app)
      .get('/hubspot/oauth/callback')
      .query({ code: 'code-1', state: forged })
      .expect(403);

    expect(answer.body.error.code).toBe('forbidden');
    expect(answer.body.error.message).toMatch(/OAuth state is forged or expired/);
    expect(forms).toEqual([]);
    expect(await store.listPortals()).toEqual([]);
  });

  it('refuses a state that has expired since the install started', async () => {
    const { app, store, clock } = buildApp();
    const forms = interceptTokenExchange();
    const state = await stateFromInstall(app);
    clock.time += 16 * 60_000;

    await request(app).get('/hubspot/oauth/callback').query({ code: 'code-1', state }).expect(403);

    expect(forms).toEqual([]);
    expect(await store.listPortals()).toEqual([]);
  });

  it('refuses a callback without a state and stores nothing', async () => {
    const { app, store } = buildApp();
    const forms = interceptTokenExchange();

    const answer = await request(app)
      .get('/hubspot/oauth/callback')
      .query({ code: 'code-1' })
      .expect(422);

    expect(answer.body.error).toEqual({
      code: 'validation_failed',
      message: 'code and state are required',
      details: null,
    });
    expect(forms).toEqual([]);
    expect(await store.listPortals()).toEqual([]);
  });

  it('answers 502 and stores nothing when HubSpot refuses the code', async () => {
    const { app, store } = buildApp();
    nock(BASE_URL)
      .post('/oauth/v1/token')
      .reply(400, { status: 'BAD_AUTH_CODE', message: 'missing or unknown auth code' });
    const state = await stateFromInstall(app);

    const answer = await request(app)
      .get('/hubspot/oauth/callback')
      .query({ code: 'used-code', state })
      .expect(502);

    expect(answer.body.error.code).toBe('upstream_failed');
    expect(answer.body.error.message).toMatch(/start again at \/hubspot\/install/);
    expect(await store.listPortals()).toEqual([]);
  });

  it('exchanges the code and stores the refresh token sealed, never in clear', async () => {
    const { app, db, store } = buildApp();
    const forms = interceptTokenExchange();
    const state = await stateFromInstall(app);

    const answer = await request(app)
      .get('/hubspot/oauth/callback')
      .query({ code: 'code-from-hubspot', state })
      .expect(200);

    expect(answer.text).toContain('portal 62515');
    expect(forms).toEqual([
      {
        grant_type: 'authorization_code',
        code: 'code-from-hubspot',
        redirect_uri: REDIRECT_URI,
        client_id: 'client-id-7',
        client_secret: 'client-secret-7',
      },
    ]);
    const stored = await store.getTokens('62515');
    expect(unsealToken(stored!.sealedRefreshToken, KEY)).toBe(REFRESH_TOKEN);

    // Closing checkpoints the write-ahead log; any file left beside it is read too.
    db.close();
    const bytes = Buffer.concat(readdirSync(dir).map((name) => readFileSync(join(dir, name))));
    expect(bytes.includes(stored!.sealedRefreshToken)).toBe(true);
    expect(bytes.includes(REFRESH_TOKEN)).toBe(false);
  });
});
