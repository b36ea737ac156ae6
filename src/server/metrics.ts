/**
 * The service's Prometheus metrics, in a registry of their own so that two
 * apps in one process (tests) never share counters. The README lists the
 * names; a test scrapes them.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import type { VerificationResult } from '../verify/types.js';

/** How an attempt to open an SMTP session ended. */
export type SessionOutcome = 'connected' | 'refused' | 'timeout' | 'unreachable' | 'failed';

/** How a job ended, for its duration. */
export type JobOutcome = 'completed' | 'cancelled' | 'failed' | 'released';

export interface Metrics {
  registry: Registry;
  /** Every verification answered, cached or live, by verdict and reason. */
  verifications: Counter<'verdict' | 'reason'>;
  /** Attempts to open an SMTP session, by how they ended. */
  smtpSessions: Counter<'outcome'>;
  /** SMTP sessions open right now. */
  smtpSessionsOpen: Gauge;
  /** Addresses in queued or running jobs that have no result yet. */
  queueDepth: Gauge;
  /** Seconds from a job's claim to its end, by kind and outcome. */
  jobDuration: Histogram<'kind' | 'outcome'>;
  /** Seconds to answer an HTTP request, by method, route template and status. */
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  /** Counts one answered verification. */
  countVerification(result: VerificationResult): void;
  /** Asks `read` for the queue depth at each scrape (the job store knows it). */
  watchQueueDepth(read: () => Promise<number>): void;
}

export interface MetricsOptions {
  /** Node process metrics (memory, event loop lag, handles); on by default. */
  withProcessMetrics?: boolean;
}

/** Cached answers take well under a millisecond; live ones take seconds. */
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const JOB_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600];

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.withProcessMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: 'mailverify_' });
  }

  let readQueueDepth: (() => Promise<number>) | null = null;
  const metrics = {
    registry,
    verifications: new Counter({
      name: 'mailverify_verifications_total',
      help: 'Verifications answered (cached or live), by verdict and reason.',
      labelNames: ['verdict', 'reason'] as const,
      registers: [registry],
    }),
    smtpSessions: new Counter({
      name: 'mailverify_smtp_sessions_total',
      help: 'Attempts to open an SMTP session, by outcome.',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    smtpSessionsOpen: new Gauge({
      name: 'mailverify_smtp_sessions_open',
      help: 'SMTP sessions open now.',
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'mailverify_job_queue_depth',
      help: 'Addresses in queued or running jobs still waiting for a result.',
      registers: [registry],
      async collect() {
        if (readQueueDepth) this.set(await readQueueDepth());
      },
    }),
    jobDuration: new Histogram({
      name: 'mailverify_job_duration_seconds',
      help: 'Seconds from claiming a job to its end, by kind and outcome.',
      labelNames: ['kind', 'outcome'] as const,
      buckets: JOB_BUCKETS,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'mailverify_http_request_duration_seconds',
      help: 'Seconds to answer an HTTP request, by method, route and status.',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: HTTP_BUCKETS,
      registers: [registry],
    }),
  };

  return {
    ...metrics,
    countVerification: (result) => {
      metrics.verifications.inc({ verdict: result.verdict, reason: result.reason });
    },
    watchQueueDepth: (read) => {
      readQueueDepth = read;
    },
  };
}
