/**
 * One sync of one portal: pull changed contacts, verify, write back, save
 * the cursor. The cursor moves only after every write-back succeeded, so a
 * crash repeats work and loses none; the freshness check keeps that
 * repetition (and our own writes, which touch lastmodifieddate) from
 * costing SMTP checks.
 */
import type { Client } from '@hubspot/api-client';
import type { Logger } from 'pino';

import type {
  BulkVerifier,
  Clock,
  HubspotStore,
  Verdict,
  VerificationResult,
} from '../../src/index.js';
import { fetchContactPages } from './fetch-contact-pages.js';
import type { HubspotContact, PageQuery } from './fetch-contact-pages.js';
import { planContact } from './plan-contact.js';
import type { ContactPlan } from './plan-contact.js';
import { HubspotStopError } from './portal-rate-limiter.js';
import type { PortalRateLimiter, StopReason } from './portal-rate-limiter.js';
import { BATCH_SIZE, writeContactUpdates } from './write-contact-updates.js';
import type { ContactUpdate } from './write-contact-updates.js';

/**
 * Search indexing lags writes by a few seconds; starting the next window a
 * minute early catches contacts modified while this sync ran.
 */
const CURSOR_OVERLAP_MS = 60_000;

export interface SyncDeps {
  client: Client;
  limiter: PortalRateLimiter;
  verifier: Pick<BulkVerifier, 'verify'>;
  store: Pick<HubspotStore, 'getCursor' | 'saveCursor'>;
  portalId: string;
  clock: Clock;
  /** Seconds a result stays fresh, per verdict. */
  lifetimes: Record<Verdict, number>;
  logger?: Logger;
}

export interface SyncOptions {
  isFull?: boolean;
  isDryRun?: boolean;
  /** Record contacts HubSpot marks as hard-bounced without an SMTP check. */
  trustsHardBounces?: boolean;
  signal?: AbortSignal;
}

export interface ContactChange {
  id: string;
  email: string;
  properties: Record<string, string>;
}

export interface SyncReport {
  mode: PageQuery['mode'];
  fetched: number;
  skipped: number;
  verified: number;
  unchanged: number;
  written: number;
  failed: { id: string; message: string }[];
  /** What a dry run would have written. */
  changes: ContactChange[];
  /** Why the sync ended early; null when it went through. */
  stoppedBy: StopReason | 'aborted' | null;
  isCursorSaved: boolean;
  apiCalls: number;
}

export async function syncContacts(deps: SyncDeps, options: SyncOptions = {}): Promise<SyncReport> {
  const startedAt = deps.clock.now();
  const cursor = options.isFull ? null : await deps.store.getCursor(deps.portalId);
  const query: PageQuery = cursor
    ? { mode: 'modified_since', since: cursor.since }
    : { mode: 'full' };
  const report = emptyReport(query.mode);
  const callsBefore = deps.limiter.callsSent();

  // Updates wait here until a batch is full, so pages that are mostly
  // fresh still share one write.
  const pending: ContactUpdate[] = [];
  try {
    for await (const page of fetchContactPages(deps.client, deps.limiter, query)) {
      if (options.signal?.aborted) {
        report.stoppedBy = 'aborted';
        break;
      }
      pending.push(...(await planPage(deps, options, page, report)));
      if (pending.length >= BATCH_SIZE) {
        await writeBack(deps, options, pending.splice(0, pending.length), report);
      }
    }
    if (report.stoppedBy === null) await writeBack(deps, options, pending, report);
  } catch (error) {
    if (!(error instanceof HubspotStopError)) throw error;
    report.stoppedBy = error.reason;
    deps.logger?.warn({ portalId: deps.portalId, reason: error.reason }, 'hubspot sync stopped');
  }

  if (report.stoppedBy === null && !options.isDryRun) {
    await deps.store.saveCursor(deps.portalId, { since: startedAt - CURSOR_OVERLAP_MS });
    report.isCursorSaved = true;
  }
  report.apiCalls = deps.limiter.callsSent() - callsBefore;
  return report;
}

async function planPage(
  deps: SyncDeps,
  options: SyncOptions,
  page: HubspotContact[],
  report: SyncReport,
): Promise<ContactUpdate[]> {
  report.fetched += page.length;
  const now = deps.clock.now();
  const plans = page.map((contact) =>
    planContact(contact, { now, lifetimes: deps.lifetimes, ...options }),
  );

  const updates = await Promise.all(plans.map((plan) => resolvePlan(deps, plan, report)));
  return updates.filter((update) => update !== null);
}

async function writeBack(
  deps: SyncDeps,
  options: SyncOptions,
  updates: ContactUpdate[],
  report: SyncReport,
): Promise<void> {
  if (updates.length === 0) return;
  if (options.isDryRun) {
    report.changes.push(...updates.map(changeOf));
    return;
  }
  const outcome = await writeContactUpdates(deps.client, deps.limiter, updates);
  report.written += outcome.written.length;
  report.failed.push(...outcome.failed);
}

async function resolvePlan(
  deps: SyncDeps,
  plan: ContactPlan,
  report: SyncReport,
): Promise<ContactUpdate | null> {
  if (plan.action === 'skip') {
    report.skipped += 1;
    return null;
  }

  let result: Pick<VerificationResult, 'verdict' | 'reason' | 'score' | 'checkedAt'>;
  if (plan.action === 'record_bounce') {
    result = plan.result;
  } else {
    result = await deps.verifier.verify(plan.email);
    report.verified += 1;
  }

  const changed = plan.changedProperties(result);
  if (Object.keys(changed).length === 0) {
    report.unchanged += 1;
    return null;
  }
  return { id: plan.contact.id, email: plan.email, properties: changed };
}

function changeOf(update: ContactUpdate): ContactChange {
  return { id: update.id, email: update.email ?? '', properties: update.properties };
}

function emptyReport(mode: PageQuery['mode']): SyncReport {
  return {
    mode,
    fetched: 0,
    skipped: 0,
    verified: 0,
    unchanged: 0,
    written: 0,
    failed: [],
    changes: [],
    stoppedBy: null,
    isCursorSaved: false,
    apiCalls: 0,
  };
}
