import nock from 'nock';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  createGoogleCaller,
  createRequestLimiter,
  createSheetsClient,
  GoogleApiError,
  syncSpreadsheet,
} from '../../../connectors/google-sheets/index.js';
import type { SyncDeps, SyncRequest } from '../../../connectors/google-sheets/index.js';
import { openSqlite } from '../../../src/store/sqlite-database.js';
import { SqliteSheetStore } from '../../../src/store/sqlite-sheet-store.js';
import type { VerificationResult } from '../../../src/index.js';
import { FAKE_ROOT, FakeSpreadsheet } from '../../helpers/fake-google-sheets.js';
import { resultFor } from '../../helpers/fake-bulk-verifier.js';

const DAY_MS = 86_400_000;
const LIFETIMES = {
  deliverable: 30 * 86_400,
  undeliverable: 7 * 86_400,
  risky: 7 * 86_400,
  unknown: 3600,
};
const CHECKED_AT = '2025-01-02T03:04:05.000Z';

function setUp(overrides: Partial<SyncDeps> = {}) {
  const spreadsheet = new FakeSpreadsheet();
  const store = new SqliteSheetStore(openSqlite(':memory:'));
  const verified: string[] = [];
  const sleeps: number[] = [];
  let now = Date.parse(CHECKED_AT) + 60_000;
  const sleep = async (ms: number) => {
    sleeps.push(ms);
    now += ms;
  };
  const logger = pino({ level: 'silent' });
  const call = createGoogleCaller({
    limiter: createRequestLimiter(60, { now: () => now, sleep }),
    sleep,
    random: () => 0,
    logger,
  });
  const deps = {
    sheets: createSheetsClient({ kind: 'access-token', accessToken: 'ya29.test' }, FAKE_ROOT),
    call,
    verifier: {
      verify: async (email: string): Promise<VerificationResult> => {
        verified.push(email);
        return resultFor(email, CHECKED_AT);
      },
    },
    store,
    lifetimes: LIFETIMES,
    now: () => now,
    logger,
    ...overrides,
  };
  const sync = (request: Partial<SyncRequest> = {}) =>
    syncSpreadsheet({ spreadsheetId: spreadsheet.id, ...request }, deps);
  const advance = (ms: number) => {
    now += ms;
  };
  return { spreadsheet, store, verified, sleeps, sync, advance };
}

const CONTACTS = [
  ['Name', 'E-mail Address', 'Company'],
  ['Ann', 'ann@acme.example', 'Acme'],
  ['Bob', 'nobody@acme.example', 'Acme'],
  ['Cy', 'info@corp.example', 'Corp'],
];

beforeEach(() => {
  nock.disableNetConnect();
});

afterEach(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

describe('syncSpreadsheet', () => {
  it('finds the email column by its header and writes a status beside each address', async () => {
    const { spreadsheet, sync, verified } = setUp();
    spreadsheet.addSheet('Contacts', CONTACTS);
    spreadsheet.intercept();

    const outcome = await sync();

    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.sheets[0]).toMatchObject({ emailHeader: 'E-mail Address', rows: 3, written: 3 });
    expect(verified.sort()).toEqual([
      'ann@acme.example',
      'info@corp.example',
      'nobody@acme.example',
    ]);
    expect(spreadsheet.row('Contacts', 0)).toEqual([
      ...CONTACTS[0]!,
      'Email status',
      'Email reason',
      'Email checked at',
    ]);
    expect(spreadsheet.row('Contacts', 2)).toEqual([
      ...CONTACTS[2]!,
      'undeliverable',
      'mailbox_not_found',
      CHECKED_AT,
    ]);
    expect(spreadsheet.writes.every((write) => write.column >= 3)).toBe(true);
  });

  it('stops with the headers it saw when no column holds addresses', async () => {
    const { spreadsheet, sync } = setUp();
    spreadsheet.addSheet('People', [
      ['Name', 'Phone'],
      ['Ann', '555-0100'],
    ]);
    spreadsheet.intercept();

    const outcome = await sync();

    expect(outcome).toEqual({
      ok: false,
      problem: 'sheet "People": no column looks like email addresses',
      headers: { People: ['Name', 'Phone'] },
    });
    expect(spreadsheet.calls).toEqual(['get']);
  });

  it('reports a --sheet the spreadsheet does not have, naming the sheets it has', async () => {
    const { spreadsheet, sync, verified } = setUp();
    spreadsheet.addSheet('Contacts', CONTACTS);
    spreadsheet.addSheet('Archive', CONTACTS);
    spreadsheet.intercept();

    const outcome = await sync({ sheet: 'Leads' });

    expect(outcome).toEqual({
      ok: false,
      problem: 'the spreadsheet has no sheet named "Leads"; its sheets: "Contacts", "Archive"',
      headers: {},
    });
    expect(spreadsheet.calls).toEqual(['get', 'get']);
    expect(verified).toEqual([]);
  });

  it('reports a --column that names no header, with the headers', async () => {
    const { spreadsheet, sync } = setUp();
    spreadsheet.addSheet('Contacts', CONTACTS);
    spreadsheet.intercept();

    const outcome = await sync({ sheet: 'Contacts', column: 'Work mail' });

    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.problem).toContain('no column named "Work mail"');
    expect(outcome.headers.Contacts).toEqual(['Name', 'E-mail Address', 'Company']);
  });

  it('adds its columns once, anchored by developer metadata, with formatting and validation', async () => {
    const { spreadsheet, sync, advance } = setUp();
    spreadsheet.addSheet('Contacts', CONTACTS);
    spreadsheet.intercept();

    await sync();
    spreadsheet.setCell('Contacts', 4, 1, 'new@acme.example');
    advance(DAY_MS);
    await sync();

    expect(spreadsheet.anchoredColumn('Contacts', 'email')).toBe(1);
    expect(spreadsheet.anchoredColumn('Contacts', 'status')).toBe(3);
    expect(spreadsheet.anchoredColumn('Contacts', 'reason')).toBe(4);
    expect(spreadsheet.anchoredColumn('Contacts', 'checkedAt')).toBe(5);
    const kinds = spreadsheet.structureRequests.map((request) => Object.keys(request)[0]);
    expect(kinds.filter((kind) => kind === 'addConditionalFormatRule')).toHaveLength(4);
    expect(kinds.filter((kind) => kind === 'setDataValidation')).toHaveLength(1);
    expect(kinds.filter((kind) => kind === 'createDeveloperMetadata')).toHaveLength(4);
    expect(spreadsheet.calls.filter((call) => call === 'batchUpdate')).toHaveLength(1);
    expect(spreadsheet.row('Contacts', 4)[3]).toBe('deliverable');
  });

  it('finds its status column again after the user moved and renamed it', async () => {
    const { spreadsheet, sync, verified } = setUp();
    spreadsheet.addSheet('Contacts', CONTACTS);
    spreadsheet.intercept();
    await sync();

    spreadsheet.moveColumn('Contacts', 3, 0);
    spreadsheet.setCell('Contacts', 0, 0, 'Deliverability');
    spreadsheet.setCell('Contacts', 4, 2, 'grey@corp.example');
    verified.length = 0;
    await sync();

    expect(verified).toEqual(['grey@corp.example']);
    expect(spreadsheet.row('Contacts', 0).slice(0, 2)).toEqual(['Deliverability', 'Name']);
    expect(spreadsheet.row('Contacts', 4)).toEqual([
      'unknown',
      '',
      'grey@corp.example',
      '',
      'greylisted',
      CHECKED_AT,
    ]);
    expect(spreadsheet.calls.filter((call) => call === 'batchUpdate')).toHaveLength(1);
  });

  it('writes to the rows that hold each address when rows move between read and write', async () => {
    const { spreadsheet, sync, verified } = setUp();
    spreadsheet.addSheet('Contacts', CONTACTS);
    spreadsheet.intercept();
    spreadsheet.beforeCall = (operation) => {
      if (operation !== 'batchGetByDataFilter') return;
      spreadsheet.insertRows('Contacts', 1, [['Dee', 'dee@acme.example', 'Acme']]);
      spreadsheet.deleteRow('Contacts', 2);
      spreadsheet.setCell('Contacts', 3, 1, 'info@other.example');
    };

    const outcome = await sync();

    // Now: Dee (inserted), Bob (moved up), Cy with an edited address.
    expect(spreadsheet.row('Contacts', 1)).toEqual(['Dee', 'dee@acme.example', 'Acme']);
    expect(spreadsheet.row('Contacts', 2).slice(1, 4)).toEqual([
      'nobody@acme.example',
      'Acme',
      'undeliverable',
    ]);
    expect(spreadsheet.row('Contacts', 3)).toEqual(['Cy', 'info@other.example', 'Corp']);
    expect(outcome.ok && outcome.sheets[0]).toMatchObject({ written: 1, deferred: 2 });

    spreadsheet.beforeCall = () => {};
    verified.length = 0;
    await sync();
    expect(verified.sort()).toEqual(['dee@acme.example', 'info@other.example']);
    expect(spreadsheet.row('Contacts', 3)[3]).toBe('risky');
    expect(spreadsheet.row('Contacts', 1)[3]).toBe('deliverable');
  });

  it('follows a sort made between read and write', async () => {
    const { spreadsheet, sync } = setUp();
    spreadsheet.addSheet('Contacts', CONTACTS);
    spreadsheet.intercept();
    spreadsheet.beforeCall = (operation) => {
      if (operation !== 'batchGetByDataFilter') return;
      const [header, ...rows] = CONTACTS;
      rows.reverse().forEach((row, index) => {
        row.forEach((cell, column) => spreadsheet.setCell('Contacts', index + 1, column, cell));
      });
      expect(header).toBeDefined();
    };

    await sync();

    expect(spreadsheet.row('Contacts', 1).slice(1, 4)).toEqual([
      'info@corp.example',
      'Corp',
      'risky',
    ]);
    expect(spreadsheet.row('Contacts', 3).slice(1, 4)).toEqual([
      'ann@acme.example',
      'Acme',
      'deliverable',
    ]);
  });

  it('adds a column again after the user deleted it, without formatting twice', async () => {
    const { spreadsheet, sync, verified } = setUp();
    spreadsheet.addSheet('Contacts', CONTACTS);
    spreadsheet.intercept();
    await sync();

    spreadsheet.sheet('Contacts').columns.splice(4, 1);
    verified.length = 0;
    await sync();

    expect(spreadsheet.anchoredColumn('Contacts', 'reason')).toBe(5);
    expect(spreadsheet.row('Contacts', 2)[5]).toBe('mailbox_not_found');
    const rules = spreadsheet.structureRequests.filter(
      (request) => Object.keys(request)[0] === 'addConditionalFormatRule',
    );
    expect(rules).toHaveLength(4);
  });

  it('moves the email anchor to the column named with --column', async () => {
    const { spreadsheet, sync, verified } = setUp();
    spreadsheet.addSheet('Contacts', [
      ['Email', 'Backup email'],
      ['ann@acme.example', 'nobody@corp.example'],
    ]);
    spreadsheet.intercept();
    await sync();
    verified.length = 0;

    await sync({ column: 'backup email' });

    expect(spreadsheet.anchoredColumn('Contacts', 'email')).toBe(1);
    expect(verified).toEqual(['nobody@corp.example']);
    expect(spreadsheet.row('Contacts', 1)[2]).toBe('undeliverable');
  });

  it('stops verifying when aborted and still writes what it verified', async () => {
    const abort = new AbortController();
    const answered: string[] = [];
    const { spreadsheet, sync } = setUp({
      signal: abort.signal,
      maxInFlight: 1,
      verifier: {
        verify: async (email) => {
          answered.push(email);
          abort.abort();
          return resultFor(email, CHECKED_AT);
        },
      },
    });
    spreadsheet.addSheet('Contacts', CONTACTS);
    spreadsheet.intercept();

    const outcome = await sync();

    expect(answered).toEqual(['ann@acme.example']);
    expect(outcome.ok && outcome.sheets[0]).toMatchObject({ verified: 1, written: 1 });
    expect(spreadsheet.row('Contacts', 1)[3]).toBe('deliverable');
    expect(spreadsheet.row('Contacts', 2)).toEqual(CONTACTS[2]);
  });

  it('retries 429 and 5xx answers, POSTs included, honouring Retry-After', async () => {
    const { spreadsheet, sync, sleeps } = setUp();
    spreadsheet.addSheet('Contacts', CONTACTS);
    spreadsheet.intercept();
    spreadsheet.faults.push(
      { operation: 'get', status: 429, retryAfter: '7' },
      { operation: 'batchUpdate', status: 503 },
      { operation: 'valuesBatchUpdate', status: 500 },
      { operation: 'valuesBatchUpdate', status: 502 },
    );

    const outcome = await sync();

    expect(outcome.ok && outcome.sheets[0]?.written).toBe(3);
    expect(spreadsheet.calls).toEqual([
      'get',
      'get',
      'batchUpdate',
      'batchUpdate',
      'batchGetByDataFilter',
      'valuesBatchUpdate',
      'valuesBatchUpdate',
      'valuesBatchUpdate',
    ]);
    expect(sleeps).toEqual([7_000, 1_000, 1_000, 2_000]);
  });

  it('gives up after a bounded number of attempts', async () => {
    const { spreadsheet, sync } = setUp();
    spreadsheet.addSheet('Contacts', CONTACTS);
    spreadsheet.intercept();
    for (let fault = 0; fault < 10; fault += 1) {
      spreadsheet.faults.push({ operation: 'get', status: 500 });
    }

    await expect(sync()).rejects.toBeInstanceOf(GoogleApiError);
    expect(spreadsheet.calls).toHaveLength(6);
  });

  it('changes nothing on a second sync of an unchanged sheet', async () => {
    const { spreadsheet, sync, verified, advance } = setUp();
    spreadsheet.addSheet('Contacts', CONTACTS);
    spreadsheet.intercept();
    await sync();
    const writes = spreadsheet.writes.length;
    verified.length = 0;
    spreadsheet.calls.length = 0;

    advance(60_000);
    const outcome = await sync();

    expect(spreadsheet.calls).toEqual(['get']);
    expect(verified).toEqual([]);
    expect(spreadsheet.writes).toHaveLength(writes);
    expect(outcome.ok && outcome.sheets[0]).toMatchObject({ current: 3, verified: 0, written: 0 });
  });

  it('verifies again results past their lifetime, and only those', async () => {
    const { spreadsheet, sync, verified, advance } = setUp();
    spreadsheet.addSheet('Contacts', CONTACTS);
    spreadsheet.intercept();
    await sync();
    verified.length = 0;

    advance(8 * DAY_MS);
    await sync();

    expect(verified.sort()).toEqual(['info@corp.example', 'nobody@acme.example']);
  });

  it('verifies an address edited by the user', async () => {
    const { spreadsheet, sync, verified } = setUp();
    spreadsheet.addSheet('Contacts', CONTACTS);
    spreadsheet.intercept();
    await sync();
    verified.length = 0;

    spreadsheet.setCell('Contacts', 1, 1, 'ann@corp.example');
    await sync();

    expect(verified).toEqual(['ann@corp.example']);
  });

  it('skips blank rows and verifies a duplicate address once for all its rows', async () => {
    const { spreadsheet, sync, verified } = setUp();
    spreadsheet.addSheet('Contacts', [
      ['Email'],
      ['ann@acme.example'],
      [''],
      ['  '],
      ['ann@ACME.example'],
      ['not an address'],
    ]);
    spreadsheet.intercept();

    await sync();

    expect(verified).toEqual(['ann@acme.example']);
    expect(spreadsheet.row('Contacts', 2)).toEqual([]);
    expect(spreadsheet.row('Contacts', 3)).toEqual(['  ']);
    expect(spreadsheet.row('Contacts', 4)[1]).toBe('deliverable');
    expect(spreadsheet.row('Contacts', 5).slice(1, 3)).toEqual(['undeliverable', 'invalid_syntax']);
  });

  it('syncs every sheet with an email column and skips the others', async () => {
    const { spreadsheet, sync } = setUp();
    spreadsheet.addSheet('Leads', [['Email'], ['a@acme.example']]);
    spreadsheet.addSheet('Notes', [['Text'], ['hello']]);
    spreadsheet.addSheet('Clients', [['Mail'], ['nobody@corp.example']]);
    spreadsheet.intercept();

    const outcome = await sync();

    expect(outcome.ok && outcome.skipped).toEqual(['Notes']);
    expect(spreadsheet.row('Leads', 1)[1]).toBe('deliverable');
    expect(spreadsheet.row('Clients', 1)[1]).toBe('undeliverable');
    expect(spreadsheet.row('Notes', 1)).toEqual(['hello']);
  });

  it('syncs only the named sheet', async () => {
    const { spreadsheet, sync } = setUp();
    spreadsheet.addSheet('Leads', [['Email'], ['a@acme.example']]);
    spreadsheet.addSheet("Bob's list", [['Email'], ['b@acme.example']]);
    spreadsheet.intercept();

    const outcome = await sync({ sheet: "Bob's list" });

    expect(outcome.ok && outcome.sheets.map((sheet) => sheet.title)).toEqual(["Bob's list"]);
    expect(spreadsheet.row("Bob's list", 1)[1]).toBe('deliverable');
    expect(spreadsheet.row('Leads', 1)).toEqual(['a@acme.example']);
  });

  it('plans without writing anything on a dry run', async () => {
    const { spreadsheet, sync, verified } = setUp();
    spreadsheet.addSheet('Contacts', CONTACTS);
    spreadsheet.intercept();

    const outcome = await sync({ isDryRun: true });

    expect(outcome.ok && outcome.sheets[0]).toMatchObject({
      verified: 3,
      written: 0,
      addedColumns: ['status', 'reason', 'checkedAt'],
    });
    expect(spreadsheet.calls).toEqual(['get']);
    expect(verified).toEqual([]);
  });

  it('uses a handful of calls for a 10,000-row sheet, and one for its repeat sync', async () => {
    const { spreadsheet, sync } = setUp();
    const rows = [['Name', 'Email']];
    for (let index = 0; index < 10_000; index += 1)
      rows.push([`P${index}`, `p${index}@acme.example`]);
    spreadsheet.addSheet('Contacts', rows);
    spreadsheet.intercept();

    await sync();
    const first = [...spreadsheet.calls];
    spreadsheet.calls.length = 0;
    await sync();

    expect(first).toEqual(['get', 'batchUpdate', 'batchGetByDataFilter', 'valuesBatchUpdate']);
    expect(spreadsheet.calls).toEqual(['get']);
    expect(spreadsheet.row('Contacts', 10_000)[2]).toBe('deliverable');
  });

  it('handles a 50,000-row sheet', async () => {
    const { spreadsheet, sync } = setUp();
    const rows = [['Email']];
    for (let index = 0; index < 50_000; index += 1) rows.push([`p${index}@acme.example`]);
    spreadsheet.addSheet('Contacts', rows);
    spreadsheet.intercept();

    const outcome = await sync();

    expect(outcome.ok && outcome.sheets[0]?.written).toBe(50_000);
    // A flush per 20,000 results keeps each write under the 2 MB request limit.
    const flush = ['batchGetByDataFilter', 'valuesBatchUpdate'];
    expect(spreadsheet.calls).toEqual(['get', 'batchUpdate', ...flush, ...flush, ...flush]);
    expect(spreadsheet.row('Contacts', 50_000)[3]).toBe(CHECKED_AT);
  }, 60_000);
});
