/**
 * Issuing and checking API keys. A key is `mv_live_` and 64 hex digits
 * (32 random bytes); the store keeps its SHA-256 and a visible prefix.
 * A presented key is found by its prefix, which is not secret, and its
 * hash is then compared in constant time, so the time an answer takes
 * says nothing about how much of a guess was right.
 */
import { createHash, randomBytes as systemRandomBytes, timingSafeEqual } from 'node:crypto';

import type { ApiKey, KeyStore } from '../store/key-store.js';

const KEY_PATTERN = /^mv_live_[0-9a-f]{64}$/;
const SECRET_BYTES = 32;
/** `mv_live_` and 8 hex digits: enough to tell keys apart in a listing. */
const PREFIX_LENGTH = 16;
const ID_BYTES = 6;
/** Names show up in listings and logs; a sentence is plenty. */
export const MAX_KEY_NAME_LENGTH = 100;

export type RandomBytes = (size: number) => Buffer;

export interface IssuedKey {
  /** The key itself: shown once, never stored. */
  key: string;
  record: ApiKey;
}

export async function issueApiKey(
  keys: KeyStore,
  name: string,
  now: number,
  randomBytes: RandomBytes = systemRandomBytes,
): Promise<IssuedKey> {
  const key = `mv_live_${randomBytes(SECRET_BYTES).toString('hex')}`;
  const record = await keys.createKey({
    id: `key_${randomBytes(ID_BYTES).toString('hex')}`,
    name,
    prefix: key.slice(0, PREFIX_LENGTH),
    hash: hashApiKey(key),
    createdAt: now,
  });
  return { key, record };
}

/** The active key that `presented` is, or null. */
export async function authenticateApiKey(
  keys: KeyStore,
  presented: string,
): Promise<ApiKey | null> {
  if (!KEY_PATTERN.test(presented)) return null;

  const presentedHash = Buffer.from(hashApiKey(presented), 'hex');
  const candidates = await keys.findActiveByPrefix(presented.slice(0, PREFIX_LENGTH));
  for (const candidate of candidates) {
    const storedHash = Buffer.from(candidate.hash, 'hex');
    const isSame =
      storedHash.length === presentedHash.length && timingSafeEqual(storedHash, presentedHash);
    if (isSame) {
      const { hash: _hash, ...key } = candidate;
      return key;
    }
  }
  return null;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}
