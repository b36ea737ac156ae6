/**
 * Google Sheets row fingerprints and sync state in the shared SQLite file,
 * as the `sheets` part with its own migrations.
 */
import type { SheetRowFingerprint, SheetStore, SheetSyncState } from './sheet-store.js';
import { migrate } from './sqlite-database.js';
import type { SqliteDatabase } from './sqlite-database.js';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE sheet_rows (
     spreadsheet_id TEXT NOT NULL,
     sheet_id INTEGER NOT NULL,
     fingerprint TEXT NOT NULL,
     expires_at INTEGER NOT NULL,
     PRIMARY KEY (spreadsheet_id, sheet_id, fingerprint)
   ) WITHOUT ROWID;
   CREATE TABLE sheet_syncs (
     spreadsheet_id TEXT NOT NULL,
     sheet_id INTEGER NOT NULL,
     title TEXT NOT NULL,
     email_header TEXT NOT NULL,
     synced_at INTEGER NOT NULL,
     rows INTEGER NOT NULL,
     verified INTEGER NOT NULL,
     written INTEGER NOT NULL,
     PRIMARY KEY (spreadsheet_id, sheet_id)
   );`,
];

interface SyncRow {
  spreadsheet_id: string;
  sheet_id: number;
  title: string;
  email_header: string;
  synced_at: number;
  rows: number;
  verified: number;
  written: number;
}

export class SqliteSheetStore implements SheetStore {
  constructor(private readonly db: SqliteDatabase) {
    migrate(db, 'sheets', MIGRATIONS);
  }

  async loadFingerprints(spreadsheetId: string, sheetId: number) {
    const rows = this.db
      .prepare(
        `SELECT fingerprint, expires_at AS expiresAt FROM sheet_rows
         WHERE spreadsheet_id = ? AND sheet_id = ?`,
      )
      .all(spreadsheetId, sheetId) as SheetRowFingerprint[];
    return new Map(rows.map((row) => [row.fingerprint, row.expiresAt]));
  }

  async putFingerprints(
    spreadsheetId: string,
    sheetId: number,
    rows: readonly SheetRowFingerprint[],
  ) {
    const insert = this.db.prepare(
      `INSERT INTO sheet_rows (spreadsheet_id, sheet_id, fingerprint, expires_at)
       VALUES (?, ?, ?, ?)
       ON CONFLICT DO UPDATE SET expires_at = excluded.expires_at`,
    );
    this.db.transaction(() => {
      for (const row of rows) insert.run(spreadsheetId, sheetId, row.fingerprint, row.expiresAt);
    })();
  }

  async keepOnlyFingerprints(spreadsheetId: string, sheetId: number, keep: ReadonlySet<string>) {
    const known = await this.loadFingerprints(spreadsheetId, sheetId);
    const remove = this.db.prepare(
      'DELETE FROM sheet_rows WHERE spreadsheet_id = ? AND sheet_id = ? AND fingerprint = ?',
    );
    this.db.transaction(() => {
      for (const fingerprint of known.keys()) {
        if (!keep.has(fingerprint)) remove.run(spreadsheetId, sheetId, fingerprint);
      }
    })();
  }

  async saveSyncState(state: SheetSyncState) {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO sheet_syncs
           (spreadsheet_id, sheet_id, title, email_header, synced_at, rows, verified, written)
         VALUES (@spreadsheetId, @sheetId, @title, @emailHeader, @syncedAt, @rows, @verified,
           @written)`,
      )
      .run(state);
  }

  async getSyncState(spreadsheetId: string, sheetId: number) {
    const row = this.db
      .prepare('SELECT * FROM sheet_syncs WHERE spreadsheet_id = ? AND sheet_id = ?')
      .get(spreadsheetId, sheetId) as SyncRow | undefined;
    if (!row) return null;
    return {
      spreadsheetId: row.spreadsheet_id,
      sheetId: row.sheet_id,
      title: row.title,
      emailHeader: row.email_header,
      syncedAt: row.synced_at,
      rows: row.rows,
      verified: row.verified,
      written: row.written,
    };
  }
}
