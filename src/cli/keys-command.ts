/**
 * `mailverify keys create|list|revoke`: the API keys of `mailverify serve`,
 * in the same database file. A new key is printed once and only its hash
 * is kept, so a lost key is revoked and replaced, never recovered.
 */
import { Command } from 'commander';

import { loadConfig } from '../config.js';
import { issueApiKey, MAX_KEY_NAME_LENGTH } from '../server/api-keys.js';
import type { RandomBytes } from '../server/api-keys.js';
import type { ApiKey } from '../store/key-store.js';
import { SqliteKeyStore } from '../store/sqlite-key-store.js';
import { systemClock } from '../verify/types.js';
import type { Clock } from '../verify/types.js';
import type { CommandIo } from './check-command.js';
import { CommandExit } from './command-exit.js';

export interface KeysCommandDeps {
  clock?: Clock;
  randomBytes?: RandomBytes;
}

interface StoreOptions {
  database?: string;
  config?: string;
  json?: boolean;
}

const NAME_PATTERN = /^[^\p{Cc}]+$/u;

export function createKeysCommand(io: CommandIo, deps: KeysCommandDeps = {}): Command {
  const clock = deps.clock ?? systemClock;
  const keys = new Command('keys').description('create, list and revoke API keys of the service');

  const withStore = async <T>(
    options: StoreOptions,
    work: (store: SqliteKeyStore) => Promise<T>,
  ) => {
    const config = loadConfig({
      env: io.env,
      file: options.config,
      overrides: { database: options.database },
    });
    const store = new SqliteKeyStore({ path: config.database });
    try {
      return await work(store);
    } finally {
      await store.close();
    }
  };

  storeOptions(keys.command('create'))
    .description('create a key; it is printed once, store it now')
    .requiredOption('--name <name>', 'what the key is for, e.g. "crm sync"')
    .action(async (options: StoreOptions & { name: string }) => {
      const name = options.name.trim();
      if (name.length > MAX_KEY_NAME_LENGTH || !NAME_PATTERN.test(name)) {
        fail('usage', `--name must be 1 to ${MAX_KEY_NAME_LENGTH} printable characters`);
      }
      const issued = await withStore(options, (store) =>
        issueApiKey(store, name, clock.now(), deps.randomBytes),
      );

      if (options.json) {
        write(io, JSON.stringify({ ...describe(issued.record), key: issued.key }));
        return;
      }
      write(io, `id    ${issued.record.id}`);
      write(io, `name  ${issued.record.name}`);
      write(io, `key   ${issued.key}`);
      write(io, 'The key is shown only now: store it in your secret manager.');
    });

  storeOptions(keys.command('list'))
    .description('list keys (the key itself is never shown again)')
    .action(async (options: StoreOptions) => {
      const list = await withStore(options, (store) => store.listKeys());
      if (options.json) {
        list.forEach((key) => write(io, JSON.stringify(describe(key))));
        return;
      }
      write(io, formatRow(['ID', 'NAME', 'PREFIX', 'CREATED', 'LAST USED', 'REVOKED']));
      for (const key of list) {
        const described = describe(key);
        write(
          io,
          formatRow([
            key.id,
            key.name,
            `${key.prefix}…`,
            described.createdAt,
            described.lastUsedAt ?? '-',
            described.revokedAt ?? '-',
          ]),
        );
      }
    });

  storeOptions(keys.command('revoke'))
    .description('revoke a key by its id; requests with it fail from now on')
    .argument('<id>', 'the key id, as `keys list` shows it')
    .action(async (id: string, options: StoreOptions) => {
      const key = await withStore(options, (store) => store.revokeKey(id, clock.now()));
      if (!key) fail('failure', `no key with id ${id}`);
      write(io, `revoked ${key.id} (${key.name})`);
    });

  return keys;
}

function storeOptions(command: Command): Command {
  return command
    .exitOverride()
    .option('--database <path>', 'SQLite file of the service')
    .option('--config <path>', 'JSON config file (also MAILVERIFY_CONFIG)')
    .option('--json', 'one JSON object per key per line');
}

function describe(key: ApiKey) {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    createdAt: new Date(key.createdAt).toISOString(),
    lastUsedAt: key.lastUsedAt === null ? null : new Date(key.lastUsedAt).toISOString(),
    revokedAt: key.revokedAt === null ? null : new Date(key.revokedAt).toISOString(),
  };
}

const WIDTHS = [18, 24, 20, 26, 26];

function formatRow(cells: string[]): string {
  return cells
    .map((cell, index) => (index < WIDTHS.length ? cell.padEnd(WIDTHS[index]!) : cell))
    .join('  ')
    .trimEnd();
}

function fail(kind: 'usage' | 'failure', reason: string): never {
  process.stderr.write(`mailverify keys: ${reason}\n`);
  throw new CommandExit(kind, reason);
}

function write(io: CommandIo, line: string): void {
  io.stdout.write(`${line}\n`);
}
