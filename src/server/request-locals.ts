/**
 * What the app's middleware leaves on `res.locals` for the routes: the
 * request id, a logger carrying it, the caller's API key id (null when keys
 * are not required) and the daily quota charge.
 */
import type { Response } from 'express';
import type { Logger } from 'pino';

export interface RequestLocals {
  requestId: string;
  logger: Logger;
  apiKeyId: string | null;
  /** Charges addresses to the key's daily quota; throws ApiError quota_exceeded. */
  chargeQuota(count: number): Promise<void>;
}

export function localsOf(res: Response): RequestLocals {
  return res.locals as RequestLocals;
}
