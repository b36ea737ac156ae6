/**
 * HubSpot request signatures, checked on the raw body.
 * https://developers.hubspot.com/docs/api/webhooks/validating-requests
 *
 * v3 (`X-HubSpot-Signature-v3`): base64 HMAC-SHA256, keyed with the app's
 * client secret, of method + URI + body + `X-HubSpot-Request-Timestamp`;
 * requests older than five minutes are refused. v1 and v2 (`X-HubSpot-
 * Signature` with `X-HubSpot-Signature-Version`) are hex SHA-256 of the
 * secret + body (v1) or secret + method + URI + body (v2); they carry no
 * timestamp, so they are accepted only when no v3 header was sent.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const MAX_SIGNATURE_AGE_MS = 5 * 60_000;

export type SignatureCheck = 'valid' | 'missing' | 'stale' | 'mismatch';

export interface SignedRequest {
  method: string;
  /** The full URL HubSpot called, scheme and host included. */
  uri: string;
  rawBody: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Characters the v3 algorithm compares decoded; HubSpot's table lists
 * exactly these.
 */
const DECODED_IN_URI: Record<string, string> = {
  '%3A': ':',
  '%2F': '/',
  '%3F': '?',
  '%40': '@',
  '%21': '!',
  '%24': '$',
  '%27': "'",
  '%28': '(',
  '%29': ')',
  '%2A': '*',
  '%2C': ',',
  '%3B': ';',
};

export function checkSignature(request: SignedRequest, secret: string, now: number) {
  const v3 = headerOf(request, 'x-hubspot-signature-v3');
  if (v3 !== null) return checkV3(request, v3, secret, now);

  const legacy = headerOf(request, 'x-hubspot-signature');
  const version = headerOf(request, 'x-hubspot-signature-version');
  if (legacy === null || (version !== 'v1' && version !== 'v2')) return 'missing';
  const source =
    version === 'v1'
      ? Buffer.concat([Buffer.from(secret), request.rawBody])
      : Buffer.concat([Buffer.from(secret + request.method + request.uri), request.rawBody]);
  const expected = createHash('sha256').update(source).digest('hex');
  return isSameText(expected, legacy.toLowerCase()) ? 'valid' : 'mismatch';
}

function checkV3(request: SignedRequest, signature: string, secret: string, now: number) {
  const timestamp = headerOf(request, 'x-hubspot-request-timestamp');
  if (timestamp === null || !/^\d{1,16}$/.test(timestamp)) return 'missing';
  // A timestamp from the future by more than the window is as suspect.
  if (Math.abs(now - Number(timestamp)) > MAX_SIGNATURE_AGE_MS) return 'stale';

  const expected = signV3(request.method, request.uri, request.rawBody, timestamp, secret);
  return isSameText(expected, signature) ? 'valid' : 'mismatch';
}

/** The v3 signature of a request; also what tests and our own callbacks use. */
export function signV3(
  method: string,
  uri: string,
  rawBody: Buffer,
  timestamp: string,
  secret: string,
): string {
  const decodedUri = uri.replace(/%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi, (code) => {
    return DECODED_IN_URI[code.toUpperCase()] ?? code;
  });
  return createHmac('sha256', secret)
    .update(method.toUpperCase() + decodedUri)
    .update(rawBody)
    .update(timestamp)
    .digest('base64');
}

/** Constant time for equal lengths; a length difference says nothing secret. */
function isSameText(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

function headerOf(request: SignedRequest, name: string): string | null {
  const value = request.headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text === undefined || text === '' ? null : text;
}
