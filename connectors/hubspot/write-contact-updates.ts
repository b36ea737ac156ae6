/**
 * Writes our properties back in batches of up to 100 (the batch update
 * limit). A 207 answer means some contacts failed: those are retried one by
 * one, so one bad contact never costs the rest of its batch.
 * https://developers.hubspot.com/docs/api/crm/contacts (batch update)
 */
import type { Client } from '@hubspot/api-client';

import type { PortalRateLimiter } from './portal-rate-limiter.js';
import { HubspotStopError } from './portal-rate-limiter.js';
import { answerOf } from './provision-properties.js';

export const BATCH_SIZE = 100;

export interface ContactUpdate {
  id: string;
  properties: Record<string, string>;
  /** For reports only; never sent. */
  email?: string;
}

export interface WriteOutcome {
  written: string[];
  failed: { id: string; message: string }[];
}

export async function writeContactUpdates(
  client: Client,
  limiter: PortalRateLimiter,
  updates: ContactUpdate[],
): Promise<WriteOutcome> {
  const outcome: WriteOutcome = { written: [], failed: [] };
  for (let start = 0; start < updates.length; start += BATCH_SIZE) {
    const batch = updates.slice(start, start + BATCH_SIZE);
    await writeBatch(client, limiter, batch, outcome);
  }
  return outcome;
}

async function writeBatch(
  client: Client,
  limiter: PortalRateLimiter,
  batch: ContactUpdate[],
  outcome: WriteOutcome,
): Promise<void> {
  const answer = await limiter.call('standard', () =>
    answerOf(
      client.crm.contacts.batchApi.updateWithHttpInfo({
        inputs: batch.map(({ id, properties }) => ({ id, properties })),
      }),
    ),
  );
  const errors = 'errors' in answer ? (answer.errors ?? []) : [];
  if (errors.length === 0) {
    outcome.written.push(...batch.map((update) => update.id));
    return;
  }

  const failedIds = new Set(errors.flatMap((error) => error.context?.ids ?? []));
  // An error that names no contact leaves us unsure which failed: retry all
  // that the answer does not list as updated.
  const updatedIds = new Set(answer.results.map((object) => object.id));
  for (const update of batch) {
    const isFailed = failedIds.has(update.id) || !updatedIds.has(update.id);
    if (!isFailed) outcome.written.push(update.id);
    else await writeOne(client, limiter, update, outcome);
  }
}

async function writeOne(
  client: Client,
  limiter: PortalRateLimiter,
  update: ContactUpdate,
  outcome: WriteOutcome,
): Promise<void> {
  try {
    await limiter.call('standard', () =>
      answerOf(
        client.crm.contacts.basicApi.updateWithHttpInfo(update.id, {
          properties: update.properties,
        }),
      ),
    );
    outcome.written.push(update.id);
  } catch (error) {
    // Quota and outage stops end the sync; a refusal is this contact's fact.
    if (!(error instanceof HubspotStopError) || error.reason !== 'refused') throw error;
    outcome.failed.push({ id: update.id, message: error.message });
  }
}
