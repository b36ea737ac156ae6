/**
 * A sync of one spreadsheet: read every target sheet at once, find the
 * email column, add and anchor our columns where missing, verify the
 * addresses whose rows are not current (new, changed or past their
 * lifetime), and write results in flushes that re-check rows first.
 * Phases per sheet: choose column → prepare columns → plan rows → verify
 * and flush → remember fingerprints.
 */
import type { sheets_v4 } from '@googleapis/sheets';
import type { Logger } from 'pino';

import { parseAddress } from '../../src/index.js';
import type { SheetStore, Verdict, VerificationResult } from '../../src/index.js';
import type { GoogleCall } from './call-google.js';
import { chooseEmailColumn } from './choose-email-column.js';
import { needsChanges, planColumns, prepareColumns } from './prepare-columns.js';
import { readSpreadsheet, SheetNotFoundError } from './read-spreadsheet.js';
import type { ColumnAnchor, SheetSnapshot } from './read-spreadsheet.js';
import { rowFingerprint } from './row-fingerprint.js';
import type { AnchorRole } from './sheet-columns.js';
import { verifyAll } from './verify-addresses.js';
import { writeResults } from './write-results.js';
import type { RowCells } from './write-results.js';

/** A long sync shows its progress in the sheet at least this often. */
export const FLUSH_INTERVAL_MS = 60_000;
/** Results held before a flush regardless of time: about 1 MB of cell text. */
export const FLUSH_RESULTS = 20_000;

export interface AddressVerifier {
  verify(email: string): Promise<VerificationResult>;
}

export interface SyncRequest {
  spreadsheetId: string;
  /** One sheet by title; by default every sheet with a recognizable email column. */
  sheet?: string;
  /** Header of the email column; by default it is detected. */
  column?: string;
  /** Read and plan only: add no column, verify and write nothing. */
  isDryRun?: boolean;
}

export interface SyncDeps {
  sheets: sheets_v4.Sheets;
  call: GoogleCall;
  verifier: AddressVerifier;
  store: SheetStore;
  /** Seconds each verdict's result stays current. */
  lifetimes: Readonly<Record<Verdict, number>>;
  now: () => number;
  logger: Logger;
  signal?: AbortSignal;
  maxInFlight?: number;
}

export interface SheetSummary {
  title: string;
  emailHeader: string;
  /** Rows with an address. */
  rows: number;
  /** Rows whose status is current and left alone. */
  current: number;
  /** Distinct addresses verified (or, in a dry run, to verify). */
  verified: number;
  /** Rows whose status cells were written. */
  written: number;
  /** Verified addresses no row held at write time: left for the next sync. */
  deferred: number;
  failed: number;
  addedColumns: string[];
}

export type SyncOutcome =
  | { ok: true; sheets: SheetSummary[]; skipped: string[] }
  | { ok: false; problem: string; headers: Record<string, string[]> };

export async function syncSpreadsheet(request: SyncRequest, deps: SyncDeps): Promise<SyncOutcome> {
  let snapshots: SheetSnapshot[];
  try {
    snapshots = await readSpreadsheet(deps.sheets, deps.call, request.spreadsheetId, request.sheet);
  } catch (error) {
    if (error instanceof SheetNotFoundError)
      return { ok: false, problem: error.message, headers: {} };
    throw error;
  }
  const targets = request.sheet === undefined ? snapshots : snapshots.slice(0, 1);
  if (targets.length === 0) return { ok: false, problem: 'no sheet to sync', headers: {} };

  const summaries: SheetSummary[] = [];
  const skipped: string[] = [];
  const headers: Record<string, string[]> = {};
  const problems: string[] = [];
  for (const snapshot of targets) {
    const choice = chooseEmailColumn(snapshot, request.column);
    const isWanted = request.sheet !== undefined || (choice.ok && choice.how !== 'content');
    if (!choice.ok || !isWanted) {
      const seen = (snapshot.rows[0] ?? []).filter((cell) => cell.trim() !== '');
      headers[snapshot.title] = choice.ok ? seen : choice.headers;
      if (!choice.ok && request.sheet !== undefined) {
        return { ok: false, problem: `sheet "${snapshot.title}": ${choice.problem}`, headers };
      }
      const problem = choice.ok ? 'no email header' : choice.problem;
      problems.push(`sheet "${snapshot.title}": ${problem}`);
      skipped.push(snapshot.title);
      continue;
    }
    if (deps.signal?.aborted) break;
    summaries.push(await syncSheet(request, deps, snapshot, choice.index, choice.header));
  }

  if (summaries.length === 0 && !deps.signal?.aborted) {
    const problem =
      request.column !== undefined
        ? `no sheet has a column named "${request.column.trim()}"`
        : problems.length === 1
          ? problems[0]!
          : 'no sheet has a column of email addresses';
    return { ok: false, problem, headers };
  }
  return { ok: true, sheets: summaries, skipped };
}

interface RowPlan {
  /** Address key → the address text to verify (first row's spelling). */
  toVerify: Map<string, string>;
  /** Fingerprints of rows that are current: remembered again. */
  keep: Set<string>;
  rows: number;
  current: number;
}

async function syncSheet(
  request: SyncRequest,
  deps: SyncDeps,
  snapshot: SheetSnapshot,
  emailColumn: number,
  emailHeader: string,
): Promise<SheetSummary> {
  const { spreadsheetId } = request;
  const plan = planColumns(snapshot, emailColumn);
  const known = await deps.store.loadFingerprints(spreadsheetId, snapshot.sheetId);
  const rows = planRows(snapshot, emailColumn, known, deps.now());
  const summary: SheetSummary = {
    title: snapshot.title,
    emailHeader,
    rows: rows.rows,
    current: rows.current,
    verified: rows.toVerify.size,
    written: 0,
    deferred: 0,
    failed: 0,
    addedColumns: plan.missing,
  };
  if (request.isDryRun) return summary;

  let anchors = snapshot.anchors as Record<AnchorRole, ColumnAnchor>;
  if (needsChanges(plan)) {
    anchors = await prepareColumns(
      deps.sheets,
      deps.call,
      spreadsheetId,
      snapshot,
      emailColumn,
      plan,
    );
  }

  const keep = new Set(rows.keep);
  const pending = new Map<string, RowCells>();
  const flush = async () => {
    if (pending.size === 0) return;
    const batch = new Map(pending);
    pending.clear();
    const outcome = await writeResults(deps.sheets, deps.call, {
      spreadsheetId,
      title: snapshot.title,
      anchors,
      results: batch,
      keyOf: addressKey,
    });
    const fingerprints = outcome.written.map(({ email, cells }) => ({
      fingerprint: rowFingerprint(email, cells),
      expiresAt: expiryOf(cells, deps.lifetimes),
    }));
    await deps.store.putFingerprints(spreadsheetId, snapshot.sheetId, fingerprints);
    fingerprints.forEach(({ fingerprint }) => keep.add(fingerprint));
    summary.written += outcome.written.length;
    summary.deferred += outcome.deferred;
  };

  summary.verified = 0;
  await verifyAll(rows.toVerify, deps, {
    onResult: async (key, result) => {
      summary.verified += 1;
      pending.set(key, cellsOf(result));
    },
    onFailure: () => {
      summary.failed += 1;
    },
    shouldFlush: (sinceFlushMs) =>
      pending.size >= FLUSH_RESULTS || (pending.size > 0 && sinceFlushMs >= FLUSH_INTERVAL_MS),
    flush,
  });
  await flush();

  await deps.store.keepOnlyFingerprints(spreadsheetId, snapshot.sheetId, keep);
  await deps.store.saveSyncState({
    spreadsheetId,
    sheetId: snapshot.sheetId,
    title: snapshot.title,
    emailHeader,
    syncedAt: deps.now(),
    rows: summary.rows,
    verified: summary.verified,
    written: summary.written,
  });
  deps.logger.info({ spreadsheetId, ...summary }, 'sheet synced');
  return summary;
}

/** Rows with an address, split into current ones and addresses to verify. */
function planRows(
  snapshot: SheetSnapshot,
  emailColumn: number,
  known: ReadonlyMap<string, number>,
  now: number,
): RowPlan {
  const plan: RowPlan = { toVerify: new Map(), keep: new Set(), rows: 0, current: 0 };
  const { status, reason, checkedAt } = snapshot.anchors;
  // A missing column of ours makes every row stale: the column needs filling.
  const isComplete = status && reason && checkedAt;

  for (let index = 1; index < snapshot.rows.length; index += 1) {
    const row = snapshot.rows[index] ?? [];
    const email = row[emailColumn] ?? '';
    if (email.trim() === '') continue;
    plan.rows += 1;

    if (isComplete) {
      const cells = {
        status: row[status.column] ?? '',
        reason: row[reason.column] ?? '',
        checkedAt: row[checkedAt.column] ?? '',
      };
      const fingerprint = rowFingerprint(email, cells);
      const expiresAt = known.get(fingerprint);
      if (cells.status !== '' && expiresAt !== undefined && expiresAt > now) {
        plan.current += 1;
        plan.keep.add(fingerprint);
        continue;
      }
    }
    const key = addressKey(email);
    if (!plan.toVerify.has(key)) plan.toVerify.set(key, email.trim());
  }
  return plan;
}

/** Rows holding the same address share one verification and one result. */
export function addressKey(email: string): string {
  const parsed = parseAddress(email.trim());
  return parsed.ok ? parsed.address.normalized : email.trim();
}

function cellsOf(result: VerificationResult): RowCells {
  return { status: result.verdict, reason: result.reason, checkedAt: result.checkedAt };
}

function expiryOf(cells: RowCells, lifetimes: Readonly<Record<Verdict, number>>): number {
  const checkedAt = Date.parse(cells.checkedAt);
  const lifetime = lifetimes[cells.status as Verdict] ?? 0;
  return (Number.isFinite(checkedAt) ? checkedAt : 0) + lifetime * 1000;
}
