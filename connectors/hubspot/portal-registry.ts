/**
 * Which portals this service serves and a client for each: the portal of
 * the private-app token (keyed `private-app`), and every portal installed
 * through OAuth. One rate limiter per portal for the life of the process,
 * shared by syncs, webhooks and workflow actions.
 */
import type { Clock, HubspotStore } from '../../src/index.js';
import { createHubspotClient } from './create-hubspot-client.js';
import type { PortalConnection } from './hubspot-sync-task.js';
import { currentAccessToken } from './hubspot-oauth.js';
import type { OAuthSettings } from './hubspot-oauth.js';
import { createPortalRateLimiter } from './portal-rate-limiter.js';
import type { PortalRateLimiter } from './portal-rate-limiter.js';

export const PRIVATE_APP_PORTAL = 'private-app';

export interface PortalRegistryOptions {
  accessToken: string;
  baseUrl: string;
  /** Null when OAuth is not configured. */
  oauth: OAuthSettings | null;
  store: HubspotStore;
  clock: Clock;
}

export interface PortalRegistry {
  connectAll(): Promise<PortalConnection[]>;
  /** The portal of a webhook or action; the private-app portal serves unknown ids. */
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

  const connectInstalled = async (portalId: string) => {
    if (!options.oauth) return null;
    // TODO: a refresh refused by HubSpot (app uninstalled) is only seen as
    // "not connected"; the portal's tokens stay stored until reinstalled.
    const token = await currentAccessToken(options.oauth, portalId, options).catch(() => null);
    return token === null ? null : connectionOf(portalId, token);
  };

  return {
    async connectAll() {
      const connections: PortalConnection[] = [];
      if (options.accessToken) {
        connections.push(connectionOf(PRIVATE_APP_PORTAL, options.accessToken));
      }
      for (const portalId of await options.store.listPortals()) {
        const connection = await connectInstalled(portalId);
        if (connection) connections.push(connection);
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
