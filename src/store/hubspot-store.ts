/**
 * What the HubSpot connector keeps: one sync cursor per portal, webhook
 * event ids already handled, contacts queued by webhooks, workflow action
 * callback ids, and OAuth tokens (the refresh token only ever encrypted,
 * by the caller).
 */
export interface HubspotCursor {
  /** Contacts modified at or after this time (epoch ms) are fetched next. */
  since: number;
}

export interface StoredPortalTokens {
  portalId: string;
  /** AES-256-GCM sealed, as produced by the connector; never plain. */
  sealedRefreshToken: string;
  accessToken: string;
  /** Epoch ms. */
  expiresAt: number;
}

/** A workflow action's callback: verification started, or its result sent to HubSpot. */
export type CallbackState = 'accepted' | 'completed';

/** What completing a callback needs: where it came from and what to verify. */
export interface CallbackRequest {
  portalId: string;
  email: string;
}

/** An accepted callback whose result never reached HubSpot. */
export interface UnfinishedCallback extends CallbackRequest {
  callbackId: string;
  acceptedAt: number;
}

export interface CallbackClaim {
  /** Callbacks whose last claim is older than this are taken over. */
  claimedBefore: number;
  /** Older callbacks are past HubSpot's block expiration and are left. */
  acceptedAfter: number;
  now: number;
  limit: number;
}

export interface HubspotStore {
  getCursor(portalId: string): Promise<HubspotCursor | null>;
  saveCursor(portalId: string, cursor: HubspotCursor): Promise<void>;
  /** Records the ids; answers those seen for the first time. */
  claimEvents(eventIds: string[], now: number): Promise<Set<string>>;
  /** Forgets event ids older than `before` (HubSpot retries for a day at most). */
  pruneEvents(before: number): Promise<void>;
  queueContacts(portalId: string, contactIds: string[], now: number): Promise<void>;
  /** Up to `limit` queued contacts of the portal, oldest first. */
  listQueued(portalId: string, limit: number): Promise<string[]>;
  dequeueContacts(portalId: string, contactIds: string[]): Promise<void>;
  /** Portals with queued contacts. */
  listQueuedPortals(): Promise<string[]>;
  /**
   * Records the callback id as accepted and claimed by the caller, with
   * its request; answers its earlier state, null when new.
   */
  acceptCallback(
    callbackId: string,
    now: number,
    request: CallbackRequest,
  ): Promise<CallbackState | null>;
  /**
   * Claims, for the caller, accepted callbacks that are not completed and
   * whose last claim is stale: their process ended before completing them.
   */
  claimUnfinishedCallbacks(claim: CallbackClaim): Promise<UnfinishedCallback[]>;
  /** Marks the callback completed: its result was sent to HubSpot. */
  completeCallback(callbackId: string): Promise<void>;
  /** Forgets callback ids accepted before `before`. */
  pruneCallbacks(before: number): Promise<void>;
  saveTokens(tokens: StoredPortalTokens): Promise<void>;
  getTokens(portalId: string): Promise<StoredPortalTokens | null>;
  listPortals(): Promise<string[]>;
}
