/**
 * `mailverify check [ADDRESS...]`: verifies addresses given as arguments, or
 * one per line from standard input, and prints one result per address in
 * input order. Only results go to standard output.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { Command } from 'commander';

import { verifyInOrder } from '../engine/verify-in-order.js';
import { composeBulkVerifier, createLogger } from './compose.js';
import { formatTableHeader, formatTableRow } from './format-result.js';
import { addVerificationOptions, loadCommandConfig } from './verification-options.js';

/**
 * Addresses handed to the engine at once; it caps SMTP sessions itself and
 * needs many recipients in hand to share sessions among them.
 */
const IN_FLIGHT = 2_000;

export interface CommandIo {
  stdin: Readable;
  stdout: Writable;
  env: NodeJS.ProcessEnv;
}

export function createCheckCommand(io: CommandIo): Command {
  const command = new Command('check')
    .description('verify addresses (arguments, or one per line on standard input)')
    .argument('[address...]', 'addresses to verify; none or "-" reads standard input')
    .option('--json', 'one JSON object per address per line')
    .option('--refresh', 'ignore cached results (new results are still stored)');
  addVerificationOptions(command);

  command.action(async (addresses: string[], options: { json?: boolean; refresh?: boolean }) => {
    const config = loadCommandConfig(command, io.env);
    const logger = createLogger(config);
    const cacheMode = !config.cache ? 'off' : options.refresh ? 'refresh' : 'use';
    const composed = composeBulkVerifier(config, logger, cacheMode);
    const verify = (email: string) => composed.verifier.verify(email);

    const readsStdin = addresses.length === 0 || (addresses.length === 1 && addresses[0] === '-');
    const input = readsStdin ? readLines(io.stdin) : addresses;

    try {
      if (!options.json) write(io.stdout, formatTableHeader());
      for await (const result of verifyInOrder(input, verify, IN_FLIGHT)) {
        write(io.stdout, options.json ? JSON.stringify(result) : formatTableRow(result));
      }
    } finally {
      await composed.close();
    }
  });
  return command;
}

async function* readLines(stream: Readable): AsyncGenerator<string> {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  for await (const line of lines) {
    const address = line.trim();
    if (address !== '') yield address;
  }
}

function write(stream: Writable, line: string): void {
  stream.write(`${line}\n`);
}
