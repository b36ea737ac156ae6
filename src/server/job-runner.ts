/**
 * The worker that turns queued jobs into results. It claims jobs from the
 * store with a lease, hands their pending addresses to the BulkVerifier
 * with a bounded number in flight (the engine needs many recipients in
 * hand to share SMTP sessions), records each result, and renews the lease
 * while it works. A job is complete when its last result is recorded; the
 * store does that in the same transaction.
 *
 * Idempotent by construction: only items without a result are verified,
 * and a result is recorded at most once, so a job resumed after a crash,
 * or run by two workers after a lease expired, never counts an address
 * twice. Results are written in small batches; a crash loses at most the
 * batch in memory, whose addresses are verified again (from the cache).
 *
 * Between jobs it delivers due callbacks, clears abandoned uploads, and
 * deletes ended jobs past their retention.
 *
 * TODO: every job is a list of addresses to verify; connector syncs and
 * webhook batches need a job kind and a handler per kind before they can
 * be queued here.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import pino from 'pino';
import type { Logger } from 'pino';

import { BulkClosedError } from '../engine/bulk-verifier.js';
import type { BulkVerifier } from '../engine/bulk-verifier.js';
import type { JobStore, JobSummary } from '../store/job-store.js';
import type { Clock } from '../verify/types.js';
import type { CallbackDeliverer } from './deliver-callback.js';
import { createInFlightSlots } from './in-flight-slots.js';
import type { InFlightSlots } from './in-flight-slots.js';
import type { JobOutcome, Metrics } from './metrics.js';
import { createResultRecorder } from './result-recorder.js';

export interface JobRunnerDeps {
  jobs: JobStore;
  verifier: Pick<BulkVerifier, 'verify'>;
  clock: Clock;
  logger?: Logger;
  /** Seconds a claim lasts; renewed every third of it while the job runs. */
  leaseSeconds: number;
  workerId?: string;
  metrics?: Pick<Metrics, 'jobDuration'>;
  /** Posts job callbacks; without it, callbacks stay due in the store. */
  callbacks?: CallbackDeliverer;
  /** Addresses handed to the verifier and not yet answered, all jobs together. */
  maxInFlight?: number;
  /** Jobs worked on at once, so a small job is not stuck behind a big one. */
  maxJobs?: number;
  /** How often the store is asked for work when nobody calls wake(). */
  pollMs?: number;
  /** How long stop() waits for verifications in flight before releasing. */
  drainMs?: number;
  /** Ended jobs older than this are deleted; 0 or none keeps every job. */
  retentionMs?: number;
}

export interface JobRunner {
  start(): void;
  /** Stops taking work, waits (bounded) for what is in flight, releases the leases. */
  stop(): Promise<void>;
  /** There is new work: look now rather than at the next poll. */
  wake(): void;
}

const DEFAULT_MAX_IN_FLIGHT = 5_000;
const DEFAULT_MAX_JOBS = 4;
const DEFAULT_POLL_MS = 1_000;
const DEFAULT_DRAIN_MS = 10_000;
/** Pending items read from the store at a time. */
const PAGE_SIZE = 1_000;
/**
 * Passes over a job's pending items before giving up. A second pass takes
 * the items whose verification failed; an engine that keeps failing on an
 * address is broken, and the job fails rather than loop.
 */
const MAX_PASSES = 3;
/** How soon a wait for verifications in flight notices that the runner is stopping. */
const STOP_CHECK_MS = 100;
/** Old jobs are looked for this often, and this many deleted at a time. */
const RETENTION_CHECK_MS = 10 * 60_000;
const JOBS_DELETED_AT_ONCE = 20;

export function createJobRunner(deps: JobRunnerDeps): JobRunner {
  const logger = deps.logger ?? pino({ level: 'silent' });
  const workerId =
    deps.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const leaseMs = deps.leaseSeconds * 1000;
  const slots = createInFlightSlots(deps.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
  const active = new Map<string, Promise<void>>();
  const context = { ...deps, logger, workerId, leaseMs, slots, isStopping: () => isStopping };

  let isStarted = false;
  let isStopping = false;
  let loop: Promise<void> | null = null;
  let wakeUp: (() => void) | null = null;
  let isWakeRequested = false;

  const rest = (ms: number) =>
    new Promise<void>((resolve) => {
      if (isWakeRequested || isStopping) return resolve();
      const timer = setTimeout(finish, ms);
      function finish() {
        clearTimeout(timer);
        wakeUp = null;
        resolve();
      }
      wakeUp = finish;
    });

  const claimWork = async () => {
    while (!isStopping && active.size < (deps.maxJobs ?? DEFAULT_MAX_JOBS)) {
      const job = await deps.jobs.claimJob(workerId, deps.clock.now(), leaseMs);
      if (!job) return;
      const work = runJob(context, job)
        .catch((error: unknown) => logger.error({ err: error, jobId: job.id }, 'job run broke'))
        .finally(() => {
          active.delete(job.id);
          wake();
        });
      active.set(job.id, work);
    }
  };

  let nextRetentionCheck = 0;
  const deleteOldJobs = async () => {
    const retentionMs = deps.retentionMs ?? 0;
    const now = deps.clock.now();
    if (retentionMs <= 0 || now < nextRetentionCheck) return;
    // A big job's items take a while to delete: a few jobs at a time, and
    // the next few on the next pass when there were more.
    const deleted = await deps.jobs.deleteEndedJobs(now - retentionMs, JOBS_DELETED_AT_ONCE);
    if (deleted > 0) logger.info({ deleted }, 'jobs past their retention deleted');
    if (deleted < JOBS_DELETED_AT_ONCE) nextRetentionCheck = now + RETENTION_CHECK_MS;
  };

  const keepHouse = async () => {
    const discarded = await deps.jobs.discardAbandonedUploads(deps.clock.now());
    if (discarded > 0) logger.warn({ discarded }, 'abandoned job uploads discarded');
    await deps.callbacks?.deliverDue();
    await deleteOldJobs();
  };

  const run = async () => {
    while (!isStopping) {
      isWakeRequested = false;
      try {
        await claimWork();
        await keepHouse();
      } catch (error) {
        logger.error({ err: error }, 'job runner step failed');
      }
      await rest(deps.pollMs ?? DEFAULT_POLL_MS);
    }
  };

  function wake() {
    isWakeRequested = true;
    wakeUp?.();
  }

  return {
    start() {
      if (isStarted) return;
      isStarted = true;
      loop = run();
      logger.info({ workerId }, 'job runner started');
    },
    async stop() {
      isStopping = true;
      slots.cancelWaiting();
      wake();
      await loop;
      await Promise.allSettled([...active.values()]);
      logger.info({ workerId }, 'job runner stopped');
    },
    wake,
  };
}

interface RunContext extends JobRunnerDeps {
  logger: Logger;
  workerId: string;
  leaseMs: number;
  slots: InFlightSlots;
  isStopping(): boolean;
}

async function runJob(context: RunContext, claimed: JobSummary): Promise<void> {
  const { jobs, clock, logger, workerId, leaseMs } = context;
  const jobLogger = logger.child({ jobId: claimed.id });
  const startedAt = clock.now();
  jobLogger.info({ total: claimed.total, done: claimed.done }, 'job claimed');

  let isLost = false;
  const renewal = setInterval(() => {
    jobs.renewLease(claimed.id, workerId, clock.now(), leaseMs).then(
      (isHeld) => void (isLost ||= !isHeld),
      (error: unknown) => jobLogger.warn({ err: error }, 'lease renewal failed'),
    );
  }, leaseMs / 3);
  const shouldGoOn = () => !isLost && !context.isStopping();

  let failure: unknown = null;
  try {
    for (let pass = 0; pass < MAX_PASSES && shouldGoOn(); pass += 1) {
      const outcome = await verifyPending(context, claimed.id, shouldGoOn, jobLogger);
      failure = outcome.failure;
      if (outcome.dispatched === 0) break;
    }
  } finally {
    clearInterval(renewal);
  }

  const job = await jobs.getJob(claimed.id);
  const outcome = await settleJob(context, job, failure, isLost);
  const seconds = (clock.now() - startedAt) / 1000;
  context.metrics?.jobDuration.observe({ kind: 'verify', outcome }, seconds);
  jobLogger.info({ outcome, seconds, done: job?.done, total: job?.total }, 'job left');
}

/** Where the job stands after the passes, and what the worker does about it. */
async function settleJob(
  context: RunContext,
  job: JobSummary | null,
  failure: unknown,
  isLost: boolean,
): Promise<JobOutcome> {
  if (!job) return 'cancelled';
  if (job.status === 'completed' || job.status === 'cancelled' || job.status === 'failed') {
    return job.status;
  }
  if (isLost) return 'released';

  const isEngineFault = failure !== null && !(failure instanceof BulkClosedError);
  if (isEngineFault && !context.isStopping()) {
    const message = `verification kept failing: ${(failure as Error).message ?? String(failure)}`;
    await context.jobs.failJob(job.id, context.workerId, message, context.clock.now());
    context.logger.error({ jobId: job.id, err: failure }, 'job failed');
    return 'failed';
  }

  await context.jobs.releaseJob(job.id, context.workerId);
  return 'released';
}

interface PassOutcome {
  dispatched: number;
  /** The last verification that rejected, if any. */
  failure: unknown;
}

/** One pass over the items still without a result. */
async function verifyPending(
  context: RunContext,
  jobId: string,
  shouldGoOn: () => boolean,
  logger: Logger,
): Promise<PassOutcome> {
  const { jobs, verifier, slots } = context;
  const recorder = createResultRecorder(jobs, jobId, context.clock, logger);
  const inFlight = new Set<Promise<void>>();
  const outcome: PassOutcome = { dispatched: 0, failure: null };

  let afterSeq = -1;
  while (shouldGoOn()) {
    const items = await jobs.listPendingItems(jobId, afterSeq, PAGE_SIZE);
    if (items.length === 0) break;

    for (const item of items) {
      const hasSlot = await slots.acquire();
      if (!hasSlot || !shouldGoOn()) {
        if (hasSlot) slots.release();
        break;
      }
      afterSeq = item.seq;
      outcome.dispatched += 1;
      const work = verifier.verify(item.email).then(
        (result) => recorder.add({ seq: item.seq, result }),
        (error: unknown) => void (outcome.failure = error),
      );
      const tracked = work.finally(() => {
        slots.release();
        inFlight.delete(tracked);
      });
      inFlight.add(tracked);
    }
  }

  await drain(context, inFlight);
  await recorder.flush();
  recorder.close();
  return outcome;
}

/** Waits for the verifications in flight; when stopping, only for drainMs. */
async function drain(context: RunContext, inFlight: Set<Promise<void>>): Promise<void> {
  const drainMs = context.drainMs ?? DEFAULT_DRAIN_MS;
  let deadline: number | null = null;

  while (inFlight.size > 0) {
    if (context.isStopping()) deadline ??= context.clock.now() + drainMs;
    const waitMs =
      deadline === null ? STOP_CHECK_MS : Math.min(STOP_CHECK_MS, deadline - context.clock.now());
    if (waitMs <= 0) return;

    let timer: NodeJS.Timeout | undefined;
    const pause = new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)));
    await Promise.race([Promise.allSettled([...inFlight]), pause]);
    clearTimeout(timer);
  }
}
