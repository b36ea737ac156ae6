#!/usr/bin/env node
/**
 * The `mailverify` command. Exit status: 0 when every address got a verdict
 * (whatever it is), 2 for a usage or configuration error, 130 after Ctrl-C,
 * 1 otherwise.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';

import { ConfigError } from '../config.js';
import { createCheckCommand } from './check-command.js';
import type { CommandIo } from './check-command.js';
import { CommandExit, EXIT_INTERRUPTED } from './command-exit.js';
import { createDoctorCommand } from './doctor-command.js';
import { createFileCommand } from './file-command.js';
import { createHubspotCommand } from './hubspot-command.js';
import { createKeysCommand } from './keys-command.js';
import { createServeCommand } from './serve-command.js';
import { createSheetsCommand } from './sheets-command.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export function createProgram(io: CommandIo): Command {
  const program = new Command('mailverify')
    .description('Verify email addresses against their mail servers, without sending mail')
    .version(packageVersion())
    .exitOverride()
    .showHelpAfterError()
    .configureOutput({ writeOut: (text) => io.stdout.write(text) });

  const commands = [
    createCheckCommand(io),
    createFileCommand(io),
    createDoctorCommand(io),
    createServeCommand(io),
    createKeysCommand(io),
    createHubspotCommand(io),
    createSheetsCommand(io),
  ];
  for (const command of commands) {
    program.addCommand(command.exitOverride());
  }
  return program;
}

export async function run(argv: string[], io: CommandIo): Promise<number> {
  try {
    await createProgram(io).parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    return exitCodeFor(error);
  }
}

function exitCodeFor(error: unknown): number {
  if (error instanceof CommandExit) {
    const statuses = { usage: EXIT_USAGE, failure: EXIT_FAILURE, interrupted: EXIT_INTERRUPTED };
    return statuses[error.kind];
  }
  if (error instanceof CommanderError) {
    const isInformational = error.exitCode === 0;
    return isInformational ? EXIT_OK : EXIT_USAGE;
  }
  if (error instanceof ConfigError) {
    process.stderr.write(`mailverify: ${error.message}\n`);
    return EXIT_USAGE;
  }
  process.stderr.write(`mailverify: ${(error as Error).stack ?? String(error)}\n`);
  return EXIT_FAILURE;
}

/** The version in our package.json, found from this file in src/ or dist/. */
function packageVersion(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 4; depth += 1) {
    try {
      const text = readFileSync(join(folder, 'package.json'), 'utf8');
      const manifest = JSON.parse(text) as { name?: string; version?: string };
      if (manifest.name === 'mailverify' && manifest.version) return manifest.version;
    } catch {
      // not here: look one folder up
    }
    folder = dirname(folder);
  }
  return 'unknown';
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
}

// Run directly (`node dist/src/cli/main.js`), the command runs in this
// process whatever it is; the `mailverify` executable is bin.ts.
if (isEntryPoint()) {
  const io = { stdin: process.stdin, stdout: process.stdout, env: process.env };
  process.exitCode = await run(process.argv.slice(2), io);
}
