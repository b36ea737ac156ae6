/**
 * /v1/jobs: bulk verification in the background.
 *
 * POST /          a job from a JSON body `{ "emails": [...], "callbackUrl"? }`, a CSV
 *                 upload (text/csv, `?column=` names the email column) or plain
 *                 lines (text/plain); `?callbackUrl=` for the last two. 202 at once.
 * GET /:id        progress: status, total, done, counts per verdict, callback state.
 * GET /:id/results  the recorded results, streamed as JSON lines (default) or CSV.
 * DELETE /:id     cancels a queued or running job.
 *
 * A job belongs to the API key that created it; other keys see a 404.
 */
import { once } from 'node:events';
import express from 'express';
import type { Request, Response, Router } from 'express';
import { z } from 'zod';

import type { Config } from '../config.js';
import type { JobStore, JobSummary } from '../store/job-store.js';
import type { Clock } from '../verify/types.js';
import { ApiError } from './api-error.js';
import { checkCallbackUrl } from './deliver-callback.js';
import type { LookupHost } from './deliver-callback.js';
import { formatResultLine, formatResultsHead, RESULTS_MEDIA_TYPES } from './format-job-results.js';
import type { ResultsFormat } from './format-job-results.js';
import { listProblems } from './handle-errors.js';
import type { JobRunner } from './job-runner.js';
import {
  limitBytes,
  MAX_ADDRESS_CHARS,
  readAddressLines,
  readCsvAddresses,
} from './read-job-addresses.js';
import { MAX_JOB_ADDRESSES, receiveJob } from './receive-job.js';
import { localsOf } from './request-locals.js';

export interface JobsRouterDeps {
  jobs: JobStore;
  runner: Pick<JobRunner, 'wake'>;
  config: Pick<Config, 'maxBodyBytes' | 'callbackSecret' | 'allowPrivateMx'>;
  clock: Clock;
  /** Resolves callback hosts for the SSRF guard; the system resolver by default. */
  lookupHost?: LookupHost;
}

/** A job as the API shows it: the owner's key id stays inside. */
export type PublicJob = Omit<JobSummary, 'apiKeyId'>;

/** Results read from the store per page while streaming. */
const RESULTS_PAGE = 1_000;
/** Validation problems listed in one answer; a bad million-row body needs no more. */
const MAX_LISTED_PROBLEMS = 100;

export const jobRequestSchema = z.strictObject({
  emails: z.array(z.string().trim().min(1).max(MAX_ADDRESS_CHARS)).min(1).max(MAX_JOB_ADDRESSES),
  callbackUrl: z.string().min(1).optional(),
});

const uploadQuerySchema = z.object({
  callbackUrl: z.string().min(1).optional(),
  column: z.string().min(1).max(200).optional(),
});

const resultsQuerySchema = z.object({
  after: z.coerce.number().int().min(-1).default(-1),
});

/** RFC draft-ietf-httpapi-idempotency-key-header: a string, here printable ASCII. */
const idempotencyKeySchema = z
  .string()
  .regex(/^[\x21-\x7e]{1,255}$/, '1 to 255 printable characters');

export function createJobsRouter(deps: JobsRouterDeps): Router {
  const router = express.Router();

  router.post('/', async (req, res) => {
    const upload = readUpload(req, deps.config.maxBodyBytes);
    const idempotencyKey = readIdempotencyKey(req);
    await checkCallback(deps, upload.callbackUrl);

    const locals = localsOf(res);
    const outcome = await receiveJob(deps.jobs, deps.clock, {
      spec: { apiKeyId: locals.apiKeyId ?? null, idempotencyKey, callbackUrl: upload.callbackUrl },
      emails: upload.emails,
      count: upload.count,
      chargeQuota: (count) => locals.chargeQuota?.(count) ?? Promise.resolve(),
    });
    if (outcome.kind === 'created') deps.runner.wake();

    const path = `/v1/jobs/${encodeURIComponent(outcome.job.id)}`;
    if (outcome.kind === 'replayed') res.setHeader('Idempotent-Replayed', 'true');
    res
      .status(202)
      .location(path)
      .json({ job: toPublicJob(outcome.job), poll: path, results: `${path}/results` });
  });

  router.get('/:id', async (req, res) => {
    const job = await findJob(deps, req, res);
    res.json({ job: toPublicJob(job) });
  });

  router.get('/:id/results', async (req, res) => {
    const job = await findJob(deps, req, res);
    const format = negotiate(req);
    const query = resultsQuerySchema.safeParse(req.query);
    if (!query.success) throw validationError(query.error);
    await streamResults(deps.jobs, job, format, query.data.after, res);
  });

  router.delete('/:id', async (req, res) => {
    const job = await findJob(deps, req, res);
    const cancelled = await deps.jobs.cancelJob(job.id, deps.clock.now());
    if (cancelled?.status !== 'cancelled') {
      throw new ApiError('conflict', `the job has already ended (${cancelled?.status ?? 'gone'})`, {
        status: cancelled?.status ?? null,
      });
    }
    res.json({ job: toPublicJob(cancelled) });
  });

  return router;
}

/**
 * For /v1/verify calls that run out of time: a job for the addresses not
 * answered yet. Their verifications go on; the runner's verify() for the
 * same address joins them in the BulkVerifier instead of starting again.
 */
export function createJobFromEmails(deps: Pick<JobsRouterDeps, 'jobs' | 'runner' | 'clock'>) {
  return async (emails: string[], apiKeyId: string | null): Promise<PublicJob> => {
    const outcome = await receiveJob(deps.jobs, deps.clock, {
      spec: { apiKeyId, idempotencyKey: null, callbackUrl: null },
      emails,
      count: emails.length,
      // The verify route charged these addresses already.
      chargeQuota: async () => undefined,
    });
    deps.runner.wake();
    return toPublicJob(outcome.job);
  };
}

export function toPublicJob(job: JobSummary): PublicJob {
  const { apiKeyId: _apiKeyId, ...rest } = job;
  return rest;
}

interface Upload {
  emails: AsyncIterable<string> | Iterable<string>;
  count?: number;
  callbackUrl: string | null;
}

function readUpload(req: Request, maxBodyBytes: number): Upload {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBodyBytes) {
    throw new ApiError('payload_too_large', `the body is larger than ${maxBodyBytes} bytes`, {
      limitBytes: maxBodyBytes,
    });
  }

  if (req.is('application/json')) return readJsonUpload(req);

  const isCsv = Boolean(req.is('text/csv'));
  if (!isCsv && !req.is('text/plain')) {
    throw new ApiError(
      'unsupported_media_type',
      'send application/json ({"emails": [...]}), text/csv or text/plain (one address a line)',
    );
  }
  const query = uploadQuerySchema.safeParse(req.query);
  if (!query.success) throw validationError(query.error);

  const body = limitBytes(rawBodyOf(req), maxBodyBytes);
  return {
    emails: isCsv ? readCsvAddresses(body, query.data.column) : readAddressLines(body),
    callbackUrl: query.data.callbackUrl ?? null,
  };
}

function readJsonUpload(req: Request): Upload {
  const emails: unknown = (req.body as { emails?: unknown } | undefined)?.emails;
  if (Array.isArray(emails) && emails.length > MAX_JOB_ADDRESSES) {
    throw new ApiError('payload_too_large', `a job takes at most ${MAX_JOB_ADDRESSES} addresses`, {
      limit: MAX_JOB_ADDRESSES,
      received: emails.length,
    });
  }
  const parsed = jobRequestSchema.safeParse(req.body);
  if (!parsed.success) throw validationError(parsed.error);
  return {
    emails: parsed.data.emails,
    count: parsed.data.emails.length,
    callbackUrl: parsed.data.callbackUrl ?? null,
  };
}

/** The body as sent, or as a parser in front of this router already read it. */
async function* rawBodyOf(req: Request): AsyncGenerator<Uint8Array | string> {
  const body: unknown = req.body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) yield body;
  else yield* req as AsyncIterable<Buffer>;
}

function readIdempotencyKey(req: Request): string | null {
  const header = req.get('Idempotency-Key');
  if (header === undefined) return null;
  const parsed = idempotencyKeySchema.safeParse(header);
  if (parsed.success) return parsed.data;
  throw new ApiError('validation_failed', 'the Idempotency-Key header is not valid', [
    { path: 'Idempotency-Key', message: parsed.error.issues[0]?.message ?? 'invalid' },
  ]);
}

async function checkCallback(deps: JobsRouterDeps, url: string | null): Promise<void> {
  if (url === null) return;
  const problem =
    deps.config.callbackSecret === ''
      ? 'callbacks need MAILVERIFY_CALLBACK_SECRET set on the server, to sign them'
      : await checkCallbackUrl(url, {
          allowPrivate: deps.config.allowPrivateMx,
          lookupHost: deps.lookupHost,
        });
  if (problem !== null) {
    throw new ApiError('validation_failed', `callbackUrl ${problem}`, [
      { path: 'callbackUrl', message: problem },
    ]);
  }
}

async function findJob(deps: JobsRouterDeps, req: Request, res: Response): Promise<JobSummary> {
  const job = await deps.jobs.getJob(String(req.params.id));
  const apiKeyId = localsOf(res).apiKeyId ?? null;
  const isVisible = job !== null && job.status !== 'receiving';
  if (!isVisible || (apiKeyId !== null && job.apiKeyId !== apiKeyId)) {
    throw new ApiError('not_found', 'no such job');
  }
  return job;
}

function negotiate(req: Request): ResultsFormat {
  const chosen = req.accepts([RESULTS_MEDIA_TYPES.ndjson, RESULTS_MEDIA_TYPES.csv]);
  if (chosen === RESULTS_MEDIA_TYPES.csv) return 'csv';
  if (chosen === RESULTS_MEDIA_TYPES.ndjson) return 'ndjson';
  throw new ApiError('not_acceptable', 'results come as application/x-ndjson or text/csv', {
    available: Object.values(RESULTS_MEDIA_TYPES),
  });
}

/**
 * Pages from the store, written as the client reads them: a slow reader
 * holds one page, never the whole job. A job still running gives what is
 * recorded so far; `?after=SEQ` resumes after the last line received.
 */
async function streamResults(
  jobs: JobStore,
  job: JobSummary,
  format: ResultsFormat,
  afterSeq: number,
  res: Response,
): Promise<void> {
  res.status(200);
  res.setHeader('Content-Type', `${RESULTS_MEDIA_TYPES[format]}; charset=utf-8`);
  res.setHeader('X-Mailverify-Job-Status', job.status);
  res.setHeader('X-Mailverify-Job-Progress', `${job.done}/${job.total}`);

  let after = afterSeq;
  let text = formatResultsHead(format);
  for (let page = 0; page <= Math.ceil(job.total / RESULTS_PAGE); page += 1) {
    const items = await jobs.readResults(job.id, after, RESULTS_PAGE);
    for (const item of items) text += formatResultLine(format, item);
    if (text !== '' && !res.write(text)) await drainOrClose(res);
    text = '';
    if (items.length < RESULTS_PAGE || res.destroyed) break;
    after = items[items.length - 1]!.seq;
  }
  res.end();
}

async function drainOrClose(res: Response): Promise<void> {
  if (res.destroyed) return;
  await Promise.race([once(res, 'drain'), once(res, 'close')]);
}

function validationError(error: z.ZodError): ApiError {
  const problems = listProblems(error);
  const details = problems.slice(0, MAX_LISTED_PROBLEMS);
  const more = problems.length - details.length;
  const message =
    more > 0 ? `the request is not valid (${more} more problems not listed)` : undefined;
  return new ApiError('validation_failed', message, details);
}
