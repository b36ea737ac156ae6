/**
 * One limiter per HubSpot portal. It spaces calls to stay under the limit
 * the portal announces in its `X-HubSpot-RateLimit-*` headers, holds the
 * search endpoint to its own per-second limit, retries 429 after the
 * advised wait and 5xx with backoff, and stops at an exhausted daily limit.
 * https://developers.hubspot.com/docs/api/usage-details
 *
 * The SDK's own retry and limiter are process-wide and ignore the headers,
 * so clients are built with them off (create-hubspot-client.ts).
 */
import type { Clock } from '../../src/index.js';

export type CallKind = 'standard' | 'search';

/** Why a call gave up: the sync ends cleanly and resumes next time. */
export type StopReason = 'daily_limit' | 'rate_limited' | 'server_error' | 'refused';

export class HubspotStopError extends Error {
  readonly code = 'HUBSPOT_STOPPED';

  constructor(
    readonly reason: StopReason,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HubspotStopError';
  }
}

export interface LimiterOptions {
  clock: Clock;
  /** Search is limited per account to 5 requests a second; we keep under. */
  searchPerSecond?: number;
  /** Calls kept in reserve of the announced window, for other integrations. */
  reserve?: number;
  maxAttempts?: number;
}

export interface PortalRateLimiter {
  call<T>(kind: CallKind, send: () => Promise<HttpAnswer<T>>): Promise<T>;
  /** Calls sent, retries included: the quota this portal spent. */
  callsSent(): number;
}

/** What the SDK's `...WithHttpInfo` methods resolve with. */
export interface HttpAnswer<T> {
  httpStatusCode: number;
  headers: Record<string, string>;
  data: T;
}

const DEFAULT_SEARCH_PER_SECOND = 4;
const DEFAULT_RESERVE = 1;
const DEFAULT_MAX_ATTEMPTS = 5;
const BACKOFF_BASE_MS = 500;
/** When a 429 names no wait, the ten-second rolling window is the safe guess. */
const DEFAULT_429_WAIT_MS = 10_000;
/** Search's own limit is per second ("You have reached your secondly limit."). */
const SEARCH_429_WAIT_MS = 1_000;
const LONGEST_WAIT_MS = 60_000;

interface Window {
  remaining: number | null;
  /** When the announced window ends and `remaining` refills. */
  resetsAt: number;
}

export function createPortalRateLimiter(options: LimiterOptions): PortalRateLimiter {
  const { clock } = options;
  const searchGapMs = 1000 / (options.searchPerSecond ?? DEFAULT_SEARCH_PER_SECOND);
  const reserve = options.reserve ?? DEFAULT_RESERVE;
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const window: Window = { remaining: null, resetsAt: 0 };
  let nextSearchAt = 0;
  let sent = 0;

  const waitForRoom = async (kind: CallKind) => {
    const now = clock.now();
    if (window.remaining !== null && window.remaining <= reserve && now < window.resetsAt) {
      await clock.sleep(window.resetsAt - now);
      window.remaining = null;
    }
    if (kind === 'search') {
      const at = Math.max(clock.now(), nextSearchAt);
      nextSearchAt = at + searchGapMs;
      if (at > clock.now()) await clock.sleep(at - clock.now());
    }
  };

  const noteHeaders = (headers: Record<string, string>) => {
    const remaining = numberHeader(headers, 'x-hubspot-ratelimit-remaining');
    const interval = numberHeader(headers, 'x-hubspot-ratelimit-interval-milliseconds');
    if (remaining === null) return;
    window.remaining = remaining;
    window.resetsAt = clock.now() + (interval ?? 10_000);
  };

  return {
    callsSent: () => sent,

    async call(kind, send) {
      for (let attempt = 1; ; attempt += 1) {
        await waitForRoom(kind);
        sent += 1;
        const outcome = await send().then(
          (answer) => ({ answer, failure: null }),
          (error: unknown) => ({ answer: null, failure: failureOf(error) }),
        );
        if (outcome.answer) {
          noteHeaders(normalize(outcome.answer.headers));
          return outcome.answer.data;
        }

        const failure = outcome.failure!;
        noteHeaders(failure.headers);
        const waitMs = retryWait(failure, kind, attempt, maxAttempts);
        if (waitMs === null) throw stopErrorOf(failure);
        await clock.sleep(waitMs);
        // The advised wait is the better-informed one: it replaces the window.
        window.remaining = null;
      }
    },
  };
}

interface Failure {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  message: string;
}

function failureOf(error: unknown): Failure {
  const fields = error as { code?: unknown; headers?: unknown; body?: unknown; message?: string };
  const status = typeof fields.code === 'number' ? fields.code : 0;
  const headers = normalize((fields.headers ?? {}) as Record<string, string>);
  return { status, headers, body: fields.body, message: fields.message ?? String(error) };
}

/** Milliseconds to wait before the next attempt, or null to give up. */
function retryWait(
  failure: Failure,
  kind: CallKind,
  attempt: number,
  maxAttempts: number,
): number | null {
  if (attempt >= maxAttempts) return null;
  if (failure.status === 429) {
    if (isDailyLimit(failure)) return null;
    const seconds = numberHeader(failure.headers, 'retry-after');
    if (seconds !== null) return Math.min(seconds * 1000, LONGEST_WAIT_MS);
    const interval = numberHeader(failure.headers, 'x-hubspot-ratelimit-interval-milliseconds');
    const fallback = kind === 'search' ? SEARCH_429_WAIT_MS : DEFAULT_429_WAIT_MS;
    return Math.min(interval ?? fallback, LONGEST_WAIT_MS);
  }
  // Status 0: the connection failed before any answer; as transient as a 5xx.
  if (failure.status >= 500 || failure.status === 0) {
    return Math.min(BACKOFF_BASE_MS * 2 ** (attempt - 1), LONGEST_WAIT_MS);
  }
  return null;
}

/**
 * A 429 whose body names the DAILY policy, or whose headers say the day's
 * calls are spent (https://developers.hubspot.com/docs/api/usage-details).
 */
function isDailyLimit(failure: Failure): boolean {
  const policy = parsedBody(failure.body)?.policyName;
  if (policy === 'DAILY') return true;
  return numberHeader(failure.headers, 'x-hubspot-ratelimit-daily-remaining') === 0;
}

function stopErrorOf(failure: Failure): HubspotStopError {
  const reason: StopReason =
    failure.status === 429
      ? isDailyLimit(failure)
        ? 'daily_limit'
        : 'rate_limited'
      : failure.status >= 500 || failure.status === 0
        ? 'server_error'
        : 'refused';
  const firstLine = failure.message.split('\n')[0] ?? '';
  return new HubspotStopError(reason, failure.status, `HubSpot ${failure.status}: ${firstLine}`);
}

function parsedBody(body: unknown): { policyName?: unknown } | null {
  if (typeof body === 'object' && body !== null) return body as { policyName?: unknown };
  if (typeof body !== 'string') return null;
  try {
    return JSON.parse(body) as { policyName?: unknown };
  } catch {
    return null;
  }
}

function normalize(headers: Record<string, string>): Record<string, string> {
  const lower: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) lower[name.toLowerCase()] = value;
  return lower;
}

function numberHeader(headers: Record<string, string>, name: string): number | null {
  const value = headers[name];
  if (value === undefined || value.trim() === '') return null;
  const number = Number(value);
  return Number.isFinite(number) && number >= 0 ? number : null;
}
