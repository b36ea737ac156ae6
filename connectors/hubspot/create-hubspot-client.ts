/**
 * A HubSpot SDK client for one portal. The SDK's retry and limiter stay
 * off: they are process-wide and blind to the rate-limit headers, and the
 * portal's own limiter (portal-rate-limiter.ts) does that job.
 */
import { Client } from '@hubspot/api-client';

export const DEFAULT_HUBSPOT_BASE_URL = 'https://api.hubapi.com';

export interface HubspotClientOptions {
  accessToken: string;
  /** For proxies and stand-ins; HubSpot's API otherwise. */
  baseUrl?: string;
}

export function createHubspotClient(options: HubspotClientOptions): Client {
  return new Client({
    accessToken: options.accessToken,
    basePath: (options.baseUrl ?? DEFAULT_HUBSPOT_BASE_URL).replace(/\/+$/, ''),
    numberOfApiCallRetries: 0,
  });
}
