/**
 * The `hubspot-sync` scheduled task: one sync of every connected portal
 * (the private-app token's, and each installed through OAuth), one after
 * the other, each with its own rate limiter. Options: `{ "full": bool,
 * "dryRun": bool }`.
 */
import { z } from 'zod';
import type { Logger } from 'pino';

import type { BulkVerifier, HubspotStore, Verdict } from '../../src/index.js';
import type { Client } from '@hubspot/api-client';
import type { PortalRateLimiter } from './portal-rate-limiter.js';
import { syncContacts } from './sync-contacts.js';
import type { SyncReport } from './sync-contacts.js';

export interface PortalConnection {
  portalId: string;
  client: Client;
  limiter: PortalRateLimiter;
}

export interface HubspotSyncTaskDeps {
  /** Every portal to sync, with a client holding a current access token. */
  connectPortals: () => Promise<PortalConnection[]>;
  openVerifier: () => { verifier: Pick<BulkVerifier, 'verify'>; close(): Promise<void> };
  store: HubspotStore;
  clock: { now(): number; sleep(ms: number): Promise<void> };
  lifetimes: Record<Verdict, number>;
  trustsHardBounces: boolean;
}

type SummaryValue = string | number | boolean | null;

interface TaskOutcome {
  outcome: 'succeeded' | 'failed';
  /** Flat, as the scheduler stores it: `<portal>.<count>`. */
  summary: Record<string, SummaryValue>;
  error?: string | null;
}

const optionsSchema = z
  .object({ full: z.boolean().default(false), dryRun: z.boolean().default(false) })
  .strict();

export function createHubspotSyncTask(deps: HubspotSyncTaskDeps) {
  return async (
    rawOptions: unknown,
    context: { signal: AbortSignal; logger: Logger },
  ): Promise<TaskOutcome> => {
    const parsed = optionsSchema.safeParse(rawOptions ?? {});
    if (!parsed.success) {
      return { outcome: 'failed', summary: {}, error: `invalid options: ${parsed.error.message}` };
    }
    const portals = await deps.connectPortals();
    if (portals.length === 0) {
      return { outcome: 'failed', summary: {}, error: 'no HubSpot portal is connected' };
    }

    const opened = deps.openVerifier();
    const reports: Record<string, SyncReport> = {};
    try {
      for (const portal of portals) {
        if (context.signal.aborted) break;
        reports[portal.portalId] = await syncContacts(
          { ...portal, ...deps, verifier: opened.verifier, logger: context.logger },
          {
            isFull: parsed.data.full,
            isDryRun: parsed.data.dryRun,
            trustsHardBounces: deps.trustsHardBounces,
            signal: context.signal,
          },
        );
      }
    } finally {
      await opened.close();
    }
    return { outcome: 'succeeded', summary: summarize(reports) };
  };
}

function summarize(reports: Record<string, SyncReport>): Record<string, SummaryValue> {
  const summary: Record<string, SummaryValue> = {};
  for (const [portalId, report] of Object.entries(reports)) {
    const { changes, failed, ...counts } = report;
    const flat = { ...counts, failed: failed.length, changes: changes.length };
    for (const [key, value] of Object.entries(flat)) summary[`${portalId}.${key}`] = value;
  }
  return summary;
}
