import nock from 'nock';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createGoogleCaller, createSheetsClient } from '../../connectors/google-sheets/index.js';
import { createSheetsSyncTask } from '../../src/scheduler/sheets-sync-task.js';
import { openSqlite } from '../../src/store/sqlite-database.js';
import { SqliteSheetStore } from '../../src/store/sqlite-sheet-store.js';
import { resultFor } from '../helpers/fake-bulk-verifier.js';
import { FAKE_ROOT, FakeSpreadsheet } from '../helpers/fake-google-sheets.js';

const logger = pino({ level: 'silent' });
const LIFETIMES = { deliverable: 86_400, undeliverable: 86_400, risky: 86_400, unknown: 3600 };

function taskOver(spreadsheet: FakeSpreadsheet) {
  const closed: boolean[] = [];
  const store = new SqliteSheetStore(openSqlite(':memory:'));
  const task = createSheetsSyncTask({
    connect: () => ({
      ok: true,
      connection: {
        sheets: createSheetsClient({ kind: 'access-token', accessToken: 't' }, FAKE_ROOT),
        call: createGoogleCaller({
          limiter: { acquire: async () => {} },
          sleep: async () => {},
          random: () => 0,
          logger,
        }),
      },
    }),
    openVerifier: () => ({
      verifier: { verify: async (email) => resultFor(email) },
      close: async () => {
        closed.push(true);
      },
    }),
    store,
    lifetimes: LIFETIMES,
    now: () => Date.parse('2025-01-02T04:00:00.000Z'),
  });
  spreadsheet.intercept();
  const context = { signal: new AbortController().signal, logger };
  return { task, context, closed, store };
}

beforeEach(() => {
  nock.disableNetConnect();
});

afterEach(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

describe('sheets-sync task', () => {
  it('syncs the spreadsheet of its options and sums up what it did', async () => {
    const spreadsheet = new FakeSpreadsheet();
    spreadsheet.addSheet('Leads', [['Email'], ['ann@acme.example'], ['nobody@acme.example']]);
    const { task, context, closed, store } = taskOver(spreadsheet);

    const outcome = await task({ spreadsheet: spreadsheet.id, sheet: 'Leads' }, context);

    expect(outcome).toEqual({
      outcome: 'succeeded',
      summary: { sheets: 1, rows: 2, verified: 2, written: 2, deferred: 0, failed: 0 },
      error: null,
    });
    expect(closed).toEqual([true]);
    expect(await store.getSyncState(spreadsheet.id, 0)).toMatchObject({ rows: 2, written: 2 });
  });

  it('fails a run with invalid options without calling Google', async () => {
    const spreadsheet = new FakeSpreadsheet();
    const { task, context } = taskOver(spreadsheet);

    const outcome = await task({ sheet: 'Leads', colour: 'red' }, context);

    expect(outcome.outcome).toBe('failed');
    expect(outcome.error).toContain('spreadsheet');
    expect(spreadsheet.calls).toEqual([]);
  });

  it('fails a run whose sheet has no email column, naming the problem', async () => {
    const spreadsheet = new FakeSpreadsheet();
    spreadsheet.addSheet('Notes', [['Text'], ['hello']]);
    const { task, context, closed } = taskOver(spreadsheet);

    const outcome = await task({ spreadsheet: spreadsheet.id }, context);

    expect(outcome).toMatchObject({
      outcome: 'failed',
      error: 'sheet "Notes": no column looks like email addresses',
    });
    expect(closed).toEqual([true]);
  });
});
