/**
 * The HubSpot connector's part of the shared SQLite file (`hubspot`).
 */
import { migrate } from './sqlite-database.js';
import type { SqliteDatabase } from './sqlite-database.js';
import type {
  CallbackClaim,
  CallbackRequest,
  CallbackState,
  HubspotCursor,
  HubspotStore,
  StoredPortalTokens,
  UnfinishedCallback,
} from './hubspot-store.js';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE hubspot_cursors (
     portal_id TEXT PRIMARY KEY,
     since INTEGER NOT NULL
   );
   CREATE TABLE hubspot_events (
     event_id TEXT PRIMARY KEY,
     seen_at INTEGER NOT NULL
   );
   CREATE INDEX hubspot_events_seen ON hubspot_events (seen_at);
   CREATE TABLE hubspot_queue (
     portal_id TEXT NOT NULL,
     contact_id TEXT NOT NULL,
     queued_at INTEGER NOT NULL,
     PRIMARY KEY (portal_id, contact_id)
   );
   CREATE TABLE hubspot_tokens (
     portal_id TEXT PRIMARY KEY,
     sealed_refresh_token TEXT NOT NULL,
     access_token TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   );`,
  `CREATE TABLE hubspot_callbacks (
     callback_id TEXT PRIMARY KEY,
     state TEXT NOT NULL CHECK (state IN ('accepted', 'completed')),
     accepted_at INTEGER NOT NULL
   );
   CREATE INDEX hubspot_callbacks_accepted ON hubspot_callbacks (accepted_at);`,
  // Callbacks accepted before this have no request kept and are never resumed.
  `ALTER TABLE hubspot_callbacks ADD COLUMN portal_id TEXT;
   ALTER TABLE hubspot_callbacks ADD COLUMN email TEXT;
   ALTER TABLE hubspot_callbacks ADD COLUMN claimed_at INTEGER;`,
];

interface CallbackRow {
  callback_id: string;
  portal_id: string;
  email: string;
  accepted_at: number;
}

interface TokenRow {
  portal_id: string;
  sealed_refresh_token: string;
  access_token: string;
  expires_at: number;
}

export class SqliteHubspotStore implements HubspotStore {
  constructor(private readonly db: SqliteDatabase) {
    migrate(db, 'hubspot', MIGRATIONS);
  }

  async getCursor(portalId: string): Promise<HubspotCursor | null> {
    const row = this.db
      .prepare('SELECT since FROM hubspot_cursors WHERE portal_id = ?')
      .get(portalId) as { since: number } | undefined;
    return row ? { since: row.since } : null;
  }

  async saveCursor(portalId: string, cursor: HubspotCursor): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO hubspot_cursors (portal_id, since) VALUES (?, ?)
         ON CONFLICT (portal_id) DO UPDATE SET since = excluded.since`,
      )
      .run(portalId, cursor.since);
  }

  async claimEvents(eventIds: string[], now: number): Promise<Set<string>> {
    const insert = this.db.prepare(
      'INSERT INTO hubspot_events (event_id, seen_at) VALUES (?, ?) ON CONFLICT DO NOTHING',
    );
    const fresh = new Set<string>();
    this.db.transaction(() => {
      for (const id of eventIds) {
        if (insert.run(id, now).changes > 0) fresh.add(id);
      }
    })();
    return fresh;
  }

  async pruneEvents(before: number): Promise<void> {
    this.db.prepare('DELETE FROM hubspot_events WHERE seen_at < ?').run(before);
  }

  async queueContacts(portalId: string, contactIds: string[], now: number): Promise<void> {
    const insert = this.db.prepare(
      `INSERT INTO hubspot_queue (portal_id, contact_id, queued_at) VALUES (?, ?, ?)
       ON CONFLICT DO NOTHING`,
    );
    this.db.transaction(() => contactIds.forEach((id) => insert.run(portalId, id, now)))();
  }

  async listQueued(portalId: string, limit: number): Promise<string[]> {
    const rows = this.db
      .prepare(
        `SELECT contact_id FROM hubspot_queue WHERE portal_id = ?
         ORDER BY queued_at, contact_id LIMIT ?`,
      )
      .all(portalId, limit) as { contact_id: string }[];
    return rows.map((row) => row.contact_id);
  }

  async dequeueContacts(portalId: string, contactIds: string[]): Promise<void> {
    const remove = this.db.prepare(
      'DELETE FROM hubspot_queue WHERE portal_id = ? AND contact_id = ?',
    );
    this.db.transaction(() => contactIds.forEach((id) => remove.run(portalId, id)))();
  }

  async listQueuedPortals(): Promise<string[]> {
    const rows = this.db.prepare('SELECT DISTINCT portal_id FROM hubspot_queue').all() as {
      portal_id: string;
    }[];
    return rows.map((row) => row.portal_id);
  }

  async acceptCallback(
    callbackId: string,
    now: number,
    request: CallbackRequest,
  ): Promise<CallbackState | null> {
    const insert = this.db.prepare(
      `INSERT INTO hubspot_callbacks
         (callback_id, state, accepted_at, portal_id, email, claimed_at)
       VALUES (?, 'accepted', ?, ?, ?, ?)
       ON CONFLICT DO NOTHING`,
    );
    const select = this.db.prepare('SELECT state FROM hubspot_callbacks WHERE callback_id = ?');
    // One transaction, so a prune between the two statements cannot make a known id new.
    return this.db.transaction(() => {
      const { portalId, email } = request;
      if (insert.run(callbackId, now, portalId, email, now).changes > 0) return null;
      const row = select.get(callbackId) as { state: CallbackState } | undefined;
      return row?.state ?? null;
    })();
  }

  async claimUnfinishedCallbacks(claim: CallbackClaim): Promise<UnfinishedCallback[]> {
    const select = this.db.prepare(
      `SELECT callback_id, portal_id, email, accepted_at FROM hubspot_callbacks
       WHERE state = 'accepted' AND claimed_at < ? AND accepted_at > ?
         AND portal_id IS NOT NULL AND email IS NOT NULL
       ORDER BY accepted_at
       LIMIT ?`,
    );
    const update = this.db.prepare(
      'UPDATE hubspot_callbacks SET claimed_at = ? WHERE callback_id = ?',
    );
    // Read and claim under the write lock: two processes never take the same one.
    const take = this.db.transaction(() => {
      const rows = select.all(claim.claimedBefore, claim.acceptedAfter, claim.limit);
      return (rows as CallbackRow[]).map((row) => {
        update.run(claim.now, row.callback_id);
        return {
          callbackId: row.callback_id,
          portalId: row.portal_id,
          email: row.email,
          acceptedAt: row.accepted_at,
        };
      });
    });
    return take.immediate();
  }

  async completeCallback(callbackId: string): Promise<void> {
    this.db
      .prepare(`UPDATE hubspot_callbacks SET state = 'completed' WHERE callback_id = ?`)
      .run(callbackId);
  }

  async pruneCallbacks(before: number): Promise<void> {
    this.db.prepare('DELETE FROM hubspot_callbacks WHERE accepted_at < ?').run(before);
  }

  async saveTokens(tokens: StoredPortalTokens): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO hubspot_tokens (portal_id, sealed_refresh_token, access_token, expires_at)
         VALUES (@portalId, @sealedRefreshToken, @accessToken, @expiresAt)
         ON CONFLICT (portal_id) DO UPDATE SET
           sealed_refresh_token = excluded.sealed_refresh_token,
           access_token = excluded.access_token,
           expires_at = excluded.expires_at`,
      )
      .run(tokens);
  }

  async getTokens(portalId: string): Promise<StoredPortalTokens | null> {
    const row = this.db
      .prepare('SELECT * FROM hubspot_tokens WHERE portal_id = ?')
      .get(portalId) as TokenRow | undefined;
    if (!row) return null;
    return {
      portalId: row.portal_id,
      sealedRefreshToken: row.sealed_refresh_token,
      accessToken: row.access_token,
      expiresAt: row.expires_at,
    };
  }

  async listPortals(): Promise<string[]> {
    const rows = this.db.prepare('SELECT portal_id FROM hubspot_tokens ORDER BY portal_id').all();
    return (rows as { portal_id: string }[]).map((row) => row.portal_id);
  }
}
