/**
 * API keys and their daily usage, in domain terms. Only a key's SHA-256
 * hash is kept; the key itself is shown once, when it is created.
 */

export interface ApiKey {
  id: string;
  name: string;
  /** The first characters of the key, shown in listings to tell keys apart. */
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface StoredApiKey extends ApiKey {
  /** Hex SHA-256 of the whole key. */
  hash: string;
}

export interface KeyStore {
  createKey(key: Omit<StoredApiKey, 'lastUsedAt' | 'revokedAt'>): Promise<ApiKey>;

  /** Keys not revoked whose visible prefix is `prefix`, with their hashes. */
  findActiveByPrefix(prefix: string): Promise<StoredApiKey[]>;

  /** Every key, revoked ones too, oldest first. */
  listKeys(): Promise<ApiKey[]>;

  /** Revokes the key; null when there is no such key. Revoking twice keeps the first time. */
  revokeKey(id: string, now: number): Promise<ApiKey | null>;

  markUsed(id: string, now: number): Promise<void>;

  /** Addresses charged to the key on a UTC day ("2025-01-31"). */
  getUsage(id: string, day: string): Promise<number>;
  /** Adds to a key's usage of the day; answers the day's total, every process's included. */
  addUsage(id: string, day: string, count: number): Promise<number>;

  close(): Promise<void>;
}
