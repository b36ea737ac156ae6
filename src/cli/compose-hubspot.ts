/**
 * HubSpot settings from configuration, and the HubSpot parts of the
 * service, shared by the CLI and `mailverify serve`.
 */
import type { Router } from 'express';
import type { Logger } from 'pino';

import {
  createContactQueue,
  createHubspotRouter,
  createHubspotSyncTask,
  createPortalRegistry,
  createWorkflowAction,
} from '../../connectors/hubspot/index.js';
import type { OAuthSettings } from '../../connectors/hubspot/index.js';
import { lifetimesOf } from '../config.js';
import type { Config } from '../config.js';
import type { BulkVerifier } from '../engine/bulk-verifier.js';
import type { OpenedVerifier } from '../scheduler/reverify-task.js';
import type { ScheduledTaskFn } from '../scheduler/scheduler.js';
import type { SqliteDatabase } from '../store/sqlite-database.js';
import { SqliteHubspotStore } from '../store/sqlite-hubspot-store.js';
import type { Clock } from '../verify/types.js';

/** OAuth settings, or null when the public app is not configured. */
export function oauthSettingsOf(config: Config): OAuthSettings | null {
  const { hubspotClientId, hubspotClientSecret, hubspotTokenKey, hubspotPublicUrl } = config;
  if (!hubspotClientId || !hubspotClientSecret || !hubspotTokenKey || !hubspotPublicUrl) {
    return null;
  }
  return {
    clientId: hubspotClientId,
    clientSecret: hubspotClientSecret,
    tokenKey: hubspotTokenKey,
    publicUrl: hubspotPublicUrl,
    baseUrl: config.hubspotBaseUrl,
  };
}

/** How often unfinished workflow callbacks are looked for. */
const CALLBACK_SWEEP_MS = 5 * 60_000;

export interface ComposedHubspot {
  router: Router;
  syncTask: ScheduledTaskFn;
  /**
   * Verifies what webhooks queued before a restart, and from now on takes
   * over workflow callbacks that a process ended without completing.
   */
  start(): void;
  /** Starts no more webhook rounds; resolves when the running one has ended. */
  stop(): Promise<void>;
}

export interface HubspotServiceDeps {
  db: SqliteDatabase;
  /** The service's long-lived verifier, for webhooks and workflow actions. */
  verifier: Pick<BulkVerifier, 'verify'>;
  /** A verifier per scheduled sync run. */
  openVerifier: () => OpenedVerifier;
  clock: Clock;
}

/** The HubSpot parts of `mailverify serve`: routes, webhook queue, sync task. */
export function composeHubspot(
  config: Config,
  logger: Logger,
  deps: HubspotServiceDeps,
): ComposedHubspot {
  const store = new SqliteHubspotStore(deps.db);
  const oauth = oauthSettingsOf(config);
  const registry = createPortalRegistry({
    accessToken: config.hubspotAccessToken,
    baseUrl: config.hubspotBaseUrl,
    oauth,
    store,
    clock: deps.clock,
    logger,
  });
  const shared = {
    store,
    registry,
    clock: deps.clock,
    lifetimes: lifetimesOf(config),
    trustsHardBounces: config.hubspotTrustHardBounces,
    logger,
  };
  const queue = createContactQueue({ ...shared, verifier: deps.verifier });
  const action = createWorkflowAction({ ...shared, verifier: deps.verifier });

  const router = createHubspotRouter({
    clientSecret: config.hubspotClientSecret,
    publicUrl: config.hubspotPublicUrl,
    oauth,
    store,
    queue,
    action,
    clock: deps.clock,
    logger,
  });
  const syncTask = createHubspotSyncTask({
    ...shared,
    connectPortals: () => registry.connectAll(),
    openVerifier: deps.openVerifier,
  });
  let sweep: NodeJS.Timeout | null = null;
  const resumeCallbacks = () => {
    action.resumeUnfinished().catch((error: unknown) => {
      logger.error({ err: error }, 'workflow action: unfinished callbacks not resumed');
    });
  };
  const start = () => {
    void queue.drain();
    resumeCallbacks();
    sweep ??= setInterval(resumeCallbacks, CALLBACK_SWEEP_MS).unref();
  };
  const stop = () => {
    if (sweep) clearInterval(sweep);
    sweep = null;
    return queue.stop();
  };
  return { router, syncTask, start, stop };
}
