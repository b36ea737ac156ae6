import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import nock from 'nock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { createHubspotCommand } from '../../src/cli/hubspot-command.js';
import { openSqlite } from '../../src/store/sqlite-database.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { createFakeBulkVerifier } from '../helpers/fake-bulk-verifier.js';
import { BASE_URL, FakePortal } from '../connectors/hubspot/fake-portal.js';

let portal: FakePortal;

beforeEach(() => {
  nock.disableNetConnect();
  portal = new FakePortal();
  // The real clock runs in the command: contacts checked "now" are fresh.
  portal.now = Date.now();
});

afterEach(() => {
  portal.close();
  nock.enableNetConnect();
});

async function runHubspot(args: string[]) {
  const folder = mkdtempSync(join(tmpdir(), 'mailverify-hubspot-'));
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let output = '';
  stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const env = {
    HUBSPOT_ACCESS_TOKEN: 'pat-test',
    HUBSPOT_BASE_URL: BASE_URL,
    MAILVERIFY_DATABASE: join(folder, 'db.sqlite'),
    MAILVERIFY_LOG_LEVEL: 'silent',
  };
  const command = createHubspotCommand(
    { stdin: Readable.from([]), stdout, env },
    {
      stderr,
      compose: () => {
        const db = openSqlite(':memory:');
        const store = new SqliteStore({
          db,
          lifetimes: { deliverable: 1, undeliverable: 1, risky: 1, unknown: 1 },
        });
        const verifier = createFakeBulkVerifier(store);
        return {
          verifier,
          store,
          close: async () => {
            db.close();
          },
        };
      },
    },
  );
  await command.exitOverride().parseAsync(args, { from: 'user' });
  return output;
}

describe('mailverify hubspot', () => {
  it('setup creates the properties once and reports nothing to do the second time', async () => {
    const first = await runHubspot(['setup']);
    expect(first).toContain('created group mailverify');
    expect(first).toContain('mailverify_status');

    const second = await runHubspot(['setup']);
    expect(second).toContain('created nothing; 5 already there');
  });

  it('sync --dry-run lists what it would write and writes nothing', async () => {
    portal.addContacts(2, (index) => ({ email: `nobody${index}@example.com` }));

    const output = await runHubspot(['sync', '--dry-run']);

    expect(output).toContain('2 would change');
    expect(output).toMatch(/would write 1 <nobody0@example.com>: .*"undeliverable"/);
    expect(portal.callsTo('POST', /batch\/update$/)).toHaveLength(0);
  });

  it('sync writes results and reports the API calls it used', async () => {
    portal.addContacts(3, (index) => ({ email: `user${index}@example.com` }));

    const output = await runHubspot(['sync', '--full']);

    expect(output).toContain('portal private-app (full): 3 fetched');
    expect(output).toContain('3 written, 0 failed, 2 API calls');
    expect(portal.contacts.get('2')!.properties.mailverify_status).toBe('deliverable');
  });
});
