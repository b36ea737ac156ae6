/**
 * The public API of mailverify: what connectors and library users import.
 * Only re-exports; the modules behind them keep their own paths private.
 */
export type {
  Evidence,
  Flags,
  MailServer,
  Reason,
  Verdict,
  VerificationResult,
} from './verify/types.js';
export { REASONS } from './verify/types.js';
export { parseAddress } from './verify/parse-address.js';
export type { ParsedAddress, ParseOutcome } from './verify/parse-address.js';
export type { ResultStore, StoredResult } from './store/store.js';
export type { Clock } from './verify/types.js';
export type { BulkVerifier } from './engine/bulk-verifier.js';
export type {
  CallbackRequest,
  HubspotCursor,
  HubspotStore,
  StoredPortalTokens,
  UnfinishedCallback,
} from './store/hubspot-store.js';
export type { SheetRowFingerprint, SheetStore, SheetSyncState } from './store/sheet-store.js';
