import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import nock from 'nock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CommandExit } from '../../src/cli/command-exit.js';
import { createSheetsCommand } from '../../src/cli/sheets-command.js';
import { REDACTED_PATHS } from '../../src/cli/compose.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { createFakeBulkVerifier } from '../helpers/fake-bulk-verifier.js';
import type { FakeBulkVerifier } from '../helpers/fake-bulk-verifier.js';
import { FAKE_ROOT, FakeSpreadsheet } from '../helpers/fake-google-sheets.js';

const LIFETIMES = { deliverable: 86_400, undeliverable: 86_400, risky: 86_400, unknown: 3600 };

function collect() {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  return { stream, text: () => chunks.join('') };
}

async function mailverifySheets(args: string[], env: NodeJS.ProcessEnv) {
  const stdout = collect();
  const stderr = collect();
  const database = join(mkdtempSync(join(tmpdir(), 'mailverify-sheets-')), 'db.sqlite');
  const verifiers: FakeBulkVerifier[] = [];
  const io = {
    stdin: Readable.from(['']),
    stdout: stdout.stream,
    env: { MAILVERIFY_LOG_LEVEL: 'silent', MAILVERIFY_DATABASE: database, ...env },
  };
  const compose = () => {
    const store = new SqliteStore({ path: ':memory:', lifetimes: LIFETIMES });
    const verifier = createFakeBulkVerifier(store);
    verifiers.push(verifier);
    return { verifier, store, close: () => verifier.close() };
  };

  let kind: string = 'ok';
  try {
    await createSheetsCommand(io, { stderr: stderr.stream, compose })
      .exitOverride()
      .parseAsync(args, { from: 'user' });
  } catch (error) {
    kind = error instanceof CommandExit ? error.kind : `thrown: ${(error as Error).message}`;
  }
  return { kind, stdout: stdout.text(), stderr: stderr.text(), verifiers };
}

const GOOGLE_ENV = { GOOGLE_ACCESS_TOKEN: 'ya29.cli', GOOGLE_SHEETS_ROOT_URL: FAKE_ROOT };

beforeEach(() => {
  nock.disableNetConnect();
});

afterEach(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

describe('mailverify sheets sync', () => {
  it('syncs the named sheet with the access token and API root from the environment', async () => {
    const spreadsheet = new FakeSpreadsheet();
    spreadsheet.addSheet('Leads', [['Work Email'], ['ann@acme.example'], ['nobody@acme.example']]);
    spreadsheet.intercept();

    const outcome = await mailverifySheets(
      ['sync', '--spreadsheet', spreadsheet.id, '--sheet', 'Leads', '--allow-private-mx'],
      GOOGLE_ENV,
    );

    expect(outcome.kind).toBe('ok');
    expect(outcome.stdout).toContain('"Leads" (column "Work Email"): 2 rows');
    expect(spreadsheet.row('Leads', 2)).toEqual([
      'nobody@acme.example',
      'undeliverable',
      'mailbox_not_found',
      '2025-01-02T03:04:05.000Z',
    ]);
    expect(outcome.verifiers[0]?.isClosed).toBe(true);
    expect(new Set(spreadsheet.authorizations)).toEqual(new Set(['Bearer ya29.cli']));
  });

  it('lists the headers it saw when --column names none, with exit status 2', async () => {
    const spreadsheet = new FakeSpreadsheet();
    spreadsheet.addSheet('Leads', [
      ['Name', 'Email'],
      ['Ann', 'ann@acme.example'],
    ]);
    spreadsheet.intercept();

    const outcome = await mailverifySheets(
      ['sync', '--spreadsheet', spreadsheet.id, '--column', 'Mail'],
      GOOGLE_ENV,
    );

    expect(outcome.kind).toBe('usage');
    expect(outcome.stderr).toContain('no sheet has a column named "Mail"');
    expect(outcome.stderr).toContain('headers of "Leads": "Name", "Email"');
  });

  it('changes nothing on a dry run', async () => {
    const spreadsheet = new FakeSpreadsheet();
    spreadsheet.addSheet('Leads', [['Email'], ['ann@acme.example']]);
    spreadsheet.intercept();

    const outcome = await mailverifySheets(
      ['sync', '--spreadsheet', spreadsheet.id, '--dry-run'],
      GOOGLE_ENV,
    );

    expect(outcome.kind).toBe('ok');
    expect(outcome.stdout).toMatch(/^would sync "Leads"/);
    expect(spreadsheet.calls).toEqual(['get']);
    expect(outcome.verifiers[0]?.calls).toEqual([]);
  });

  it('refuses to start without Google credentials', async () => {
    const outcome = await mailverifySheets(['sync', '--spreadsheet', 'x'], {});

    expect(outcome.kind).toBe('usage');
    expect(outcome.stderr).toContain('no Google credentials');
  });

  it('fails with the API error after the retries', async () => {
    const spreadsheet = new FakeSpreadsheet();
    spreadsheet.addSheet('Leads', [['Email'], ['ann@acme.example']]);
    spreadsheet.intercept();
    spreadsheet.faults.push({ operation: 'get', status: 403 });

    const outcome = await mailverifySheets(['sync', '--spreadsheet', spreadsheet.id], GOOGLE_ENV);

    expect(outcome.kind).toBe('failure');
    expect(outcome.stderr).toContain('spreadsheets.get failed after 1 attempt(s)');
  });

  it('keeps Google secrets out of the logs', () => {
    for (const path of ['googleAccessToken', 'googleRefreshToken', 'googleClientSecret']) {
      expect(REDACTED_PATHS).toContain(path);
    }
    expect(REDACTED_PATHS).toContain('googleServiceAccountJson');
  });
});
