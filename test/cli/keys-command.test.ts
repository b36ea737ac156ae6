import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';

import { CommandExit } from '../../src/cli/command-exit.js';
import { createKeysCommand } from '../../src/cli/keys-command.js';
import { authenticateApiKey } from '../../src/server/api-keys.js';
import { SqliteKeyStore } from '../../src/store/sqlite-key-store.js';
import { createFakeClock } from '../server/fake-clock.js';

const folders: string[] = [];
afterEach(() => folders.splice(0).forEach((folder) => rmSync(folder, { recursive: true })));

function databasePath(): string {
  const folder = mkdtempSync(join(tmpdir(), 'mailverify-keys-cli-'));
  folders.push(folder);
  return join(folder, 'service.db');
}

async function keys(args: string[], database: string, clock = createFakeClock()) {
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const command = createKeysCommand(
    { stdin: Readable.from([]), stdout, env: { MAILVERIFY_DATABASE: database } },
    { clock },
  ).exitOverride();
  command.commands.forEach((sub) => sub.exitOverride());

  await command.parseAsync(args, { from: 'user' });
  return text;
}

describe('mailverify keys', () => {
  it('creates a key, prints it once, and stores only what identifies it', async () => {
    const database = databasePath();
    const output = await keys(['create', '--name', 'crm sync'], database);

    const key = /key\s+(mv_live_[0-9a-f]{64})/.exec(output)?.[1];
    expect(key).toBeDefined();
    const store = new SqliteKeyStore({ path: database });
    expect((await authenticateApiKey(store, key!))?.name).toBe('crm sync');
    await store.close();

    const listing = await keys(['list'], database);
    expect(listing).toContain('crm sync');
    expect(listing).toContain(`${key!.slice(0, 16)}…`);
    expect(listing).not.toContain(key!.slice(16));
  });

  it('creates a key as JSON for scripts', async () => {
    const database = databasePath();
    const output = JSON.parse(await keys(['create', '--name', 'ci', '--json'], database)) as {
      id: string;
      key: string;
      name: string;
      createdAt: string;
    };
    expect(output).toMatchObject({ name: 'ci', createdAt: '2025-03-01T12:00:00.000Z' });
    expect(output.key).toMatch(/^mv_live_[0-9a-f]{64}$/);
    expect(output.id).toMatch(/^key_/);
  });

  it('lists keys with created, last used and revoked times', async () => {
    const database = databasePath();
    const clock = createFakeClock();
    const created = JSON.parse(await keys(['create', '--name', 'a', '--json'], database, clock));
    clock.advance(60_000);
    await keys(['revoke', created.id], database, clock);

    const [line] = (await keys(['list', '--json'], database)).trim().split('\n');
    expect(JSON.parse(line!)).toEqual({
      id: created.id,
      name: 'a',
      prefix: created.key.slice(0, 16),
      createdAt: '2025-03-01T12:00:00.000Z',
      lastUsedAt: null,
      revokedAt: '2025-03-01T12:01:00.000Z',
    });
  });

  it('revokes a key so that it no longer authenticates', async () => {
    const database = databasePath();
    const created = JSON.parse(await keys(['create', '--name', 'a', '--json'], database));

    expect(await keys(['revoke', created.id], database)).toContain(`revoked ${created.id}`);
    const store = new SqliteKeyStore({ path: database });
    expect(await authenticateApiKey(store, created.key)).toBeNull();
    await store.close();
  });

  it('fails for an unknown key id', async () => {
    const error = await keys(['revoke', 'key_nope'], databasePath()).catch((caught) => caught);
    expect(error).toBeInstanceOf(CommandExit);
    expect((error as CommandExit).kind).toBe('failure');
  });

  it('refuses a name with control characters or over 100 characters', async () => {
    for (const name of ['bad\nname', 'x'.repeat(101), '   ']) {
      const error = await keys(['create', '--name', name], databasePath()).catch(
        (caught) => caught,
      );
      expect((error as CommandExit).kind).toBe('usage');
    }
  });
});
