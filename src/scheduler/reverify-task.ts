/**
 * The built-in `reverify` task: stored results past their lifetime are
 * verified again, in batches, so the cache keeps answering with facts
 * rather than letting them age out. Mailboxes fill, get disabled and come
 * back; an unknown answer (one hour by default) is worth asking again.
 *
 * Each run opens a verifier of its own, with the cache in refresh mode,
 * and closes it at the end: a long-lived verifier treats everything it
 * stored since it started as current, which would hide exactly the
 * results this task is for.
 */
import { z } from 'zod';

import type { BulkVerifier } from '../engine/bulk-verifier.js';
import type { ExpiredResult, ResultStore } from '../store/store.js';
import type { Clock } from '../verify/types.js';
import { parseTaskOptions } from './parse-task-options.js';
import type { ScheduledTaskFn, TaskOutcome } from './scheduler.js';

export interface OpenedVerifier {
  verifier: BulkVerifier;
  close(): Promise<void>;
}

export interface ReverifyDeps {
  results: ResultStore;
  /** A verifier that stores what it finds and ignores cached answers. */
  openVerifier: () => OpenedVerifier;
  clock: Clock;
}

const optionsSchema = z
  .object({
    /** Addresses handed to the verifier at once. */
    batchSize: z.number().int().min(1).max(10_000).default(500),
    /** Most addresses one run verifies; the rest wait for the next run. */
    maxAddresses: z.number().int().min(1).max(10_000_000).default(50_000),
  })
  .strict();

export type ReverifyOptions = z.infer<typeof optionsSchema>;

export function createReverifyTask(deps: ReverifyDeps): ScheduledTaskFn {
  return async (rawOptions, { signal, logger }) => {
    const parsed = parseTaskOptions(optionsSchema, rawOptions);
    if (!parsed.ok) return parsed.outcome;

    const opened = deps.openVerifier();
    try {
      const summary = await reverifyExpired(deps, opened.verifier, parsed.options, signal);
      logger.info(summary, 'reverify pass done');
      return toOutcome(summary);
    } finally {
      await opened.close();
    }
  };
}

interface ReverifySummary {
  verified: number;
  changed: number;
  failed: number;
  /** The run stopped at maxAddresses with expired results left. */
  isCapped: boolean;
}

async function reverifyExpired(
  deps: ReverifyDeps,
  verifier: BulkVerifier,
  options: ReverifyOptions,
  signal: AbortSignal,
): Promise<ReverifySummary> {
  const summary: ReverifySummary = { verified: 0, changed: 0, failed: 0, isCapped: false };
  // An address the verifier could not refresh stays expired; remembering
  // what this run tried keeps it from being fetched again and again.
  const tried = new Set<string>();

  while (!signal.aborted) {
    const room = options.maxAddresses - tried.size;
    if (room <= 0) {
      summary.isCapped = (await deps.results.listExpired(deps.clock.now(), 1)).length > 0;
      break;
    }

    const size = Math.min(options.batchSize, room);
    const expired = await deps.results.listExpired(deps.clock.now(), size + tried.size);
    const batch = expired.filter((entry) => !tried.has(entry.address)).slice(0, size);
    if (batch.length === 0) break;

    batch.forEach((entry) => tried.add(entry.address));
    await Promise.all(batch.map((entry) => reverifyOne(verifier, entry, summary)));
  }
  return summary;
}

async function reverifyOne(
  verifier: BulkVerifier,
  entry: ExpiredResult,
  summary: ReverifySummary,
): Promise<void> {
  try {
    const result = await verifier.verify(entry.address);
    summary.verified += 1;
    if (result.verdict !== entry.result.verdict) summary.changed += 1;
  } catch {
    // Only a closed verifier rejects (the scheduler is stopping): the
    // address stays expired and the next run takes it.
    summary.failed += 1;
  }
}

function toOutcome(summary: ReverifySummary): TaskOutcome {
  const isBroken = summary.failed > 0 && summary.verified === 0;
  return {
    outcome: isBroken ? 'failed' : 'succeeded',
    summary: { ...summary },
    error: isBroken ? `none of ${summary.failed} addresses could be verified` : null,
  };
}
