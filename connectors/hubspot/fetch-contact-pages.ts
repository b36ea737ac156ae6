/**
 * Contacts in pages of up to 100, with the properties the sync reads.
 * A full pass pages through the CRM objects API (no result cap). An
 * incremental pass searches for contacts modified since the cursor, sorted
 * by id, and asks each page for ids above the last one seen: the search
 * API stops at 10,000 results per query, and restarting the query from the
 * last id keeps it complete past that cap without ever paging deep.
 * https://developers.hubspot.com/docs/api/crm/search (limits)
 */
import type { Client } from '@hubspot/api-client';

import { EMAIL_PROPERTY, HARD_BOUNCE_PROPERTY, OWNED_PROPERTIES } from './hubspot-properties.js';
import type { PortalRateLimiter } from './portal-rate-limiter.js';
import { answerOf } from './provision-properties.js';

export const PAGE_SIZE = 100;
/** Bounds every paging loop: 10 million contacts at 100 a page. */
const MAX_PAGES = 100_000;

export interface HubspotContact {
  id: string;
  properties: Record<string, string | null>;
}

export const READ_PROPERTIES: readonly string[] = [
  EMAIL_PROPERTY,
  HARD_BOUNCE_PROPERTY,
  ...OWNED_PROPERTIES,
];

export type PageQuery = { mode: 'full' } | { mode: 'modified_since'; since: number };

export async function* fetchContactPages(
  client: Client,
  limiter: PortalRateLimiter,
  query: PageQuery,
): AsyncGenerator<HubspotContact[]> {
  if (query.mode === 'full') yield* pageAll(client, limiter);
  else yield* searchModifiedSince(client, limiter, query.since);
}

async function* pageAll(client: Client, limiter: PortalRateLimiter) {
  const basic = client.crm.contacts.basicApi;
  let after: string | undefined;

  for (let page = 0; page < MAX_PAGES; page += 1) {
    const answer = await limiter.call('standard', () =>
      answerOf(basic.getPageWithHttpInfo(PAGE_SIZE, after, [...READ_PROPERTIES])),
    );
    const contacts = answer.results.map(toContact);
    if (contacts.length > 0) yield contacts;

    after = answer.paging?.next?.after;
    if (!after) return;
  }
}

async function* searchModifiedSince(client: Client, limiter: PortalRateLimiter, since: number) {
  const search = client.crm.contacts.searchApi;
  let lastId = '0';

  for (let page = 0; page < MAX_PAGES; page += 1) {
    const request = {
      filterGroups: [
        {
          filters: [
            { propertyName: 'lastmodifieddate', operator: 'GTE', value: String(since) },
            { propertyName: 'hs_object_id', operator: 'GT', value: lastId },
          ],
        },
      ],
      sorts: [{ propertyName: 'hs_object_id', direction: 'ASCENDING' }],
      properties: [...READ_PROPERTIES],
      limit: PAGE_SIZE,
    };
    const answer = await limiter.call('search', () =>
      answerOf(search.doSearchWithHttpInfo(request as never)),
    );
    const contacts = answer.results.map(toContact);
    if (contacts.length > 0) yield contacts;

    // `total` counts every match of this query: when the page holds them
    // all, an empty last query would only spend a call.
    const last = contacts.at(-1);
    if (!last || contacts.length < PAGE_SIZE || answer.total <= contacts.length) return;
    lastId = last.id;
  }
}

function toContact(object: { id: string; properties: Record<string, string | null> }) {
  return { id: object.id, properties: { ...object.properties } };
}
