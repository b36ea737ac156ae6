/**
 * Which portals this service serves and a client for each: the portal of
 * the private-app token (keyed `private-app`), and every portal installed
 * through OAuth. One rate limiter per portal for the life of the process,
 * shared by syncs, webhooks and workflow actions.
 *
 * A token refresh HubSpot refuses (400 BAD_REFRESH_TOKEN once the app is
 * uninstalled) makes the portal not connected, with a warning that says so;
 * one that fails for a while (network, 429, 5xx) is a PortalUnavailableError,
 * so that the portal's queued work waits instead of being dropped.
 * https://developers.hubspot.com/docs/api/oauth/tokens
 */
import type { Logger } from 'pino';
import pino from 'pino';

import type { Clock, HubspotStore } from '../../src/index.js';
import { createHubspotClient } from './create-hubspot-client.js';
import type { PortalConnection } from './hubspot-sync-task.js';
import { currentAccessToken } from './hubspot-oauth.js';
import type { OAuthSettings } from './hubspot-oauth.js';
import { createPortalRateLimiter } from './portal-rate-limiter.js';
import type { PortalRateLimiter } from './portal-rate-limiter.js';

export const PRIVATE_APP_PORTAL = 'private-app';

/** A refused refresh is warned about at most this often per portal. */
const REFUSAL_WARNING_INTERVAL_MS = 60 * 60_000;
const DETAIL_CHARS = 200;

/** HubSpot could not renew a portal's access just now; the next attempt may. */
export class PortalUnavailableError extends Error {
  readonly code = 'HUBSPOT_PORTAL_UNAVAILABLE';

  constructor(
    readonly portalId: string,
    detail: string,
  ) {
    super(`HubSpot portal ${portalId} is unavailable: ${detail}`);
    this.name = 'PortalUnavailableError';
  }
}

export interface PortalRegistryOptions {
  accessToken: string;
  baseUrl: string;
  /** Null when OAuth is not configured. */
  oauth: OAuthSettings | null;
  store: HubspotStore;
  clock: Clock;
  logger?: Logger;
}

export interface PortalRegistry {
  /** Every portal that can be reached now; the others are left out with a warning. */
  connectAll(): Promise<PortalConnection[]>;
  /**
   * The portal of a webhook or action; the private-app portal serves unknown
   * ids. Throws PortalUnavailableError when its access cannot be renewed now.
   */
  connect(portalId: string): Promise<PortalConnection | null>;
}

export function createPortalRegistry(options: PortalRegistryOptions): PortalRegistry {
  const limiters = new Map<string, PortalRateLimiter>();
  const limiterOf = (portalId: string) => {
    let limiter = limiters.get(portalId);
    if (!limiter) {
      limiter = createPortalRateLimiter({ clock: options.clock });
      limiters.set(portalId, limiter);
    }
    return limiter;
  };
  const connectionOf = (portalId: string, accessToken: string): PortalConnection => ({
    portalId,
    client: createHubspotClient({ accessToken, baseUrl: options.baseUrl }),
    limiter: limiterOf(portalId),
  });

  const logger = options.logger ?? pino({ level: 'silent' });
  const lastRefusalWarning = new Map<string, number>();
  const warnRefused = (portalId: string, detail: string) => {
    const now = options.clock.now();
    const last = lastRefusalWarning.get(portalId);
    if (last !== undefined && now - last < REFUSAL_WARNING_INTERVAL_MS) return;
    lastRefusalWarning.set(portalId, now);
    logger.warn(
      { portalId, detail },
      'hubspot refused to renew the portal access: the app was probably uninstalled there; ' +
        'install it again to reconnect',
    );
  };

  const connectInstalled = async (portalId: string) => {
    if (!options.oauth) return null;
    let token: string | null;
    try {
      token = await currentAccessToken(options.oauth, portalId, options);
    } catch (error) {
      const failure = describeRefreshFailure(error);
      if (!failure.isRefused) throw new PortalUnavailableError(portalId, failure.detail);
      warnRefused(portalId, failure.detail);
      return null;
    }
    return token === null ? null : connectionOf(portalId, token);
  };

  return {
    async connectAll() {
      const connections: PortalConnection[] = [];
      if (options.accessToken) {
        connections.push(connectionOf(PRIVATE_APP_PORTAL, options.accessToken));
      }
      for (const portalId of await options.store.listPortals()) {
        try {
          const connection = await connectInstalled(portalId);
          if (connection) connections.push(connection);
        } catch (error) {
          if (!(error instanceof PortalUnavailableError)) throw error;
          logger.warn({ portalId, err: error }, 'hubspot portal left out of this run');
        }
      }
      return connections;
    },

    async connect(portalId) {
      const installed = await connectInstalled(portalId);
      if (installed) return installed;
      return options.accessToken ? connectionOf(PRIVATE_APP_PORTAL, options.accessToken) : null;
    },
  };
}

/**
 * A 4xx other than 429 is HubSpot saying no (BAD_REFRESH_TOKEN, a changed
 * client secret); anything else is trouble that may pass. The detail keeps
 * HubSpot's status and message, never a token.
 */
function describeRefreshFailure(error: unknown): { isRefused: boolean; detail: string } {
  const shaped = error as { code?: unknown; body?: unknown; message?: unknown };
  const status = typeof shaped.code === 'number' ? shaped.code : null;
  const body = (typeof shaped.body === 'object' && shaped.body !== null ? shaped.body : {}) as {
    status?: unknown;
    message?: unknown;
  };
  const words = [status, body.status, body.message].filter(
    (part) => typeof part === 'number' || (typeof part === 'string' && part !== ''),
  );
  if (status === null && typeof shaped.code === 'string') words.push(shaped.code);
  const detail = (words.length > 0 ? words.join(' ') : 'no answer').slice(0, DETAIL_CHARS);
  const isRefused = status !== null && status >= 400 && status < 500 && status !== 429;
  return { isRefused, detail };
}
