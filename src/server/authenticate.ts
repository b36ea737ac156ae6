/**
 * API key check for /v1: `Authorization: Bearer <key>` (RFC 6750 2.1).
 * Sets `res.locals.apiKeyId` and `res.locals.chargeQuota`; when keys are
 * not required every caller is anonymous (apiKeyId null, no quota).
 */
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

import type { KeyStore } from '../store/key-store.js';
import type { Clock } from '../verify/types.js';
import { ApiError } from './api-error.js';
import { authenticateApiKey } from './api-keys.js';
import type { QuotaMeter } from './quota-meter.js';

const BEARER_PATTERN = /^Bearer +(\S+)$/i;
/** A key's "last used" is written at most this often, not on every request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export interface AuthenticateOptions {
  keys: KeyStore;
  isRequired: boolean;
  quota: QuotaMeter;
  clock: Clock;
  logger: Logger;
}

export function authenticate(options: AuthenticateOptions): RequestHandler {
  const { keys, quota, clock, logger } = options;
  const markedAt = new Map<string, number>();

  const markUsed = (keyId: string): void => {
    const now = clock.now();
    if (now - (markedAt.get(keyId) ?? -Infinity) < LAST_USED_RESOLUTION_MS) return;
    markedAt.set(keyId, now);
    keys.markUsed(keyId, now).catch((error: unknown) => {
      logger.warn({ err: error, keyId }, 'last use of key not stored');
    });
  };

  return async (req, res, next) => {
    if (!options.isRequired) {
      res.locals.apiKeyId = null;
      res.locals.chargeQuota = async () => {};
      next();
      return;
    }

    const presented = BEARER_PATTERN.exec(req.get('authorization') ?? '')?.[1];
    const key = presented ? await authenticateApiKey(keys, presented) : null;
    if (!key) {
      // RFC 6750 3: name the scheme, and say when a presented token was bad.
      const challenge = presented ? 'Bearer realm="mailverify", error="invalid_token"' : 'Bearer';
      res.setHeader('WWW-Authenticate', challenge);
      throw new ApiError('unauthorized');
    }

    markUsed(key.id);
    res.locals.apiKeyId = key.id;
    res.locals.chargeQuota = (count: number) => quota.charge(key.id, count);
    next();
  };
}
