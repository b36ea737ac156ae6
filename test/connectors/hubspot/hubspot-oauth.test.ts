import nock from 'nock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  completeInstall,
  currentAccessToken,
  installUrl,
  OAUTH_SCOPES,
} from '../../../connectors/hubspot/hubspot-oauth.js';
import type { OAuthSettings } from '../../../connectors/hubspot/hubspot-oauth.js';
import { isValidState, issueState } from '../../../connectors/hubspot/oauth-state.js';
import { sealToken, unsealToken } from '../../../connectors/hubspot/seal-token.js';
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

beforeEach(() => nock.disableNetConnect());
afterEach(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

function tokenAnswer(access: string, refresh: string) {
  return { access_token: access, refresh_token: refresh, expires_in: 1800, token_type: 'bearer' };
}

describe('sealToken', () => {
  it('round-trips a token and refuses altered text or another key', () => {
    const sealed = sealToken('refresh-123', KEY);
    expect(sealed).not.toContain('refresh-123');
    expect(unsealToken(sealed, KEY)).toBe('refresh-123');
    expect(unsealToken(sealed, 'b'.repeat(64))).toBeNull();
    const altered = sealed.slice(0, -2) + (sealed.endsWith('A') ? 'BB' : 'AA');
    expect(unsealToken(altered, KEY)).toBeNull();
  });
});

describe('OAuth install', () => {
  it('builds an install URL with our scopes and callback', () => {
    const url = new URL(installUrl(SETTINGS, 'state-1'));
    expect(url.origin).toBe('https://app.hubspot.com');
    expect(url.searchParams.get('scope')).toBe(OAUTH_SCOPES.join(' '));
    expect(url.searchParams.get('redirect_uri')).toBe(
      'https://verify.example.com/hubspot/oauth/callback',
    );
  });

  it('accepts its own recent state and refuses a forged or expired one', () => {
    const clock = fakeClock(1_000_000);
    const state = issueState('secret', clock);
    expect(isValidState(state, 'secret', clock)).toBe(true);
    expect(isValidState(state, 'other', clock)).toBe(false);
    clock.time += 16 * 60_000;
    expect(isValidState(state, 'secret', clock)).toBe(false);
  });

  it('exchanges the code, seals the refresh token, refreshes before expiry', async () => {
    const store = new SqliteHubspotStore(openSqlite(':memory:'));
    const clock = fakeClock(1_000_000);
    const forms: string[] = [];
    nock(BASE_URL)
      .post('/oauth/v1/token', (body) => {
        forms.push(new URLSearchParams(body as string).get('grant_type') ?? String(body));
        return true;
      })
      .reply(200, tokenAnswer('access-1', 'refresh-1'))
      .get('/oauth/v1/access-tokens/access-1')
      .reply(200, {
        token: 'access-1',
        hub_id: 62515,
        user_id: 1,
        app_id: 2,
        scopes: [...OAUTH_SCOPES],
        token_type: 'access',
        expires_in: 1800,
      })
      .post('/oauth/v1/token')
      .reply(200, tokenAnswer('access-2', 'refresh-2'));

    const portalId = await completeInstall(SETTINGS, 'code-1', { store, clock });
    expect(portalId).toBe('62515');
    const stored = await store.getTokens('62515');
    expect(stored!.sealedRefreshToken).not.toContain('refresh-1');
    expect(unsealToken(stored!.sealedRefreshToken, KEY)).toBe('refresh-1');

    expect(await currentAccessToken(SETTINGS, '62515', { store, clock })).toBe('access-1');
    clock.time += 26 * 60_000;
    expect(await currentAccessToken(SETTINGS, '62515', { store, clock })).toBe('access-2');
    expect(forms[0]).toBe('authorization_code');
  });
});
