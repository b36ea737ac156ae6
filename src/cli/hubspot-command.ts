/**
 * `mailverify hubspot setup [--dry-run]` creates our property group and
 * properties; `mailverify hubspot sync [--full] [--dry-run]` verifies the
 * contacts of every connected portal and writes the results back. One line
 * per portal on standard output; problems on standard error.
 */
import type { Writable } from 'node:stream';
import { Command } from 'commander';
import type { Logger } from 'pino';

import {
  createPortalRegistry,
  provisionProperties,
  syncContacts,
} from '../../connectors/hubspot/index.js';
import type {
  PortalConnection,
  ProvisionReport,
  SyncReport,
} from '../../connectors/hubspot/index.js';
import { lifetimesOf } from '../config.js';
import type { Config } from '../config.js';
import { openSqlite } from '../store/sqlite-database.js';
import { SqliteHubspotStore } from '../store/sqlite-hubspot-store.js';
import { systemClock } from '../verify/types.js';
import type { CommandIo } from './check-command.js';
import { CommandExit } from './command-exit.js';
import { composeBulkVerifier, createLogger } from './compose.js';
import type { ComposedVerifier } from './compose.js';
import { oauthSettingsOf } from './compose-hubspot.js';
import { addVerificationOptions, loadCommandConfig } from './verification-options.js';

export interface HubspotCommandDeps {
  stderr?: Writable;
  compose?: (config: Config, logger: Logger) => ComposedVerifier;
}

export function createHubspotCommand(io: CommandIo, deps: HubspotCommandDeps = {}): Command {
  const hubspot = new Command('hubspot').description('HubSpot: email status on every contact');

  const setup = new Command('setup')
    .description('create our property group and properties (only those missing)')
    .option('--dry-run', 'say what would be created; create nothing')
    .option('--config <path>', 'JSON config file (also MAILVERIFY_CONFIG)');
  setup.action((options: { dryRun?: boolean }) => runSetup(io, deps, setup, options));

  const sync = new Command('sync')
    .description('verify contacts and write their status to our properties')
    .option('--full', 'every contact, not only those modified since the last sync')
    .option('--dry-run', 'say what would change; write nothing');
  addVerificationOptions(sync);
  sync.action((options: { full?: boolean; dryRun?: boolean }) => runSync(io, deps, sync, options));

  return hubspot.addCommand(setup.exitOverride()).addCommand(sync.exitOverride());
}

async function runSetup(
  io: CommandIo,
  deps: HubspotCommandDeps,
  command: Command,
  options: { dryRun?: boolean },
): Promise<void> {
  await withPortals(io, deps, command, async ({ portals }) => {
    for (const portal of portals) {
      const report = await provisionProperties(portal.client, portal.limiter, options.dryRun);
      io.stdout.write(`${formatProvision(portal.portalId, report, options.dryRun)}\n`);
    }
  });
}

async function runSync(
  io: CommandIo,
  deps: HubspotCommandDeps,
  command: Command,
  options: { full?: boolean; dryRun?: boolean },
): Promise<void> {
  await withPortals(io, deps, command, async ({ portals, config, logger, store }) => {
    const compose = deps.compose ?? defaultCompose;
    const composed = compose(config, logger);
    const abort = new AbortController();
    const onInterrupt = () => abort.abort();
    process.once('SIGINT', onInterrupt);
    try {
      for (const portal of portals) {
        const report = await syncContacts(
          {
            ...portal,
            verifier: composed.verifier,
            store,
            clock: systemClock,
            lifetimes: lifetimesOf(config),
            logger,
          },
          {
            isFull: options.full === true,
            isDryRun: options.dryRun === true,
            trustsHardBounces: config.hubspotTrustHardBounces,
            signal: abort.signal,
          },
        );
        writeSyncReport(io.stdout, portal.portalId, report, options.dryRun === true);
      }
    } finally {
      process.off('SIGINT', onInterrupt);
      await composed.close();
    }
    if (abort.signal.aborted) throw new CommandExit('interrupted', 'interrupted');
  });
}

interface PortalContext {
  portals: PortalConnection[];
  config: Config;
  logger: Logger;
  store: SqliteHubspotStore;
}

async function withPortals(
  io: CommandIo,
  deps: HubspotCommandDeps,
  command: Command,
  work: (context: PortalContext) => Promise<void>,
): Promise<void> {
  const stderr = deps.stderr ?? process.stderr;
  const config = loadCommandConfig(command, io.env);
  const logger = createLogger(config);
  const db = openSqlite(config.database);
  const store = new SqliteHubspotStore(db);

  try {
    const registry = createPortalRegistry({
      accessToken: config.hubspotAccessToken,
      baseUrl: config.hubspotBaseUrl,
      oauth: oauthSettingsOf(config),
      store,
      clock: systemClock,
      logger,
    });
    const portals = await registry.connectAll();
    if (portals.length === 0) {
      const problem = 'no HubSpot portal: set HUBSPOT_ACCESS_TOKEN or install the app';
      stderr.write(`mailverify hubspot: ${problem}\n`);
      throw new CommandExit('usage', problem);
    }
    await work({ portals, config, logger, store });
  } catch (error) {
    if (error instanceof CommandExit) throw error;
    const reason = (error as Error).message.split('\n')[0] ?? 'failed';
    stderr.write(`mailverify hubspot: ${reason}\n`);
    throw new CommandExit('failure', reason);
  } finally {
    db.close();
  }
}

function defaultCompose(config: Config, logger: Logger): ComposedVerifier {
  return composeBulkVerifier(config, logger, config.cache ? 'use' : 'off');
}

export function formatProvision(portalId: string, report: ProvisionReport, isDryRun = false) {
  const verb = isDryRun ? 'would create' : 'created';
  const group = report.isGroupCreated ? `${verb} group mailverify; ` : '';
  const created = report.created.length > 0 ? report.created.join(', ') : 'nothing';
  return `portal ${portalId}: ${group}${verb} ${created}; ${report.existing.length} already there`;
}

function writeSyncReport(out: Writable, portalId: string, report: SyncReport, isDryRun: boolean) {
  const stopped = report.stoppedBy ? `, stopped: ${report.stoppedBy} (resumes next run)` : '';
  out.write(
    `portal ${portalId} (${report.mode}): ${report.fetched} fetched, ${report.skipped} fresh, ` +
      `${report.verified} verified, ${report.unchanged} unchanged, ` +
      `${isDryRun ? `${report.changes.length} would change` : `${report.written} written`}, ` +
      `${report.failed.length} failed, ${report.apiCalls} API calls${stopped}\n`,
  );
  for (const change of report.changes) {
    out.write(
      `  would write ${change.id} <${change.email}>: ${JSON.stringify(change.properties)}\n`,
    );
  }
  for (const failure of report.failed) {
    out.write(`  failed ${failure.id}: ${failure.message}\n`);
  }
}
