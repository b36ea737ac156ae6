/**
 * An in-process app over a real SQLite key store and a fake verifier, with
 * its log lines captured, for supertest.
 */
import { Writable } from 'node:stream';
import express from 'express';
import type { Application, Router } from 'express';
import pino from 'pino';

import type { AppConfig } from '../../src/server/create-app.js';
import { createApp } from '../../src/server/create-app.js';
import { issueApiKey } from '../../src/server/api-keys.js';
import { createMetrics } from '../../src/server/metrics.js';
import type { Metrics } from '../../src/server/metrics.js';
import { loadOpenApiDocument } from '../../src/server/openapi-document.js';
import { createQuotaMeter } from '../../src/server/quota-meter.js';
import type { JobReference } from '../../src/server/verify-router.js';
import { REDACTED_PATHS } from '../../src/cli/compose.js';
import { SqliteKeyStore } from '../../src/store/sqlite-key-store.js';
import { createFakeClock } from './fake-clock.js';
import type { FakeClock } from './fake-clock.js';
import { createFakeVerifier } from './fake-verifier.js';
import type { FakeVerifier } from './fake-verifier.js';

export interface EnqueuedJob {
  emails: string[];
  apiKeyId: string | null;
  job: JobReference;
}

export interface TestApp {
  app: Application;
  /** A valid key, ready for `Authorization: Bearer`. */
  key: string;
  keyId: string;
  keys: SqliteKeyStore;
  verifier: FakeVerifier;
  enqueued: EnqueuedJob[];
  metrics: Metrics;
  clock: FakeClock;
  /** Every log line written so far, parsed. */
  logs: Record<string, unknown>[];
  stop(): void;
  setReady(isReady: boolean): void;
}

type HarnessConfig = AppConfig & { apiDailyQuota: number };

export interface TestAppOptions {
  config?: Partial<HarnessConfig>;
  jobsRouter?: Router;
  schedulesRouter?: Router;
}

export const TEST_CONFIG: HarnessConfig = {
  requireApiKey: true,
  apiTimeout: 0.2,
  apiTimeoutMax: 1,
  apiRateLimit: 1000,
  apiDailyQuota: 0,
  maxBodyBytes: 65_536,
};

export async function buildTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const config = { ...TEST_CONFIG, ...options.config };
  const clock = createFakeClock();
  const logs: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  );

  const keys = new SqliteKeyStore({ path: ':memory:' });
  const issued = await issueApiKey(keys, 'tests', clock.now());
  const verifier = createFakeVerifier();
  const metrics = createMetrics({ withProcessMetrics: false });
  const enqueued: EnqueuedJob[] = [];
  let isStopping = false;
  let isReady = true;

  const app = createApp({
    config,
    verifier,
    keys,
    quota: createQuotaMeter({ keys, dailyQuota: config.apiDailyQuota, clock, logger }),
    metrics,
    logger,
    clock,
    isReady: async () => isReady,
    isStopping: () => isStopping,
    enqueueJob: async (emails, apiKeyId) => {
      const job = { id: `job_${enqueued.length + 1}`, status: 'queued', total: emails.length };
      enqueued.push({ emails, apiKeyId, job });
      return job;
    },
    jobsRouter: options.jobsRouter ?? express.Router(),
    schedulesRouter: options.schedulesRouter ?? express.Router(),
    openapi: loadOpenApiDocument(),
  });

  return {
    app,
    key: issued.key,
    keyId: issued.record.id,
    keys,
    verifier,
    enqueued,
    metrics,
    clock,
    logs,
    stop: () => void (isStopping = true),
    setReady: (ready) => void (isReady = ready),
  };
}
