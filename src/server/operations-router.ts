/**
 * The routes for whoever runs the service, outside /v1 and without a key:
 * liveness, readiness, Prometheus metrics and the OpenAPI document. Keep
 * the port off the public internet or /metrics tells it your volumes.
 */
import express from 'express';
import type { Router } from 'express';

import { ApiError } from './api-error.js';
import type { Metrics } from './metrics.js';

export interface OperationsDeps {
  metrics: Metrics;
  /** Whether the store answers a trivial query. */
  isReady: () => Promise<boolean>;
  isStopping: () => boolean;
  openapi: unknown;
}

/** A stopped service comes back after a restart, usually within seconds. */
const RETRY_AFTER_SECONDS = 5;

export function createOperationsRouter(deps: OperationsDeps): Router {
  const router = express.Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (_req, res) => {
    if (deps.isStopping()) {
      throw new ApiError('unavailable', 'the service is shutting down', null, RETRY_AFTER_SECONDS);
    }
    const isReady = await deps.isReady().catch(() => false);
    if (!isReady) {
      throw new ApiError('unavailable', 'the store is not reachable', null, RETRY_AFTER_SECONDS);
    }
    res.json({ status: 'ready' });
  });

  router.get('/metrics', async (_req, res) => {
    const text = await deps.metrics.registry.metrics();
    res.type(deps.metrics.registry.contentType).send(text);
  });

  router.get('/openapi.json', (_req, res) => {
    res.json(deps.openapi);
  });

  return router;
}
