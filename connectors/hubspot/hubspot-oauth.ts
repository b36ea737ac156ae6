/**
 * OAuth for the public app: the install URL, the code exchange at the
 * callback, and access tokens refreshed before they expire. Refresh tokens
 * are stored sealed (seal-token.ts); access tokens live 30 minutes.
 * https://developers.hubspot.com/docs/api/oauth-quickstart-guide
 */
import type { Clock, HubspotStore } from '../../src/index.js';
import { createHubspotClient } from './create-hubspot-client.js';
import { sealToken, unsealToken } from './seal-token.js';

/** Kept in step with manifest/hubspot (a test checks it). */
export const OAUTH_SCOPES = [
  'oauth',
  'crm.objects.contacts.read',
  'crm.objects.contacts.write',
  'crm.schemas.contacts.read',
  'crm.schemas.contacts.write',
  'automation',
] as const;

export const CALLBACK_PATH = '/hubspot/oauth/callback';
export const INSTALL_PATH = '/hubspot/install';
const AUTHORIZE_URL = 'https://app.hubspot.com/oauth/authorize';
/** Refresh this long before expiry, so no call carries a token about to lapse. */
const REFRESH_MARGIN_MS = 5 * 60_000;

export interface OAuthSettings {
  clientId: string;
  clientSecret: string;
  tokenKey: string;
  /** Where HubSpot reaches this service, e.g. https://verify.example.com. */
  publicUrl: string;
  baseUrl: string;
}

export function installUrl(settings: OAuthSettings, state: string): string {
  const url = new URL(AUTHORIZE_URL);
  url.searchParams.set('client_id', settings.clientId);
  url.searchParams.set('redirect_uri', redirectUriOf(settings));
  url.searchParams.set('scope', OAUTH_SCOPES.join(' '));
  url.searchParams.set('state', state);
  return url.toString();
}

export function redirectUriOf(settings: OAuthSettings): string {
  return new URL(CALLBACK_PATH, settings.publicUrl).toString();
}

/** Exchanges the callback's code; stores the tokens; answers the portal id. */
export async function completeInstall(
  settings: OAuthSettings,
  code: string,
  deps: { store: HubspotStore; clock: Clock },
): Promise<string> {
  const oauth = createHubspotClient({ accessToken: '', baseUrl: settings.baseUrl }).oauth;
  const tokens = await oauth.tokensApi.create(
    'authorization_code',
    code,
    redirectUriOf(settings),
    settings.clientId,
    settings.clientSecret,
  );
  const info = await oauth.accessTokensApi.get(tokens.accessToken);
  const portalId = String(info.hubId);

  await deps.store.saveTokens({
    portalId,
    sealedRefreshToken: sealToken(tokens.refreshToken, settings.tokenKey),
    accessToken: tokens.accessToken,
    expiresAt: deps.clock.now() + tokens.expiresIn * 1000,
  });
  return portalId;
}

/** A current access token for the portal, refreshed when close to expiry. */
export async function currentAccessToken(
  settings: OAuthSettings,
  portalId: string,
  deps: { store: HubspotStore; clock: Clock },
): Promise<string | null> {
  const stored = await deps.store.getTokens(portalId);
  if (!stored) return null;
  if (stored.expiresAt - REFRESH_MARGIN_MS > deps.clock.now()) return stored.accessToken;

  const refreshToken = unsealToken(stored.sealedRefreshToken, settings.tokenKey);
  if (refreshToken === null) return null;
  const oauth = createHubspotClient({ accessToken: '', baseUrl: settings.baseUrl }).oauth;
  const tokens = await oauth.tokensApi.create(
    'refresh_token',
    undefined,
    undefined,
    settings.clientId,
    settings.clientSecret,
    refreshToken,
  );
  await deps.store.saveTokens({
    portalId,
    sealedRefreshToken: sealToken(tokens.refreshToken, settings.tokenKey),
    accessToken: tokens.accessToken,
    expiresAt: deps.clock.now() + tokens.expiresIn * 1000,
  });
  return tokens.accessToken;
}
