/**
 * The Google Sheets connector: a status, a reason and a checked-at time
 * beside every address of a sheet, in columns it adds and anchors, kept
 * current by repeated syncs that touch no cell of the user's.
 */
export { syncSpreadsheet, addressKey } from './sync-spreadsheet.js';
export { MAX_IN_FLIGHT } from './verify-addresses.js';
export type {
  AddressVerifier,
  SheetSummary,
  SyncDeps,
  SyncOutcome,
  SyncRequest,
} from './sync-spreadsheet.js';
export { createGoogleCaller, GoogleApiError, MAX_ATTEMPTS } from './call-google.js';
export type { GoogleCall, GoogleCallerDeps } from './call-google.js';
export { createRequestLimiter, REQUESTS_PER_MINUTE } from './request-limiter.js';
export type { LimiterDeps, RequestLimiter } from './request-limiter.js';
export {
  chooseCredentials,
  createSheetsClient,
  DEFAULT_ROOT_URL,
  SHEETS_SCOPE,
} from './create-sheets-client.js';
export type { GoogleAuthSettings, GoogleCredentials } from './create-sheets-client.js';
export { ANCHOR_KEY, OWN_HEADERS } from './sheet-columns.js';
