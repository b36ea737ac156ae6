import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nock from 'nock';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { connectSheets } from '../../src/cli/compose-sheets.js';
import { loadConfig } from '../../src/config.js';
import { FAKE_ROOT, FakeSpreadsheet } from '../helpers/fake-google-sheets.js';

const logger = pino({ level: 'silent' });
const TOKEN_URL = 'https://oauth2.googleapis.com';

async function readWith(env: NodeJS.ProcessEnv) {
  const spreadsheet = new FakeSpreadsheet();
  spreadsheet.addSheet('Leads', [['Email']]);
  spreadsheet.intercept();
  const connected = connectSheets(
    loadConfig({ env: { GOOGLE_SHEETS_ROOT_URL: FAKE_ROOT, ...env } }),
    logger,
  );
  if (!connected.ok) throw new Error(connected.problem);
  const { sheets, call } = connected.connection;
  await call('spreadsheets.get', () =>
    sheets.spreadsheets.get({ spreadsheetId: spreadsheet.id, includeGridData: true }),
  );
  return spreadsheet.authorizations;
}

beforeEach(() => {
  nock.disableNetConnect();
});

afterEach(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

describe('connectSheets', () => {
  it('sends GOOGLE_ACCESS_TOKEN as it is, to GOOGLE_SHEETS_ROOT_URL', async () => {
    expect(await readWith({ GOOGLE_ACCESS_TOKEN: 'ya29.ready' })).toEqual(['Bearer ya29.ready']);
  });

  it('trades a refresh token for an access token first', async () => {
    let grant = '';
    nock(TOKEN_URL)
      .post('/token', (body: Record<string, string>) => {
        grant = `${body.grant_type}:${body.refresh_token}:${body.client_id}`;
        return true;
      })
      .reply(200, { access_token: 'ya29.fresh', expires_in: 3600, token_type: 'Bearer' });

    const authorizations = await readWith({
      MAILVERIFY_GOOGLE_CLIENT_ID: 'client-1',
      MAILVERIFY_GOOGLE_CLIENT_SECRET: 'secret-1',
      MAILVERIFY_GOOGLE_REFRESH_TOKEN: 'refresh-1',
    });

    expect(grant).toBe('refresh_token:refresh-1:client-1');
    expect(authorizations).toEqual(['Bearer ya29.fresh']);
  });

  it('signs a JWT grant with a service account key file', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyFile = join(mkdtempSync(join(tmpdir(), 'mailverify-key-')), 'key.json');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    writeFileSync(
      keyFile,
      JSON.stringify({ client_email: 'sync@p.iam.example', private_key: pem }),
    );
    let grantType = '';
    nock(TOKEN_URL)
      .post('/token', (body: Record<string, string>) => {
        grantType = body.grant_type ?? '';
        return true;
      })
      .reply(200, { access_token: 'ya29.service', expires_in: 3600, token_type: 'Bearer' });

    const authorizations = await readWith({ MAILVERIFY_GOOGLE_SERVICE_ACCOUNT_FILE: keyFile });

    expect(grantType).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    expect(authorizations).toEqual(['Bearer ya29.service']);
  });

  it('says what is wrong with unusable credentials', () => {
    const connect = (env: NodeJS.ProcessEnv) => connectSheets(loadConfig({ env }), logger);

    expect(connect({ MAILVERIFY_GOOGLE_SERVICE_ACCOUNT_JSON: '{' })).toEqual({
      ok: false,
      problem: 'the service account key is not valid JSON',
    });
    expect(connect({ MAILVERIFY_GOOGLE_REFRESH_TOKEN: 'r' })).toMatchObject({ ok: false });
    expect(
      connect({ MAILVERIFY_GOOGLE_SERVICE_ACCOUNT_FILE: '/nonexistent/key.json' }),
    ).toMatchObject({
      ok: false,
    });
  });
});
