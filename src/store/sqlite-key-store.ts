/**
 * API keys in the shared SQLite file, as the `keys` part with its own
 * migrations.
 */
import { migrate, openSqlite } from './sqlite-database.js';
import type { SqliteDatabase } from './sqlite-database.js';
import type { Statement } from 'better-sqlite3';

import type { ApiKey, KeyStore, StoredApiKey } from './key-store.js';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     prefix TEXT NOT NULL,
     hash TEXT NOT NULL UNIQUE,
     created_at INTEGER NOT NULL,
     last_used_at INTEGER,
     revoked_at INTEGER
   );
   CREATE INDEX api_keys_prefix ON api_keys (prefix);
   CREATE TABLE api_key_usage (
     key_id TEXT NOT NULL REFERENCES api_keys (id),
     day TEXT NOT NULL,
     count INTEGER NOT NULL,
     PRIMARY KEY (key_id, day)
   );`,
];

interface KeyRow {
  id: string;
  name: string;
  prefix: string;
  hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface SqliteKeyStoreOptions {
  /** File path, or ":memory:". */
  path?: string;
  /** An open database shared with other parts of the store. */
  db?: SqliteDatabase;
}

export class SqliteKeyStore implements KeyStore {
  readonly db: SqliteDatabase;
  private readonly ownsDb: boolean;
  /** Prepared once: every authenticated request runs these. */
  private readonly findByPrefix: Statement;
  private readonly touch: Statement;

  constructor(options: SqliteKeyStoreOptions) {
    if (!options.db && !options.path) throw new Error('SqliteKeyStore needs a path or a db');
    this.db = options.db ?? openSqlite(options.path!);
    this.ownsDb = !options.db;
    migrate(this.db, 'keys', MIGRATIONS);
    this.findByPrefix = this.db.prepare(
      'SELECT * FROM api_keys WHERE prefix = ? AND revoked_at IS NULL',
    );
    this.touch = this.db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?');
  }

  async createKey(key: Omit<StoredApiKey, 'lastUsedAt' | 'revokedAt'>): Promise<ApiKey> {
    this.db
      .prepare(
        `INSERT INTO api_keys (id, name, prefix, hash, created_at)
         VALUES (@id, @name, @prefix, @hash, @createdAt)`,
      )
      .run(key);
    return { ...withoutHash(key), lastUsedAt: null, revokedAt: null };
  }

  async findActiveByPrefix(prefix: string): Promise<StoredApiKey[]> {
    const rows = this.findByPrefix.all(prefix) as KeyRow[];
    return rows.map((row) => ({ ...toApiKey(row), hash: row.hash }));
  }

  async listKeys(): Promise<ApiKey[]> {
    const rows = this.db
      .prepare('SELECT * FROM api_keys ORDER BY created_at, id')
      .all() as KeyRow[];
    return rows.map(toApiKey);
  }

  async revokeKey(id: string, now: number): Promise<ApiKey | null> {
    this.db
      .prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
      .run(now, id);
    const row = this.db.prepare('SELECT * FROM api_keys WHERE id = ?').get(id) as
      KeyRow | undefined;
    return row ? toApiKey(row) : null;
  }

  async markUsed(id: string, now: number): Promise<void> {
    this.touch.run(now, id);
  }

  async getUsage(id: string, day: string): Promise<number> {
    const row = this.db
      .prepare('SELECT count FROM api_key_usage WHERE key_id = ? AND day = ?')
      .get(id, day) as { count: number } | undefined;
    return row?.count ?? 0;
  }

  async addUsage(id: string, day: string, count: number): Promise<number> {
    const row = this.db
      .prepare(
        `INSERT INTO api_key_usage (key_id, day, count) VALUES (?, ?, ?)
         ON CONFLICT (key_id, day) DO UPDATE SET count = count + excluded.count
         RETURNING count`,
      )
      .get(id, day, count) as { count: number };
    return row.count;
  }

  /** Closes the database if this store opened it. */
  async close(): Promise<void> {
    if (this.ownsDb && this.db.open) this.db.close();
  }
}

function toApiKey(row: KeyRow): ApiKey {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

function withoutHash(key: Omit<StoredApiKey, 'lastUsedAt' | 'revokedAt'>) {
  return { id: key.id, name: key.name, prefix: key.prefix, createdAt: key.createdAt };
}
