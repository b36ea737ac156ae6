/**
 * What the Google Sheets connector remembers between syncs: for each sheet,
 * the fingerprints of rows whose status it wrote (address, status and
 * checked-at text hashed together) and until when each stays current, plus
 * a summary of the last sync.
 */

export interface SheetRowFingerprint {
  fingerprint: string;
  /** Milliseconds since the epoch after which the row is verified again. */
  expiresAt: number;
}

export interface SheetSyncState {
  spreadsheetId: string;
  sheetId: number;
  title: string;
  emailHeader: string;
  /** Milliseconds since the epoch. */
  syncedAt: number;
  rows: number;
  verified: number;
  written: number;
}

export interface SheetStore {
  /** Fingerprint → expiry (ms) of every row remembered for the sheet. */
  loadFingerprints(spreadsheetId: string, sheetId: number): Promise<Map<string, number>>;
  putFingerprints(
    spreadsheetId: string,
    sheetId: number,
    rows: readonly SheetRowFingerprint[],
  ): Promise<void>;
  /** Forgets the sheet's fingerprints that are not in `keep` (rows gone or changed). */
  keepOnlyFingerprints(
    spreadsheetId: string,
    sheetId: number,
    keep: ReadonlySet<string>,
  ): Promise<void>;
  saveSyncState(state: SheetSyncState): Promise<void>;
  getSyncState(spreadsheetId: string, sheetId: number): Promise<SheetSyncState | null>;
}
