/**
 * The embedded store: one SQLite file (WAL mode), schema migrated on open.
 * better-sqlite3 is synchronous; the interface stays asynchronous so that a
 * server database can stand behind it without changing a caller.
 */
import type { Statement } from 'better-sqlite3';

import { migrate, openSqlite } from './sqlite-database.js';
import type { SqliteDatabase } from './sqlite-database.js';

import type { VerificationResult } from '../verify/types.js';
import type {
  DomainFact,
  DomainFactKind,
  ExpiredResult,
  Lifetimes,
  ResultStore,
  StoredResult,
} from './store.js';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE results (
     address TEXT PRIMARY KEY,
     verdict TEXT NOT NULL,
     body TEXT NOT NULL,
     stored_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE TABLE domain_facts (
     domain TEXT NOT NULL,
     kind TEXT NOT NULL,
     value INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     PRIMARY KEY (domain, kind)
   );`,
  'CREATE INDEX results_by_expiry ON results (expires_at);',
];

export interface SqliteStoreOptions {
  /** File path, or ":memory:". Parent folders are created. */
  path?: string;
  /** An open database shared with other parts of the store. */
  db?: SqliteDatabase;
  lifetimes: Lifetimes;
}

export class SqliteStore implements ResultStore {
  readonly db: SqliteDatabase;
  private readonly lifetimes: Lifetimes;
  /** Prepared once: preparing costs more than most of these queries. */
  private readonly statements = new Map<string, Statement>();
  private readonly ownsDb: boolean;

  constructor(options: SqliteStoreOptions) {
    if (!options.db && !options.path) throw new Error('SqliteStore needs a path or a db');
    this.db = options.db ?? openSqlite(options.path!);
    this.ownsDb = !options.db;
    this.lifetimes = options.lifetimes;
    migrate(this.db, 'results', MIGRATIONS);
  }

  async getResult(normalized: string): Promise<StoredResult | null> {
    const row = this.statement(
      'SELECT body, stored_at, expires_at FROM results WHERE address = ?',
    ).get(normalized) as { body: string; stored_at: number; expires_at: number } | undefined;
    if (!row) return null;

    return {
      result: JSON.parse(row.body) as VerificationResult,
      storedAt: row.stored_at,
      expiresAt: row.expires_at,
    };
  }

  async putResult(normalized: string, result: VerificationResult, now: number): Promise<boolean> {
    const expiresAt = now + this.lifetimes[result.verdict] * 1000;
    const keepDefinite =
      result.verdict === 'unknown' ? "AND (verdict = 'unknown' OR expires_at <= @now)" : '';

    const upsert = this.statement(
      `INSERT INTO results (address, verdict, body, stored_at, expires_at)
       VALUES (@address, @verdict, @body, @now, @expiresAt)
       ON CONFLICT (address) DO UPDATE SET
         verdict = excluded.verdict, body = excluded.body,
         stored_at = excluded.stored_at, expires_at = excluded.expires_at
       WHERE 1 ${keepDefinite}`,
    );
    const change = upsert.run({
      address: normalized,
      verdict: result.verdict,
      body: JSON.stringify(result),
      now,
      expiresAt,
    });
    return change.changes > 0;
  }

  async listExpired(now: number, limit: number): Promise<ExpiredResult[]> {
    const rows = this.statement(
      `SELECT address, body, stored_at, expires_at FROM results
         WHERE expires_at <= ? ORDER BY expires_at, address LIMIT ?`,
    ).all(now, Math.max(0, Math.floor(limit))) as {
      address: string;
      body: string;
      stored_at: number;
      expires_at: number;
    }[];

    return rows.map((row) => ({
      address: row.address,
      result: JSON.parse(row.body) as VerificationResult,
      storedAt: row.stored_at,
      expiresAt: row.expires_at,
    }));
  }

  async getDomainFact(
    domain: string,
    kind: DomainFactKind,
    now: number,
  ): Promise<DomainFact | null> {
    const row = this.statement(
      'SELECT value, expires_at FROM domain_facts WHERE domain = ? AND kind = ? AND expires_at > ?',
    ).get(domain, kind, now) as { value: number; expires_at: number } | undefined;
    return row ? { value: row.value === 1, expiresAt: row.expires_at } : null;
  }

  async putDomainFact(domain: string, kind: DomainFactKind, fact: DomainFact): Promise<void> {
    this.statement(
      `INSERT INTO domain_facts (domain, kind, value, expires_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (domain, kind) DO UPDATE SET
           value = excluded.value, expires_at = excluded.expires_at`,
    ).run(domain, kind, fact.value ? 1 : 0, fact.expiresAt);
  }

  private statement(sql: string): Statement {
    let prepared = this.statements.get(sql);
    if (!prepared) {
      prepared = this.db.prepare(sql);
      this.statements.set(sql, prepared);
    }
    return prepared;
  }

  /** Closes the database if this store opened it. */
  async close(): Promise<void> {
    if (this.ownsDb && this.db.open) this.db.close();
  }
}
