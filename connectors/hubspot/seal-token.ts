/**
 * Refresh tokens at rest: AES-256-GCM with a random 96-bit nonce (NIST SP
 * 800-38D 8.2.2), the tag authenticating the ciphertext. Sealed text is
 * `v1.<nonce>.<ciphertext>.<tag>`, each part base64url.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const NONCE_BYTES = 12;
const KEY_BYTES = 32;

export function sealToken(token: string, hexKey: string, nonce = randomBytes(NONCE_BYTES)) {
  const cipher = createCipheriv('aes-256-gcm', keyOf(hexKey), nonce);
  const sealed = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
  const parts = [nonce, sealed, cipher.getAuthTag()].map((part) => part.toString('base64url'));
  return `v1.${parts.join('.')}`;
}

/** The token, or null when the text was altered or sealed with another key. */
export function unsealToken(sealedText: string, hexKey: string): string | null {
  const [version, nonce, sealed, tag] = sealedText.split('.');
  if (version !== 'v1' || !nonce || sealed === undefined || !tag) return null;
  try {
    const decipher = createDecipheriv(
      'aes-256-gcm',
      keyOf(hexKey),
      Buffer.from(nonce, 'base64url'),
    );
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    const plain = Buffer.concat([
      decipher.update(Buffer.from(sealed, 'base64url')),
      decipher.final(),
    ]);
    return plain.toString('utf8');
  } catch {
    return null;
  }
}

function keyOf(hexKey: string): Buffer {
  const key = Buffer.from(hexKey, 'hex');
  // Configuration validates the key; a wrong one here is a programming error.
  if (key.length !== KEY_BYTES) throw new Error('the token key must be 32 bytes (64 hex digits)');
  return key;
}
