/**
 * Opening the embedded SQLite file and migrating its schema. Each part of
 * the store (results, jobs, keys...) keeps its own numbered migrations, so
 * the parts can share one file without knowing about each other.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;

/** Opens (creating folders as needed) a database file, or ":memory:". */
export function openSqlite(path: string): SqliteDatabase {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });

  const db = new Database(path);
  // WAL lets readers go on while one writer commits; the busy timeout
  // covers several processes (CLI and service) sharing one file.
  db.pragma('journal_mode = WAL');
  // In WAL mode NORMAL loses no committed data when the process crashes,
  // only on power loss, and spares an fsync per commit.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  return db;
}

/** Applies the part's migrations that this database has not seen yet. */
export function migrate(db: SqliteDatabase, part: string, migrations: readonly string[]): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_versions (part TEXT PRIMARY KEY, version INTEGER NOT NULL)',
  );
  const row = db.prepare('SELECT version FROM schema_versions WHERE part = ?').get(part) as
    { version: number } | undefined;
  const pending = migrations.slice(row?.version ?? 0);
  if (pending.length === 0) return;

  db.transaction(() => {
    pending.forEach((sql) => db.exec(sql));
    db.prepare(
      `INSERT INTO schema_versions (part, version) VALUES (?, ?)
       ON CONFLICT (part) DO UPDATE SET version = excluded.version`,
    ).run(part, migrations.length);
  })();
}
