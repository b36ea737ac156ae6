/**
 * Every Sheets API request goes through here: it waits for its turn under
 * the per-minute limit, and retries 429 and 5xx answers and dropped
 * connections with truncated exponential backoff, as Google asks
 * (https://developers.google.com/workspace/sheets/api/limits#exponential).
 * The client's own retry is off: it skips POST, and batchUpdate is a POST.
 * Retrying a write is safe here: every write sets cells to fixed values.
 */
import type { Logger } from 'pino';

import type { RequestLimiter } from './request-limiter.js';

export const MAX_ATTEMPTS = 6;
const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 32_000;
/** A Retry-After beyond this is not honoured; the backoff cap applies. */
const MAX_RETRY_AFTER_MS = 120_000;
const RETRIED_NETWORK_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNREFUSED']);

export interface GoogleCallerDeps {
  limiter: RequestLimiter;
  sleep: (ms: number) => Promise<void>;
  /** 0 ≤ x < 1, for the jitter. */
  random: () => number;
  logger: Logger;
}

export type GoogleCall = <T>(operation: string, send: () => Promise<{ data: T }>) => Promise<T>;

/** A request that failed for good; status is null when no answer came. */
export class GoogleApiError extends Error {
  readonly code = 'GOOGLE_API_FAILED';

  constructor(
    readonly operation: string,
    readonly status: number | null,
    readonly attempts: number,
    detail: string,
  ) {
    super(`${operation} failed after ${attempts} attempt(s): ${detail}`);
    this.name = 'GoogleApiError';
  }
}

export function createGoogleCaller(deps: GoogleCallerDeps): GoogleCall {
  return async <T>(operation: string, send: () => Promise<{ data: T }>) => {
    for (let attempt = 1; ; attempt += 1) {
      await deps.limiter.acquire();
      try {
        const response = await send();
        return response.data;
      } catch (error) {
        const failure = describeFailure(error);
        if (!failure.isRetryable || attempt >= MAX_ATTEMPTS) {
          throw new GoogleApiError(operation, failure.status, attempt, failure.detail);
        }
        const delay = backoffMs(attempt, failure.retryAfterMs, deps.random);
        deps.logger.warn(
          { operation, status: failure.status, attempt, delayMs: delay },
          'google request failed: retrying',
        );
        await deps.sleep(delay);
      }
    }
  };
}

interface Failure {
  status: number | null;
  isRetryable: boolean;
  retryAfterMs: number | null;
  detail: string;
}

function describeFailure(error: unknown): Failure {
  const shaped = error as {
    status?: unknown;
    code?: unknown;
    message?: unknown;
    response?: { status?: unknown; headers?: unknown };
  };
  const rawStatus = shaped.response?.status ?? shaped.status;
  const status = typeof rawStatus === 'number' ? rawStatus : null;
  const code = typeof shaped.code === 'string' ? shaped.code : '';
  const detail = typeof shaped.message === 'string' ? shaped.message : String(error);

  if (status === null) {
    return { status, isRetryable: RETRIED_NETWORK_CODES.has(code), retryAfterMs: null, detail };
  }
  const isRetryable = status === 429 || status >= 500;
  return { status, isRetryable, retryAfterMs: retryAfterOf(shaped.response?.headers), detail };
}

/** Retry-After in seconds (RFC 9110 10.2.3); the date form is not worth honouring here. */
function retryAfterOf(headers: unknown): number | null {
  if (typeof headers !== 'object' || headers === null) return null;
  // A fetch Headers (gaxios 7) or, from older transports, a plain object.
  const getter = (headers as { get?: unknown }).get;
  const value: unknown =
    typeof getter === 'function'
      ? getter.call(headers, 'retry-after')
      : (headers as Record<string, unknown>)['retry-after'];
  const seconds = Number(value);
  if (typeof value !== 'string' || !Number.isFinite(seconds) || seconds < 0) return null;
  return Math.min(seconds * 1000, MAX_RETRY_AFTER_MS);
}

function backoffMs(attempt: number, retryAfterMs: number | null, random: () => number) {
  const exponential = Math.min(FIRST_BACKOFF_MS * 2 ** (attempt - 1), MAX_BACKOFF_MS);
  const jittered = exponential + Math.floor(random() * FIRST_BACKOFF_MS);
  return Math.max(jittered, retryAfterMs ?? 0);
}
