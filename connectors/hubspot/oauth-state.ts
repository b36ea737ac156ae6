/**
 * The OAuth `state` parameter (RFC 6749 10.12): a time and its HMAC under
 * the client secret, so the callback knows the install started here, and
 * recently, without storing anything.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

import type { Clock } from '../../src/index.js';

const STATE_LIFETIME_MS = 15 * 60_000;

export function issueState(secret: string, clock: Clock): string {
  const issuedAt = String(clock.now());
  return `${issuedAt}.${macOf(issuedAt, secret)}`;
}

export function isValidState(state: string, secret: string, clock: Clock): boolean {
  const [issuedAt, mac] = state.split('.');
  if (!issuedAt || !mac || !/^\d{1,16}$/.test(issuedAt)) return false;
  const age = clock.now() - Number(issuedAt);
  if (age < 0 || age > STATE_LIFETIME_MS) return false;
  const expected = Buffer.from(macOf(issuedAt, secret));
  const given = Buffer.from(mac);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

function macOf(text: string, secret: string): string {
  return createHmac('sha256', secret).update(`oauth-state:${text}`).digest('base64url');
}
