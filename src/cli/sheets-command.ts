/**
 * `mailverify sheets sync --spreadsheet ID [--sheet NAME] [--column HEADER]
 * [--dry-run]`: writes a status, a reason and a checked-at time beside every
 * address of a Google sheet, in columns it adds, and keeps them current.
 * One line per sheet on standard output; problems on standard error.
 */
import type { Writable } from 'node:stream';
import { Command } from 'commander';

import { syncSpreadsheet } from '../../connectors/google-sheets/index.js';
import type { SheetSummary, SyncOutcome } from '../../connectors/google-sheets/index.js';
import { lifetimesOf } from '../config.js';
import type { Config } from '../config.js';
import { openSqlite } from '../store/sqlite-database.js';
import { SqliteSheetStore } from '../store/sqlite-sheet-store.js';
import type { CommandIo } from './check-command.js';
import { CommandExit } from './command-exit.js';
import { composeBulkVerifier, createLogger } from './compose.js';
import type { ComposedVerifier } from './compose.js';
import { connectSheets } from './compose-sheets.js';
import type { ConnectSheets } from './compose-sheets.js';
import { addVerificationOptions, loadCommandConfig } from './verification-options.js';

export interface SheetsCommandDeps {
  stderr?: Writable;
  compose?: (config: Config) => ComposedVerifier;
  connect?: ConnectSheets;
  now?: () => number;
}

interface SyncOptions {
  spreadsheet: string;
  sheet?: string;
  column?: string;
  dryRun?: boolean;
}

export function createSheetsCommand(io: CommandIo, deps: SheetsCommandDeps = {}): Command {
  const sheets = new Command('sheets').description('Google Sheets: status beside each address');
  const sync = new Command('sync')
    .description('verify the addresses of a spreadsheet and write their status beside them')
    .requiredOption('--spreadsheet <id>', 'spreadsheet id (from its URL)')
    .option('--sheet <name>', 'only this sheet (default: every sheet with an email column)')
    .option('--column <header>', 'header of the email column (default: detected)')
    .option('--dry-run', 'say what would be done; change nothing');
  addVerificationOptions(sync);
  sync.action((options: SyncOptions) => runSync(io, deps, sync, options));
  return sheets.addCommand(sync.exitOverride());
}

async function runSync(
  io: CommandIo,
  deps: SheetsCommandDeps,
  command: Command,
  options: SyncOptions,
): Promise<void> {
  const stderr = deps.stderr ?? process.stderr;
  const config = loadCommandConfig(command, io.env);
  const logger = createLogger(config);

  const connected = (deps.connect ?? connectSheets)(config, logger);
  if (!connected.ok) {
    stderr.write(`mailverify sheets: ${connected.problem}\n`);
    throw new CommandExit('usage', connected.problem);
  }

  const db = openSqlite(config.database);
  const composed = (deps.compose ?? defaultCompose(logger))(config);
  const abort = new AbortController();
  const onInterrupt = () => abort.abort();
  process.once('SIGINT', onInterrupt);
  let outcome: SyncOutcome;
  try {
    outcome = await syncSpreadsheet(
      {
        spreadsheetId: options.spreadsheet,
        sheet: options.sheet,
        column: options.column,
        isDryRun: options.dryRun === true,
      },
      {
        ...connected.connection,
        verifier: composed.verifier,
        store: new SqliteSheetStore(db),
        lifetimes: lifetimesOf(config),
        now: deps.now ?? Date.now,
        logger,
        signal: abort.signal,
      },
    );
  } catch (error) {
    const reason = (error as Error).message;
    stderr.write(`mailverify sheets: ${reason}\n`);
    throw new CommandExit('failure', reason);
  } finally {
    process.off('SIGINT', onInterrupt);
    await composed.close();
    db.close();
  }

  if (!outcome.ok) {
    stderr.write(`mailverify sheets: ${outcome.problem}\n`);
    for (const [title, headers] of Object.entries(outcome.headers)) {
      stderr.write(`  headers of "${title}": ${headers.map((h) => `"${h}"`).join(', ')}\n`);
    }
    throw new CommandExit('usage', outcome.problem);
  }
  const prefix = options.dryRun ? 'would sync ' : '';
  for (const summary of outcome.sheets) io.stdout.write(`${prefix}${formatSummary(summary)}\n`);
  for (const title of outcome.skipped) io.stdout.write(`skipped "${title}": no email column\n`);
  if (abort.signal.aborted) throw new CommandExit('interrupted', 'interrupted');
}

function defaultCompose(logger: ReturnType<typeof createLogger>) {
  return (config: Config) => composeBulkVerifier(config, logger, config.cache ? 'use' : 'off');
}

export function formatSummary(summary: SheetSummary): string {
  const columns = summary.addedColumns.join(', ');
  const added = columns === '' ? '' : `, added ${columns}`;
  return (
    `"${summary.title}" (column "${summary.emailHeader}"): ${summary.rows} rows, ` +
    `${summary.current} current, ${summary.verified} verified, ${summary.written} written, ` +
    `${summary.deferred} deferred, ${summary.failed} failed${added}`
  );
}
