/**
 * Contacts queued by webhooks, verified and written back promptly. The
 * queue lives in the store, so a restart loses nothing; one drain runs at a
 * time and takes up to 100 contacts of a portal per round (one batch read,
 * one batch write).
 * https://developers.hubspot.com/docs/api/crm/contacts (batch read)
 */
import type { Logger } from 'pino';

import type { BulkVerifier, Clock, HubspotStore, Verdict } from '../../src/index.js';
import { READ_PROPERTIES } from './fetch-contact-pages.js';
import type { HubspotContact } from './fetch-contact-pages.js';
import { planContact } from './plan-contact.js';
import { PortalUnavailableError } from './portal-registry.js';
import type { PortalRegistry } from './portal-registry.js';
import type { PortalConnection } from './hubspot-sync-task.js';
import { HubspotStopError } from './portal-rate-limiter.js';
import { answerOf } from './provision-properties.js';
import { BATCH_SIZE, writeContactUpdates } from './write-contact-updates.js';
import type { ContactUpdate } from './write-contact-updates.js';

/** Bounds one drain: 1,000 rounds of 100 contacts. */
const MAX_ROUNDS = 1_000;

export interface ContactQueueDeps {
  store: HubspotStore;
  registry: PortalRegistry;
  verifier: Pick<BulkVerifier, 'verify'>;
  clock: Clock;
  lifetimes: Record<Verdict, number>;
  trustsHardBounces: boolean;
  logger: Logger;
}

export interface ContactQueue {
  add(portalId: string, contactIds: string[]): Promise<void>;
  /** Starts a drain unless one runs; resolves when the queue is empty or stuck. */
  drain(): Promise<void>;
  /**
   * No round starts after this; resolves when the running drain, if any,
   * has ended. A round cut short (its verifier closed under it) leaves its
   * contacts queued for the next start.
   */
  stop(): Promise<void>;
}

export function createContactQueue(deps: ContactQueueDeps): ContactQueue {
  let running: Promise<void> | null = null;
  let isStopping = false;

  const drainOnce = async () => {
    for (let round = 0; round < MAX_ROUNDS && !isStopping; round += 1) {
      const portals = await deps.store.listQueuedPortals();
      if (portals.length === 0) return;
      let hasProgress = false;
      for (const portalId of portals) {
        if (isStopping) return;
        hasProgress = (await drainPortal(deps, portalId)) || hasProgress;
      }
      // Quota spent or HubSpot down: the queue waits for the next drain.
      if (!hasProgress) return;
    }
  };

  const onFailure = (error: unknown) => {
    if (isStopping) {
      deps.logger.info({ reason: String(error) }, 'hubspot queue stopped; contacts stay queued');
    } else {
      deps.logger.error({ err: error }, 'hubspot queue failed');
    }
  };

  return {
    async add(portalId, contactIds) {
      await deps.store.queueContacts(portalId, contactIds, deps.clock.now());
    },
    drain() {
      if (isStopping) return Promise.resolve();
      running ??= drainOnce()
        .catch(onFailure)
        .finally(() => (running = null));
      return running;
    },
    async stop() {
      isStopping = true;
      await running;
    },
  };
}

/** One round for one portal; false when nothing could be done. */
async function drainPortal(deps: ContactQueueDeps, portalId: string): Promise<boolean> {
  const ids = await deps.store.listQueued(portalId, BATCH_SIZE);
  let portal: PortalConnection | null;
  try {
    portal = await deps.registry.connect(portalId);
  } catch (error) {
    if (!(error instanceof PortalUnavailableError)) throw error;
    deps.logger.warn({ portalId, err: error }, 'hubspot queue paused: portal unavailable');
    return false;
  }
  if (!portal) {
    deps.logger.warn({ portalId }, 'hubspot queue: portal not connected; dropping its contacts');
    await deps.store.dequeueContacts(portalId, ids);
    return true;
  }

  try {
    const read = await portal.limiter.call('standard', () =>
      answerOf(
        portal.client.crm.contacts.batchApi.readWithHttpInfo({
          inputs: ids.map((id) => ({ id })),
          properties: [...READ_PROPERTIES],
          propertiesWithHistory: [],
        }),
      ),
    );
    const contacts: HubspotContact[] = read.results.map((object) => ({
      id: object.id,
      properties: { ...object.properties },
    }));
    const updates = await planUpdates(deps, contacts);
    await writeContactUpdates(portal.client, portal.limiter, updates);
  } catch (error) {
    if (!(error instanceof HubspotStopError)) throw error;
    deps.logger.warn({ portalId, reason: error.reason }, 'hubspot queue paused');
    return false;
  }
  // Contacts HubSpot no longer has were left out of the read: done with them too.
  await deps.store.dequeueContacts(portalId, ids);
  return true;
}

async function planUpdates(deps: ContactQueueDeps, contacts: HubspotContact[]) {
  const now = deps.clock.now();
  const updates = await Promise.all(
    contacts.map(async (contact): Promise<ContactUpdate | null> => {
      const plan = planContact(contact, {
        now,
        lifetimes: deps.lifetimes,
        trustsHardBounces: deps.trustsHardBounces,
      });
      if (plan.action === 'skip') return null;
      const result =
        plan.action === 'record_bounce' ? plan.result : await deps.verifier.verify(plan.email);
      const properties = plan.changedProperties(result);
      return Object.keys(properties).length > 0 ? { id: contact.id, properties } : null;
    }),
  );
  return updates.filter((update) => update !== null);
}
