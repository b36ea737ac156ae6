/**
 * What the sync does with one contact, decided from its properties alone:
 * skip it (no email, or our result for this very address is still fresh),
 * record HubSpot's own hard bounce, or verify. A contact whose email
 * changed after verification no longer matches our verified-address
 * property, so it is verified again.
 */
import type { Verdict, VerificationResult } from '../../src/index.js';
import type { HubspotContact } from './fetch-contact-pages.js';
import {
  EMAIL_PROPERTY,
  HARD_BOUNCE_PROPERTY,
  PROPERTY_NAMES,
  propertiesOf,
} from './hubspot-properties.js';

type ResultFields = Pick<VerificationResult, 'verdict' | 'reason' | 'score' | 'checkedAt'>;

interface PlanBase {
  contact: HubspotContact;
  /** Our properties that differ from what the contact holds now. */
  changedProperties(result: ResultFields): Record<string, string>;
}

export type ContactPlan =
  | (PlanBase & { action: 'skip'; why: 'no_email' | 'fresh' })
  | (PlanBase & { action: 'record_bounce'; email: string; result: ResultFields })
  | (PlanBase & { action: 'verify'; email: string });

export interface PlanOptions {
  now: number;
  lifetimes: Record<Verdict, number>;
  trustsHardBounces?: boolean;
}

export function planContact(contact: HubspotContact, options: PlanOptions): ContactPlan {
  const email = (contact.properties[EMAIL_PROPERTY] ?? '').trim();
  const base: PlanBase = {
    contact,
    changedProperties: (result) => changedProperties(contact, propertiesOf(email, result)),
  };
  if (email === '') return { ...base, action: 'skip', why: 'no_email' };
  if (isFresh(contact, email, options)) return { ...base, action: 'skip', why: 'fresh' };

  const bounce = contact.properties[HARD_BOUNCE_PROPERTY];
  if (options.trustsHardBounces && bounce) {
    const result: ResultFields = {
      verdict: 'undeliverable',
      reason: 'mailbox_not_found',
      score: 0,
      checkedAt: new Date(options.now).toISOString(),
    };
    return { ...base, action: 'record_bounce', email, result };
  }
  return { ...base, action: 'verify', email };
}

function isFresh(contact: HubspotContact, email: string, options: PlanOptions): boolean {
  const props = contact.properties;
  const verified = props[PROPERTY_NAMES.verifiedEmail];
  if (!verified || verified.toLowerCase() !== email.toLowerCase()) return false;

  const status = props[PROPERTY_NAMES.status] as Verdict | null | undefined;
  const lifetime = status ? options.lifetimes[status] : undefined;
  const checkedAt = Date.parse(props[PROPERTY_NAMES.checkedAt] ?? '');
  if (lifetime === undefined || Number.isNaN(checkedAt)) return false;
  return options.now - checkedAt < lifetime * 1000;
}

function changedProperties(
  contact: HubspotContact,
  wanted: Record<string, string>,
): Record<string, string> {
  const changed: Record<string, string> = {};
  for (const [name, value] of Object.entries(wanted)) {
    const current = contact.properties[name] ?? null;
    if (!isSameValue(name, current, value)) changed[name] = value;
  }
  return changed;
}

/** HubSpot answers numbers and datetimes in its own spelling ("95.0", no millis). */
function isSameValue(name: string, current: string | null, wanted: string): boolean {
  if (current === null) return false;
  if (name === PROPERTY_NAMES.score) return Number(current) === Number(wanted);
  if (name === PROPERTY_NAMES.checkedAt) return Date.parse(current) === Date.parse(wanted);
  return current === wanted;
}
