/**
 * /v1/verify: answers within a timeout. An address whose check needs
 * longer (a greylisting retry, a slow server) becomes a job, answered with
 * 202 and the URL to poll; its verification goes on and the job's runner
 * joins it rather than starting another (the BulkVerifier shares in-flight
 * work per address). POST answers the finished results in the body and
 * puts only the unfinished addresses in the job.
 */
import express from 'express';
import type { Request, Response, Router } from 'express';

import { BulkClosedError } from '../engine/bulk-verifier.js';
import type { BulkVerifier } from '../engine/bulk-verifier.js';
import type { VerificationResult } from '../verify/types.js';
import { ApiError } from './api-error.js';
import { localsOf } from './request-locals.js';
import { MAX_VERIFY_BATCH, verifyBatchSchema, verifyQuerySchema } from './verify-schemas.js';

/** What a new job is known by in a 202 answer: the job store's summary. */
export interface JobReference {
  id: string;
}

/** Creates a job for addresses that did not finish in time. */
export type EnqueueJob = (emails: string[], apiKeyId: string | null) => Promise<JobReference>;

export interface VerifyRouterDeps {
  verifier: Pick<BulkVerifier, 'verify'>;
  enqueueJob: EnqueueJob;
  /** Seconds to wait when the caller does not say. */
  defaultTimeout: number;
  /** Longest wait a caller may ask for; longer asks are capped. */
  maxTimeout: number;
}

const TIMED_OUT: unique symbol = Symbol('timed out');
/** A shutting-down verifier is back after a restart; a few seconds is a fair guess. */
const RETRY_AFTER_SHUTDOWN_SECONDS = 5;

export function createVerifyRouter(deps: VerifyRouterDeps): Router {
  const router = express.Router();

  router.get('/', async (req, res) => {
    const query = verifyQuerySchema.parse(req.query);
    await localsOf(res).chargeQuota(1);

    const outcome = await settleWithin(verifyOne(deps, query.email), waitMs(deps, query.timeout));
    if (outcome !== TIMED_OUT) {
      res.json(outcome);
      return;
    }
    await answerPending(res, deps, [query.email], {});
  });

  router.post('/', async (req, res) => {
    const body = readBatch(req);
    await localsOf(res).chargeQuota(body.emails.length);

    const finished = new Map<number, VerificationResult>();
    const all = body.emails.map(async (email, index) => {
      finished.set(index, await verifyOne(deps, email));
    });
    const outcome = await settleWithin(Promise.all(all), waitMs(deps, body.timeout));

    const results = body.emails.flatMap((_, index) => finished.get(index) ?? []);
    if (outcome !== TIMED_OUT) {
      res.json({ results });
      return;
    }
    const pending = body.emails.filter((_, index) => !finished.has(index));
    await answerPending(res, deps, pending, { results, pending });
  });

  return router;
}

async function verifyOne(deps: VerifyRouterDeps, email: string): Promise<VerificationResult> {
  try {
    return await deps.verifier.verify(email);
  } catch (error) {
    if (error instanceof BulkClosedError) {
      throw new ApiError('unavailable', undefined, null, RETRY_AFTER_SHUTDOWN_SECONDS);
    }
    throw error;
  }
}

async function answerPending(
  res: Response,
  deps: VerifyRouterDeps,
  emails: string[],
  extra: Record<string, unknown>,
): Promise<void> {
  const job = await deps.enqueueJob(emails, localsOf(res).apiKeyId);
  const poll = `/v1/jobs/${encodeURIComponent(job.id)}`;
  res
    .status(202)
    .location(poll)
    .json({ status: 'pending', job, poll, ...extra });
}

function readBatch(req: Request) {
  if (!req.is('application/json')) {
    throw new ApiError('unsupported_media_type', 'send a JSON body: {"emails": [...]}');
  }
  const emails: unknown = (req.body as { emails?: unknown } | undefined)?.emails;
  if (Array.isArray(emails) && emails.length > MAX_VERIFY_BATCH) {
    throw new ApiError(
      'payload_too_large',
      `at most ${MAX_VERIFY_BATCH} addresses per request; use POST /v1/jobs for more`,
      { limit: MAX_VERIFY_BATCH, received: emails.length },
    );
  }
  return verifyBatchSchema.parse(req.body);
}

function waitMs(deps: VerifyRouterDeps, asked: number | undefined): number {
  return Math.min(asked ?? deps.defaultTimeout, deps.maxTimeout) * 1000;
}

/** The work's value, or TIMED_OUT when `ms` pass first; the timer never outlives it. */
async function settleWithin<T>(work: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(resolve, ms, TIMED_OUT);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
