/**
 * Jobs in the store: a list of addresses verified in the background, with
 * leases so that a crash or restart resumes them (DESIGN.md, "Store, queue
 * and scale"). Each address is an item numbered from 0 (`seq`); its result
 * is recorded at most once, so a resumed or doubly-run job never counts an
 * address twice. Times are milliseconds since the epoch.
 * Ended jobs are deleted, with their items, once they are older than the
 * retention the service is given (about 0.5 kB an address otherwise stays
 * in the file for good).
 */
import type { Verdict, VerificationResult } from '../verify/types.js';

/**
 * receiving: addresses still arriving, invisible to workers. queued: waits
 * for a worker. running: a worker holds its lease. The rest are final.
 */
export type JobStatus = 'receiving' | 'queued' | 'running' | 'completed' | 'cancelled' | 'failed';

export const FINAL_JOB_STATUSES: readonly JobStatus[] = ['completed', 'cancelled', 'failed'];

/** waiting: the job has not ended yet; pending: due or between retries. */
export type CallbackState = 'waiting' | 'pending' | 'delivered' | 'failed';

export interface CallbackSummary {
  url: string;
  state: CallbackState;
  attempts: number;
  /** HTTP status of the last attempt, or null when it got no answer. */
  lastStatus: number | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
}

export interface JobSummary {
  id: string;
  status: JobStatus;
  /** Addresses in the job. */
  total: number;
  /** Addresses with a recorded result. */
  done: number;
  counts: Record<Verdict, number>;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Why the job failed, when it did. */
  error: string | null;
  apiKeyId: string | null;
  callback: CallbackSummary | null;
}

export interface NewJob {
  /** Owner; null when API keys are not required. */
  apiKeyId: string | null;
  /** Scoped to the owner: the same key from another owner is another job. */
  idempotencyKey: string | null;
  callbackUrl: string | null;
}

export type OpenJobOutcome =
  | { kind: 'opened'; jobId: string }
  /** The idempotency key is taken; `fingerprint` is null while that job still receives. */
  | { kind: 'existing'; job: JobSummary; fingerprint: string | null };

export interface JobItem {
  seq: number;
  email: string;
}

export interface RecordedItem extends JobItem {
  result: VerificationResult;
}

export interface ItemResult {
  seq: number;
  result: VerificationResult;
}

export interface DueCallback {
  job: JobSummary;
  url: string;
  /** Attempts made before this one. */
  attempts: number;
}

export interface CallbackAttempt {
  outcome: 'delivered' | 'retry' | 'failed';
  status: number | null;
  error: string | null;
  /** When to try again; only for `retry`. */
  nextAttemptAt: number | null;
}

export interface QueueDepth {
  /** Jobs queued or running. */
  jobs: number;
  /** Their addresses without a result yet. */
  items: number;
}

export interface JobStore {
  /**
   * Starts a job that receives addresses. With an idempotency key already
   * used by the same owner, nothing is created and that job is returned.
   */
  openJob(spec: NewJob, now: number): Promise<OpenJobOutcome>;

  /** Appends addresses after the last ones, in one transaction. */
  appendItems(jobId: string, emails: readonly string[], now: number): Promise<void>;

  /**
   * Ends the upload: the job becomes queued. The fingerprint identifies the
   * request, so that a replay with the same idempotency key can be told
   * apart from a different request reusing it.
   */
  sealJob(jobId: string, fingerprint: string): Promise<JobSummary>;

  /** Deletes a job that is still receiving (a refused or broken upload). */
  discardJob(jobId: string): Promise<void>;

  /** Deletes uploads abandoned by a process that died while receiving them. */
  discardAbandonedUploads(now: number): Promise<number>;

  /**
   * Deletes up to `limit` jobs, items included, that ended (completed,
   * cancelled, failed) before `endedBefore` and owe no callback: one still
   * pending is kept until it is delivered or given up. Returns how many.
   */
  deleteEndedJobs(endedBefore: number, limit: number): Promise<number>;

  getJob(jobId: string): Promise<JobSummary | null>;

  /**
   * Takes the oldest queued job, or a running one whose lease has expired,
   * and leases it to the worker until now + leaseMs.
   */
  claimJob(workerId: string, now: number, leaseMs: number): Promise<JobSummary | null>;

  /** False when the worker no longer holds the job (cancelled, or taken over). */
  renewLease(jobId: string, workerId: string, now: number, leaseMs: number): Promise<boolean>;

  /** Gives the job back to the queue, for this or another worker to resume. */
  releaseJob(jobId: string, workerId: string): Promise<void>;

  /** Ends a job that cannot go on; its recorded results stay readable. */
  failJob(jobId: string, workerId: string, error: string, now: number): Promise<void>;

  /** Items after `afterSeq` without a result, in order. */
  listPendingItems(jobId: string, afterSeq: number, limit: number): Promise<JobItem[]>;

  /**
   * Records an item's result unless it already has one, or the job has
   * ended. True when this call recorded it. The last result completes the
   * job (and makes its callback due) in the same transaction.
   */
  recordResult(
    jobId: string,
    seq: number,
    result: VerificationResult,
    now: number,
  ): Promise<boolean>;

  /** recordResult for many items in one transaction; how many were recorded. */
  recordResults(jobId: string, results: readonly ItemResult[], now: number): Promise<number>;

  /** Items after `afterSeq` that have a result, in order. */
  readResults(jobId: string, afterSeq: number, limit: number): Promise<RecordedItem[]>;

  /** Cancels a queued or running job; null when there is no such job. */
  cancelJob(jobId: string, now: number): Promise<JobSummary | null>;

  queueDepth(): Promise<QueueDepth>;

  /** Leases the callback that has been due the longest, if any. */
  claimDueCallback(now: number, leaseMs: number): Promise<DueCallback | null>;

  recordCallbackAttempt(jobId: string, attempt: CallbackAttempt, now: number): Promise<void>;
}
