/**
 * Creating a job from a stream of addresses: they go into the store in
 * batches of BATCH_SIZE (one transaction each) as they arrive, so a
 * million-address upload is never held whole; while addresses keep coming,
 * a write happens at least once a minute, so a slow upload keeps its lease.
 * The job stays invisible to workers until the last batch is in and the
 * quota is charged; a refused or broken upload is deleted.
 *
 * An Idempotency-Key makes a repeated request return the job the first
 * one created. The request's fingerprint (SHA-256 of its addresses and
 * callback URL) tells a true repeat from another request reusing the key,
 * which is refused, as draft-ietf-httpapi-idempotency-key-header section
 * 2.7 suggests, rather than answered with a job it did not ask for.
 */
import { createHash } from 'node:crypto';

import type { JobStore, JobSummary, NewJob } from '../store/job-store.js';
import type { Clock } from '../verify/types.js';
import { ApiError } from './api-error.js';

/** Most addresses in one job. */
export const MAX_JOB_ADDRESSES = 1_000_000;

/** Addresses written per transaction. */
export const BATCH_SIZE = 5_000;

/**
 * A slower upload writes what it has at least this often: each write
 * renews the upload's lease in the store, so a client that trickles its
 * addresses is not taken for one that died.
 */
export const FLUSH_AFTER_MS = 60_000;

export interface ReceiveJobRequest {
  spec: NewJob;
  emails: AsyncIterable<string> | Iterable<string>;
  /** Known when the addresses came as a JSON array: the quota is charged first. */
  count?: number;
  chargeQuota(count: number): Promise<void>;
}

export type ReceiveOutcome =
  { kind: 'created'; job: JobSummary } | { kind: 'replayed'; job: JobSummary };

export async function receiveJob(
  jobs: JobStore,
  clock: Clock,
  request: ReceiveJobRequest,
): Promise<ReceiveOutcome> {
  if (request.count !== undefined) checkCount(request.count);

  const opened = await jobs.openJob(request.spec, clock.now());
  if (opened.kind === 'existing') {
    if (opened.fingerprint === null) {
      throw new ApiError('conflict', 'a request with this Idempotency-Key is still being received');
    }
    const fingerprint = await fingerprintOf(request.spec, request.emails);
    if (fingerprint !== opened.fingerprint) {
      throw new ApiError('conflict', 'this Idempotency-Key was used for a different request', {
        jobId: opened.job.id,
      });
    }
    return { kind: 'replayed', job: opened.job };
  }

  try {
    if (request.count !== undefined) await request.chargeQuota(request.count);
    const { count, fingerprint } = await storeAddresses(jobs, clock, opened.jobId, request);
    if (count === 0) {
      throw new ApiError('validation_failed', 'the job has no addresses', [
        { path: 'emails', message: 'at least one address is required' },
      ]);
    }
    if (request.count === undefined) await request.chargeQuota(count);
    return { kind: 'created', job: await jobs.sealJob(opened.jobId, fingerprint) };
  } catch (error) {
    await jobs.discardJob(opened.jobId);
    throw error;
  }
}

async function storeAddresses(
  jobs: JobStore,
  clock: Clock,
  jobId: string,
  request: ReceiveJobRequest,
): Promise<{ count: number; fingerprint: string }> {
  const hash = startFingerprint(request.spec);
  let batch: string[] = [];
  let count = 0;
  let lastWriteAt = clock.now();

  for await (const email of request.emails) {
    count += 1;
    checkCount(count);
    hash.update(`${email}\n`);
    batch.push(email);
    const now = clock.now();
    if (batch.length >= BATCH_SIZE || now - lastWriteAt >= FLUSH_AFTER_MS) {
      await jobs.appendItems(jobId, batch, now);
      batch = [];
      lastWriteAt = now;
    }
  }
  if (batch.length > 0) await jobs.appendItems(jobId, batch, clock.now());
  return { count, fingerprint: hash.digest('hex') };
}

async function fingerprintOf(
  spec: NewJob,
  emails: AsyncIterable<string> | Iterable<string>,
): Promise<string> {
  const hash = startFingerprint(spec);
  let count = 0;
  for await (const email of emails) {
    count += 1;
    checkCount(count);
    hash.update(`${email}\n`);
  }
  return hash.digest('hex');
}

function startFingerprint(spec: NewJob) {
  return createHash('sha256').update(`callback:${spec.callbackUrl ?? ''}\n`);
}

function checkCount(count: number): void {
  if (count <= MAX_JOB_ADDRESSES) return;
  throw new ApiError('payload_too_large', `a job takes at most ${MAX_JOB_ADDRESSES} addresses`, {
    limit: MAX_JOB_ADDRESSES,
  });
}
