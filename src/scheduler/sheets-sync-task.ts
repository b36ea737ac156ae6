/**
 * The `sheets-sync` task: the same sync as `mailverify sheets sync`, on a
 * schedule. Options: `spreadsheet` (required), `sheet`, `column`. Each run
 * opens a verifier of its own and closes it at the end; answers still
 * fresh in the cache are reused, so an unchanged sheet costs one read.
 */
import { z } from 'zod';

import { syncSpreadsheet } from '../../connectors/google-sheets/index.js';
import type { AddressVerifier, SyncDeps } from '../../connectors/google-sheets/index.js';
import type { SheetStore, Verdict } from '../index.js';
import { parseTaskOptions } from './parse-task-options.js';
import type { ScheduledTaskFn } from './scheduler.js';

export interface OpenedSheetsVerifier {
  verifier: AddressVerifier;
  close(): Promise<void>;
}

export interface SheetsSyncTaskDeps {
  /** The Sheets client and caller, or why there is none (no credentials). */
  connect: () =>
    | { ok: true; connection: Pick<SyncDeps, 'sheets' | 'call'> }
    | {
        ok: false;
        problem: string;
      };
  openVerifier: () => OpenedSheetsVerifier;
  store: SheetStore;
  lifetimes: Readonly<Record<Verdict, number>>;
  now: () => number;
}

const optionsSchema = z
  .object({
    spreadsheet: z.string().min(1),
    sheet: z.string().min(1).optional(),
    column: z.string().min(1).optional(),
  })
  .strict();

export function createSheetsSyncTask(deps: SheetsSyncTaskDeps): ScheduledTaskFn {
  return async (rawOptions, { signal, logger }) => {
    const parsed = parseTaskOptions(optionsSchema, rawOptions);
    if (!parsed.ok) return parsed.outcome;
    const connected = deps.connect();
    if (!connected.ok) return { outcome: 'failed', summary: {}, error: connected.problem };

    const opened = deps.openVerifier();
    try {
      const outcome = await syncSpreadsheet(
        {
          spreadsheetId: parsed.options.spreadsheet,
          sheet: parsed.options.sheet,
          column: parsed.options.column,
        },
        {
          ...connected.connection,
          verifier: opened.verifier,
          store: deps.store,
          lifetimes: deps.lifetimes,
          now: deps.now,
          logger,
          signal,
        },
      );
      if (!outcome.ok) return { outcome: 'failed', summary: {}, error: outcome.problem };

      const total = (key: 'rows' | 'verified' | 'written' | 'deferred' | 'failed') =>
        outcome.sheets.reduce((sum, sheet) => sum + sheet[key], 0);
      const summary = {
        sheets: outcome.sheets.length,
        rows: total('rows'),
        verified: total('verified'),
        written: total('written'),
        deferred: total('deferred'),
        failed: total('failed'),
      };
      return { outcome: 'succeeded', summary, error: null };
    } catch (error) {
      return { outcome: 'failed', summary: {}, error: (error as Error).message };
    } finally {
      await opened.close();
    }
  };
}
