/**
 * Job callbacks: when a job ends, a signed POST of its summary to the URL
 * the caller gave, retried with exponential backoff. The delivery state is
 * in the store, so a restart goes on where the last process stopped.
 *
 * Signature: `X-Mailverify-Signature: sha256=<hex>`, the HMAC-SHA256 of
 * `<X-Mailverify-Timestamp>.<raw body>` under the callback secret. The
 * timestamp (Unix seconds) is inside the signed string so that a receiver
 * can refuse old deliveries and a replayed one cannot be re-dated.
 *
 * The URL is the caller's, so it is a server-side request forgery risk:
 * only http and https, no credentials, and every address the host name
 * resolves to must pass the same guard as mail servers (private, loopback,
 * link-local and reserved ranges refused unless allowPrivateMx). The check
 * sits in the socket's own lookup, so the address connected to is the one
 * checked: a name that resolves differently the second time (DNS
 * rebinding) gains nothing. Redirects are not followed.
 */
import { createHmac } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { LookupFunction } from 'node:net';
import pino from 'pino';
import type { Logger } from 'pino';

import type { DueCallback, JobStore, JobSummary } from '../store/job-store.js';
import { isAllowedMailServerAddress } from '../verify/mail-server-guard.js';
import type { Clock } from '../verify/types.js';

/** 30 s, then three times longer each time: six tries over about an hour. */
export const CALLBACK_RETRY_DELAYS_MS: readonly number[] = [
  30_000, 90_000, 270_000, 810_000, 2_430_000,
];

const POST_TIMEOUT_MS = 10_000;
const MAX_URL_LENGTH = 2_048;
/** Receivers answer with a status; anything longer than this is not read. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** One process posts a callback at a time; others wait this long before retrying it. */
const CLAIM_LEASE_MS = 2 * POST_TIMEOUT_MS;
/** Callbacks handled per deliverDue() call, so one call is bounded. */
const MAX_DELIVERIES_PER_CALL = 50;

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Every address of a host name; rejects like dns.lookup. */
export type LookupHost = (hostname: string) => Promise<ResolvedAddress[]>;

export interface CallbackRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

export type PostOutcome =
  | { kind: 'answered'; status: number }
  /** The guard refused the target: trying again will not help. */
  | { kind: 'refused'; reason: string }
  | { kind: 'failed'; error: string };

export type PostCallback = (request: CallbackRequest) => Promise<PostOutcome>;

export interface GuardOptions {
  allowPrivate: boolean;
  lookupHost?: LookupHost;
}

export interface CallbackDelivererDeps {
  jobs: JobStore;
  /** The HMAC key; callbacks due while it is empty fail. */
  secret: string;
  clock: Clock;
  allowPrivate: boolean;
  logger?: Logger;
  post?: PostCallback;
  retryDelaysMs?: readonly number[];
}

export interface CallbackDeliverer {
  /** Posts every callback that is due (up to a bound); how many were tried. */
  deliverDue(): Promise<number>;
}

export function signCallback(secret: string, timestamp: number, body: string): string {
  const digest = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `sha256=${digest}`;
}

/** What a receiver gets: the job as the API shows it, without delivery state. */
export function callbackBody(job: JobSummary): string {
  const { callback: _callback, apiKeyId: _apiKeyId, ...summary } = job;
  return JSON.stringify({ job: summary });
}

export function createCallbackDeliverer(deps: CallbackDelivererDeps): CallbackDeliverer {
  const logger = deps.logger ?? pino({ level: 'silent' });
  const post = deps.post ?? createGuardedPoster({ allowPrivate: deps.allowPrivate });
  const delays = deps.retryDelaysMs ?? CALLBACK_RETRY_DELAYS_MS;

  const deliver = async (due: DueCallback) => {
    const now = deps.clock.now();
    if (deps.secret === '') {
      const error = 'MAILVERIFY_CALLBACK_SECRET is not set: callbacks cannot be signed';
      await deps.jobs.recordCallbackAttempt(
        due.job.id,
        { outcome: 'failed', status: null, error, nextAttemptAt: null },
        now,
      );
      logger.error({ jobId: due.job.id }, 'callback not sent: no callback secret');
      return;
    }

    const body = callbackBody(due.job);
    const timestamp = Math.floor(now / 1000);
    const outcome = await post({
      url: due.url,
      body,
      timeoutMs: POST_TIMEOUT_MS,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'mailverify-callback',
        'x-mailverify-job': due.job.id,
        'x-mailverify-attempt': String(due.attempts + 1),
        'x-mailverify-timestamp': String(timestamp),
        'x-mailverify-signature': signCallback(deps.secret, timestamp, body),
      },
    });

    const attempt = judgeAttempt(outcome, due.attempts, delays, deps.clock.now());
    await deps.jobs.recordCallbackAttempt(due.job.id, attempt, deps.clock.now());
    const fields = { jobId: due.job.id, attempt: due.attempts + 1, ...attempt };
    if (attempt.outcome === 'delivered') logger.info(fields, 'callback delivered');
    else logger.warn(fields, 'callback not delivered');
  };

  return {
    async deliverDue() {
      let tried = 0;
      while (tried < MAX_DELIVERIES_PER_CALL) {
        const due = await deps.jobs.claimDueCallback(deps.clock.now(), CLAIM_LEASE_MS);
        if (!due) break;
        tried += 1;
        await deliver(due);
      }
      return tried;
    },
  };
}

function judgeAttempt(
  outcome: PostOutcome,
  attemptsBefore: number,
  delays: readonly number[],
  now: number,
) {
  if (outcome.kind === 'answered' && outcome.status >= 200 && outcome.status < 300) {
    return {
      outcome: 'delivered',
      status: outcome.status,
      error: null,
      nextAttemptAt: null,
    } as const;
  }

  const status = outcome.kind === 'answered' ? outcome.status : null;
  const error =
    outcome.kind === 'answered'
      ? `the receiver answered ${outcome.status}`
      : outcome.kind === 'refused'
        ? outcome.reason
        : outcome.error;
  const delay = delays[attemptsBefore];
  if (outcome.kind === 'refused' || delay === undefined) {
    return { outcome: 'failed', status, error, nextAttemptAt: null } as const;
  }
  return { outcome: 'retry', status, error, nextAttemptAt: now + delay } as const;
}

/**
 * Why a callback URL cannot be used, or null when it can. Resolves the
 * host now, so that a caller hears at once about a URL that would only
 * ever be refused; delivery checks again.
 */
export async function checkCallbackUrl(raw: string, guard: GuardOptions): Promise<string | null> {
  if (raw.length > MAX_URL_LENGTH) return `must be at most ${MAX_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute http or https URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http or https';
  if (url.username !== '' || url.password !== '') return 'must not carry a user name or password';

  const addresses = await resolveAllowed(hostOf(url), guard);
  return addresses.ok ? null : addresses.problem;
}

/** Posts with node:http(s), connecting only to addresses the guard allows. */
export function createGuardedPoster(guard: GuardOptions): PostCallback {
  return async (request) => {
    const url = new URL(request.url);
    const host = hostOf(url);
    if (
      net.isIP(host) !== 0 &&
      !isAllowedMailServerAddress(host, { allowPrivate: guard.allowPrivate })
    ) {
      return { kind: 'refused', reason: `${host} is a private or reserved address` };
    }

    let refusal: string | null = null;
    const lookup: LookupFunction = (hostname, options, callback) => {
      resolveAllowed(hostname, guard).then(
        (resolved) => {
          if (!resolved.ok) {
            refusal = resolved.problem;
            callback(Object.assign(new Error(resolved.problem), { code: 'EREFUSED' }), '', 0);
          } else if (options.all) {
            callback(null, resolved.addresses);
          } else {
            const [first] = resolved.addresses;
            callback(null, first!.address, first!.family);
          }
        },
        (error: NodeJS.ErrnoException) => callback(error, '', 0),
      );
    };

    const outcome = await send(url, request, lookup);
    return refusal !== null ? { kind: 'refused', reason: refusal } : outcome;
  };
}

function send(url: URL, request: CallbackRequest, lookup: LookupFunction): Promise<PostOutcome> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const outgoing = client.request(
      url,
      {
        method: 'POST',
        headers: { ...request.headers, 'content-length': Buffer.byteLength(request.body) },
        lookup,
        signal: AbortSignal.timeout(request.timeoutMs),
      },
      (response) => {
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > MAX_RESPONSE_BYTES) response.destroy();
        });
        response.on('error', () => undefined);
        resolve({ kind: 'answered', status: response.statusCode ?? 0 });
      },
    );
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      resolve({ kind: 'failed', error: error.code ?? error.message });
    });
    outgoing.end(request.body);
  });
}

type Resolution = { ok: true; addresses: ResolvedAddress[] } | { ok: false; problem: string };

async function resolveAllowed(host: string, guard: GuardOptions): Promise<Resolution> {
  const options = { allowPrivate: guard.allowPrivate };
  let addresses: ResolvedAddress[];
  if (net.isIP(host) !== 0) {
    addresses = [{ address: host, family: net.isIP(host) }];
  } else {
    try {
      addresses = await (guard.lookupHost ?? lookupAll)(host);
    } catch (error) {
      return {
        ok: false,
        problem: `${host} does not resolve (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      };
    }
  }

  const allowed = addresses.filter((entry) => isAllowedMailServerAddress(entry.address, options));
  if (allowed.length === 0) {
    return { ok: false, problem: `${host} points at a private, loopback or reserved address` };
  }
  return { ok: true, addresses: allowed };
}

function lookupAll(hostname: string): Promise<ResolvedAddress[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true }, (error, addresses) => {
      if (error) reject(error);
      else resolve(addresses);
    });
  });
}

/** URL keeps the brackets around an IPv6 literal; sockets and the guard do not want them. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}
