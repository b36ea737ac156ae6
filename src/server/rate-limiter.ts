/**
 * Per-caller token buckets, in memory: each caller may make `rate`
 * requests a second on average and `burst` at once. The table of callers is
 * bounded: idle buckets (refilled to full) are forgotten first.
 */
import type { RequestHandler } from 'express';

import type { Clock } from '../verify/types.js';
import { ApiError } from './api-error.js';

export type RateDecision = { isAllowed: true } | { isAllowed: false; retryAfterSeconds: number };

export interface RateLimiter {
  /** Takes one token from the caller's bucket, or says how long until one is there. */
  take(caller: string): RateDecision;
}

export interface RateLimiterOptions {
  ratePerSecond: number;
  burst: number;
  clock: Clock;
  /** Buckets kept at most; beyond it idle callers are forgotten. */
  maxCallers?: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

const DEFAULT_MAX_CALLERS = 10_000;

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { ratePerSecond, burst, clock } = options;
  const maxCallers = options.maxCallers ?? DEFAULT_MAX_CALLERS;
  const buckets = new Map<string, Bucket>();

  const refill = (bucket: Bucket, now: number): void => {
    const earned = ((now - bucket.updatedAt) / 1000) * ratePerSecond;
    bucket.tokens = Math.min(burst, bucket.tokens + earned);
    bucket.updatedAt = now;
  };

  const forgetIdle = (now: number): void => {
    for (const [caller, bucket] of buckets) {
      refill(bucket, now);
      if (bucket.tokens >= burst) buckets.delete(caller);
    }
    // Still full of busy callers: drop the longest-known ones; they start
    // again with a full bucket, which errs on the side of the caller.
    for (const caller of buckets.keys()) {
      if (buckets.size < maxCallers) break;
      buckets.delete(caller);
    }
  };

  return {
    take(caller) {
      const now = clock.now();
      let bucket = buckets.get(caller);
      if (!bucket) {
        if (buckets.size >= maxCallers) forgetIdle(now);
        bucket = { tokens: burst, updatedAt: now };
        buckets.set(caller, bucket);
      }

      refill(bucket, now);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return { isAllowed: true };
      }
      const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerSecond));
      return { isAllowed: false, retryAfterSeconds };
    },
  };
}

/**
 * Middleware after authentication: one token per request from the key's
 * bucket, or from the client address's when callers are anonymous.
 */
export function limitRate(limiter: RateLimiter): RequestHandler {
  return (req, res, next) => {
    const keyId = res.locals.apiKeyId as string | null | undefined;
    const decision = limiter.take(keyId ? `key:${keyId}` : `ip:${req.ip ?? 'unknown'}`);
    if (!decision.isAllowed) {
      throw new ApiError('rate_limited', undefined, null, decision.retryAfterSeconds);
    }
    next();
  };
}
