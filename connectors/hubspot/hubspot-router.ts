/**
 * The routes HubSpot calls, authenticated by HubSpot's signature on the raw
 * body rather than by our API keys: webhooks, the "Verify email" workflow
 * action, and the OAuth install and callback. The app must hand these
 * routes the body unparsed (`express.raw`).
 * https://developers.hubspot.com/docs/api/webhooks
 */
import express from 'express';
import type { Request, Response, Router } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';

import type { Clock, HubspotStore } from '../../src/index.js';
import { checkSignature } from './check-signature.js';
import type { ContactQueue } from './contact-queue.js';
import { CALLBACK_PATH, completeInstall, INSTALL_PATH, installUrl } from './hubspot-oauth.js';
import type { OAuthSettings } from './hubspot-oauth.js';
import { OWNED_PROPERTIES } from './hubspot-properties.js';
import type { WorkflowAction } from './workflow-action.js';
import { issueState, isValidState } from './oauth-state.js';

export const WEBHOOKS_PATH = '/hubspot/webhooks';
export const ACTION_PATH = '/hubspot/actions/verify';

/** HubSpot sends at most 100 events a request; anything far above is not HubSpot. */
const MAX_EVENTS = 1_000;
/** Event ids are kept for two days; HubSpot retries for about a day. */
const EVENT_MEMORY_MS = 2 * 86_400_000;
const CONTACT_TYPE_ID = '0-1';

const eventSchema = z.looseObject({
  eventId: z.union([z.number(), z.string()]),
  subscriptionType: z.string(),
  portalId: z.union([z.number(), z.string()]),
  objectId: z.union([z.number(), z.string()]),
  propertyName: z.string().optional(),
  objectTypeId: z.string().optional(),
});
const eventsSchema = z.array(eventSchema).max(MAX_EVENTS);

export interface HubspotRouterDeps {
  /** The app's client secret; empty refuses every signed route. */
  clientSecret: string;
  /** Public base URL HubSpot calls; the request's own host otherwise. */
  publicUrl: string;
  oauth: OAuthSettings | null;
  store: HubspotStore;
  queue: Pick<ContactQueue, 'add' | 'drain'>;
  action: WorkflowAction;
  clock: Clock;
  logger: Logger;
}

/** Routes relative to the app's root: mount with `app.use(router)`. */
export function createHubspotRouter(deps: HubspotRouterDeps): Router {
  const router = express.Router();
  const isSigned = (req: Request) => {
    if (!deps.clientSecret || !Buffer.isBuffer(req.body)) return 'missing';
    const uri = publicUriOf(req, deps.publicUrl);
    const signed = { method: req.method, uri, rawBody: req.body, headers: req.headers };
    return checkSignature(signed, deps.clientSecret, deps.clock.now());
  };

  router.post(WEBHOOKS_PATH, async (req, res) => {
    const check = isSigned(req);
    if (check !== 'valid') return refuse(res, deps.logger, check);
    const events = parseJson(req.body as Buffer, eventsSchema);
    if (!events) return invalid(res, 'the body must be a JSON array of webhook events');

    const claimed = await deps.store.claimEvents(
      events.map((event) => String(event.eventId)),
      deps.clock.now(),
    );
    const fresh = events.filter((event) => claimed.has(String(event.eventId)));
    await queueContacts(deps.queue, fresh);
    // HubSpot waits 5 seconds at most: answer first, verify after.
    res.status(204).end();
    void deps.queue.drain();
    deps.store.pruneEvents(deps.clock.now() - EVENT_MEMORY_MS).catch((error: unknown) => {
      deps.logger.warn({ err: error }, 'hubspot event ids not pruned');
    });
  });

  router.post(ACTION_PATH, async (req, res) => {
    const check = isSigned(req);
    if (check !== 'valid') return refuse(res, deps.logger, check);
    const body = parseJson(req.body as Buffer, z.unknown());
    const answer = await deps.action.handle(body);
    if (!answer.ok) return invalid(res, answer.problem);
    res.status(200).json(answer.body);
  });

  router.get(INSTALL_PATH, (_req, res) => {
    if (!deps.oauth) return invalid(res, 'OAuth is not configured');
    res.redirect(302, installUrl(deps.oauth, issueState(deps.oauth.clientSecret, deps.clock)));
  });

  router.get(CALLBACK_PATH, async (req, res) => {
    const { code, state } = req.query;
    if (!deps.oauth) return invalid(res, 'OAuth is not configured');
    if (typeof code !== 'string' || typeof state !== 'string') {
      return invalid(res, 'code and state are required');
    }
    if (!isValidState(state, deps.oauth.clientSecret, deps.clock)) {
      return refuseState(res, deps.logger);
    }
    let portalId: string;
    try {
      portalId = String(await completeInstall(deps.oauth, code, deps));
    } catch (error) {
      return refuseExchange(res, deps.logger, error);
    }
    deps.logger.info({ portalId }, 'hubspot portal installed');
    res.status(200).type('text/plain').send(`mailverify is connected to portal ${portalId}.\n`);
  });

  return router;
}

async function queueContacts(
  queue: Pick<ContactQueue, 'add'>,
  events: z.infer<typeof eventSchema>[],
) {
  const byPortal = new Map<string, Set<string>>();
  for (const event of events) {
    if (!isContactWork(event)) continue;
    const portal = String(event.portalId);
    const ids = byPortal.get(portal) ?? new Set<string>();
    ids.add(String(event.objectId));
    byPortal.set(portal, ids);
  }
  for (const [portalId, ids] of byPortal) await queue.add(portalId, [...ids]);
}

/**
 * New contacts and changed emails; changes to our own properties never make
 * work. Legacy subscriptions say `contact.*`; generic ones say `object.*`
 * with the contact's object type id, 0-1.
 * https://developers.hubspot.com/changelog/public-beta-generic-webhook-subscriptions
 */
function isContactWork(event: z.infer<typeof eventSchema>): boolean {
  const isContact =
    event.subscriptionType.startsWith('contact.') || event.objectTypeId === CONTACT_TYPE_ID;
  if (!isContact) return false;
  const kind = event.subscriptionType.split('.')[1];
  if (kind === 'creation') return true;
  if (kind !== 'propertyChange') return false;
  if (event.propertyName && OWNED_PROPERTIES.includes(event.propertyName)) return false;
  return event.propertyName === 'email';
}

function publicUriOf(req: Request, publicUrl: string): string {
  if (publicUrl) return new URL(req.originalUrl, publicUrl).toString();
  return `${req.protocol}://${req.get('host') ?? 'localhost'}${req.originalUrl}`;
}

function parseJson<T>(body: Buffer, schema: z.ZodType<T>): T | null {
  try {
    const parsed = schema.safeParse(JSON.parse(body.toString('utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function refuse(res: Response, logger: Logger, check: string) {
  logger.warn({ check }, 'hubspot request refused: signature');
  res.status(401).json({
    error: { code: 'unauthorized', message: `HubSpot signature ${check}`, details: null },
  });
}

/** Not the signature check: the install did not start here, or not recently. */
function refuseState(res: Response, logger: Logger) {
  logger.warn('hubspot install refused: OAuth state');
  const message = `the OAuth state is forged or expired: start again at ${INSTALL_PATH}`;
  res.status(403).json({ error: { code: 'forbidden', message, details: null } });
}

/** HubSpot refused the code (used, expired) or failed: nothing is stored. */
function refuseExchange(res: Response, logger: Logger, error: unknown) {
  const status = (error as { code?: number }).code;
  logger.warn({ status }, 'hubspot install failed: code exchange');
  const message = `HubSpot did not exchange the code: start again at ${INSTALL_PATH}`;
  res.status(502).json({ error: { code: 'upstream_failed', message, details: null } });
}

function invalid(res: Response, message: string) {
  res.status(422).json({ error: { code: 'validation_failed', message, details: null } });
}
