/**
 * The HTTP service as an express app, built from its dependencies so that
 * tests run it in-process. Order of the chain: request id and logging,
 * the operations routes, the HubSpot routes (raw body, signed by HubSpot),
 * then /v1 (API key, rate limit, JSON body, routes), then not-found and the
 * error answer.
 *
 * Bodies: /v1 parses `application/json` up to `maxBodyBytes` (after the
 * key check, so strangers cannot make us parse). Other content types are
 * left unread for the routes that stream them (CSV and plain-text job
 * uploads); those routes bound them by `maxBodyBytes` themselves.
 */
import express from 'express';
import type { Application, RequestHandler, Router } from 'express';
import type { Logger } from 'pino';

import type { Config } from '../config.js';
import type { BulkVerifier } from '../engine/bulk-verifier.js';
import type { KeyStore } from '../store/key-store.js';
import type { Clock } from '../verify/types.js';
import { ApiError } from './api-error.js';
import { authenticate } from './authenticate.js';
import { answerUnmatched, handleErrors } from './handle-errors.js';
import type { Metrics } from './metrics.js';
import { createOperationsRouter } from './operations-router.js';
import type { QuotaMeter } from './quota-meter.js';
import { createRateLimiter, limitRate } from './rate-limiter.js';
import { readRouteTable } from './route-table.js';
import type { RouteTable } from './route-table.js';
import { trackRequests } from './track-requests.js';
import { createVerifyRouter } from './verify-router.js';
import type { EnqueueJob } from './verify-router.js';

export type AppConfig = Pick<
  Config,
  'requireApiKey' | 'apiTimeout' | 'apiTimeoutMax' | 'apiRateLimit' | 'maxBodyBytes'
>;

export interface AppDeps {
  config: AppConfig;
  verifier: Pick<BulkVerifier, 'verify'>;
  keys: KeyStore;
  quota: QuotaMeter;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  /** Whether the store answers a trivial query. */
  isReady: () => Promise<boolean>;
  /** True once shutdown began: /v1 and /readyz answer 503. */
  isStopping?: () => boolean;
  /** Creates a job for /v1/verify addresses that did not finish in time. */
  enqueueJob: EnqueueJob;
  /** Mounted at /v1/jobs and /v1/schedules. */
  jobsRouter: Router;
  schedulesRouter: Router;
  /** The parsed OpenAPI document, served at /openapi.json. */
  openapi: unknown;
  /**
   * The routes HubSpot calls under /hubspot, signed by HubSpot rather than
   * keyed by us; they get the raw body to check the signature on.
   */
  hubspotRouter?: Router;
}

/** Bursts of twice the per-second rate (the documented meaning of apiRateLimit). */
const BURST_FACTOR = 2;
/** A stopped service is usually back within seconds of a restart. */
const RETRY_AFTER_SECONDS = 5;
/** HubSpot sends at most 100 webhook events (a few tens of KB) per request. */
const HUBSPOT_MAX_BODY_BYTES = 1024 * 1024;

export function createApp(deps: AppDeps): Application {
  const { config, logger, metrics, clock } = deps;
  const isStopping = deps.isStopping ?? (() => false);
  const app = express();
  app.disable('x-powered-by');
  // Answers are small and per caller; hashing each for an ETag buys nothing.
  app.set('etag', false);

  let table: RouteTable | null = null;
  const routes = () => (table ??= readRouteTable(app));

  app.use(trackRequests({ logger, metrics, routes }));
  app.use(askToCloseWhenStopping(isStopping));
  app.use(
    createOperationsRouter({ metrics, isReady: deps.isReady, isStopping, openapi: deps.openapi }),
  );

  if (deps.hubspotRouter) {
    app.use('/hubspot', express.raw({ type: () => true, limit: HUBSPOT_MAX_BODY_BYTES }));
    app.use(deps.hubspotRouter);
  }

  const v1 = express.Router();
  v1.use(refuseWhenStopping(isStopping));
  v1.use(
    authenticate({
      keys: deps.keys,
      isRequired: config.requireApiKey,
      quota: deps.quota,
      clock,
      logger,
    }),
  );
  const limiter = createRateLimiter({
    ratePerSecond: config.apiRateLimit,
    burst: Math.max(1, config.apiRateLimit * BURST_FACTOR),
    clock,
  });
  v1.use(limitRate(limiter));
  v1.use(express.json({ limit: config.maxBodyBytes, type: 'application/json' }));

  v1.use(
    '/verify',
    createVerifyRouter({
      verifier: deps.verifier,
      enqueueJob: deps.enqueueJob,
      defaultTimeout: config.apiTimeout,
      maxTimeout: config.apiTimeoutMax,
    }),
  );
  v1.use('/jobs', deps.jobsRouter);
  v1.use('/schedules', deps.schedulesRouter);
  app.use('/v1', v1);

  app.use(answerUnmatched(routes));
  app.use(handleErrors(logger));
  return app;
}

/**
 * Decided when the headers go out, not when the request came in, so that
 * answers in progress when shutdown begins also ask the client to close.
 */
function askToCloseWhenStopping(isStopping: () => boolean): RequestHandler {
  return (_req, res, next) => {
    const writeHead = res.writeHead as (...args: unknown[]) => typeof res;
    res.writeHead = function (this: typeof res, ...args: unknown[]) {
      if (isStopping() && !res.headersSent) res.setHeader('Connection', 'close');
      return writeHead.apply(this, args);
    } as typeof res.writeHead;
    next();
  };
}

/** New requests on connections still open during shutdown. */
function refuseWhenStopping(isStopping: () => boolean): RequestHandler {
  return (_req, _res, next) => {
    if (!isStopping()) return next();
    throw new ApiError('unavailable', 'the service is shutting down', null, RETRY_AFTER_SECONDS);
  };
}
