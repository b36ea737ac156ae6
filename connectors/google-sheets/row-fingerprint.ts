/**
 * A row's fingerprint: its address and the text of our three cells hashed
 * together. The same row content gives the same fingerprint wherever the
 * row moves (sort, insert, delete); an edited address or status does not.
 */
import { createHash } from 'node:crypto';

import type { RowCells } from './write-results.js';

export function rowFingerprint(email: string, cells: RowCells): string {
  const parts = [email, cells.status, cells.reason, cells.checkedAt].map((part) => part.trim());
  return createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 22);
}
