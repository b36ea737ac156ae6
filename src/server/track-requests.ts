/**
 * The first middleware of every request: a request id (the caller's
 * X-Request-Id when it is sane, else a new one) echoed in the answer, a
 * logger carrying it, and on finish one log line and one latency sample by
 * route template. The query string is never logged: it holds addresses.
 */
import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

import type { Metrics } from './metrics.js';
import type { RouteTable } from './route-table.js';

/** Ids from callers end up in our logs: short and plain, or replaced. */
const CALLER_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export interface TrackRequestsOptions {
  logger: Logger;
  metrics: Metrics;
  /** Read once the app's routes are all mounted. */
  routes: () => RouteTable;
  newId?: () => string;
}

export function trackRequests(options: TrackRequestsOptions): RequestHandler {
  const newId = options.newId ?? randomUUID;

  return (req, res, next) => {
    const startedAt = process.hrtime.bigint();
    const offered = req.get('x-request-id');
    const requestId = offered && CALLER_ID_PATTERN.test(offered) ? offered : newId();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    // Made on first use: most requests log nothing but their finish line.
    let logger: Logger | null = null;
    Object.defineProperty(res.locals, 'logger', {
      get: () => (logger ??= options.logger.child({ reqId: requestId })),
      enumerable: true,
    });

    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
      // req.path is relative to the router that answered; the original is not.
      const path = req.originalUrl.split('?', 1)[0] ?? '/';
      const route = options.routes().match(req.method, path) ?? 'unmatched';
      const status = String(res.statusCode);
      options.metrics.httpDuration.observe({ method: req.method, route, status }, seconds);
      if (!options.logger.isLevelEnabled('info')) return;
      options.logger.info(
        {
          reqId: requestId,
          method: req.method,
          path,
          route,
          status: res.statusCode,
          durationMs: Math.round(seconds * 1000 * 10) / 10,
          apiKeyId: res.locals.apiKeyId ?? null,
        },
        'request',
      );
    });
    next();
  };
}
