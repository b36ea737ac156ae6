import nock from 'nock';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { OAuthSettings } from '../../../connectors/hubspot/hubspot-oauth.js';
import {
  createPortalRegistry,
  PortalUnavailableError,
} from '../../../connectors/hubspot/portal-registry.js';
import { sealToken } from '../../../connectors/hubspot/seal-token.js';
import { openSqlite } from '../../../src/store/sqlite-database.js';
import { SqliteHubspotStore } from '../../../src/store/sqlite-hubspot-store.js';
import { BASE_URL, fakeClock } from './fake-portal.js';

const KEY = 'a'.repeat(64);
const SETTINGS: OAuthSettings = {
  clientId: 'client-id',
  clientSecret: 'client-secret',
  tokenKey: KEY,
  publicUrl: 'https://verify.example.com',
  baseUrl: BASE_URL,
};
const PORTAL = '62515';

beforeEach(() => nock.disableNetConnect());
afterEach(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

/** A portal installed earlier whose access token has expired: the next use refreshes it. */
async function setUp() {
  const store = new SqliteHubspotStore(openSqlite(':memory:'));
  const clock = fakeClock(10_000_000);
  await store.saveTokens({
    portalId: PORTAL,
    sealedRefreshToken: sealToken('refresh-secret-1', KEY),
    accessToken: 'access-old',
    expiresAt: clock.time - 1,
  });
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const registry = createPortalRegistry({
    accessToken: '',
    baseUrl: BASE_URL,
    oauth: SETTINGS,
    store,
    clock,
    logger,
  });
  return { registry, clock, lines };
}

describe('createPortalRegistry token refresh', () => {
  it('says HubSpot refused the refresh, names the portal, and warns once an hour', async () => {
    const { registry, clock, lines } = await setUp();
    nock(BASE_URL)
      .post('/oauth/v1/token')
      .times(3)
      .reply(400, { status: 'BAD_REFRESH_TOKEN', message: 'missing or invalid refresh token' });

    expect(await registry.connectAll()).toEqual([]);
    expect(await registry.connect(PORTAL)).toBeNull();
    clock.time += 61 * 60_000;
    expect(await registry.connectAll()).toEqual([]);

    const warnings = lines.filter((line) => line.level === 40);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatchObject({
      portalId: PORTAL,
      detail: '400 BAD_REFRESH_TOKEN missing or invalid refresh token',
    });
    expect(String(warnings[0]!.msg)).toContain('install it again');
    expect(JSON.stringify(lines)).not.toContain('refresh-secret-1');
  });

  it('treats a failing token endpoint as unavailable, not as uninstalled', async () => {
    const { registry, lines } = await setUp();
    nock(BASE_URL).post('/oauth/v1/token').times(2).reply(503, { status: 'UNAVAILABLE' });

    await expect(registry.connect(PORTAL)).rejects.toBeInstanceOf(PortalUnavailableError);
    expect(await registry.connectAll()).toEqual([]);
    expect(lines.map((line) => line.msg)).toContain('hubspot portal left out of this run');
  });

  it('connects with the renewed token when the refresh works', async () => {
    const { registry } = await setUp();
    nock(BASE_URL).post('/oauth/v1/token').reply(200, {
      access_token: 'access-new',
      refresh_token: 'refresh-secret-2',
      expires_in: 1800,
      token_type: 'bearer',
    });

    const connection = await registry.connect(PORTAL);
    expect(connection?.portalId).toBe(PORTAL);
  });
});
