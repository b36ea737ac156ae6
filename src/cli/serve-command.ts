/**
 * `mailverify serve`: the composition root of the service. It loads the
 * configuration once, opens one SQLite file shared by every part of the
 * store, composes the verifier, the job runner, the scheduler and the HTTP
 * app, and listens. When ready it prints one line on standard output:
 * `mailverify listening on http://HOST:PORT` (the real port when asked
 * for port 0). SIGTERM or SIGINT stops it gracefully within
 * `shutdownGrace` seconds; a second signal ends it at once.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { Application } from 'express';
import { Command, InvalidArgumentError } from 'commander';
import type { Logger } from 'pino';

import { lifetimesOf, loadConfig } from '../config.js';
import type { Config, ConfigKey } from '../config.js';
import type { BulkVerifier } from '../engine/bulk-verifier.js';
import { createReverifyTask } from '../scheduler/reverify-task.js';
import { createSheetsSyncTask } from '../scheduler/sheets-sync-task.js';
import type { OpenedVerifier } from '../scheduler/reverify-task.js';
import { createScheduler } from '../scheduler/scheduler.js';
import { createApp } from '../server/create-app.js';
import { closeHttpServer } from '../server/close-http-server.js';
import { createCallbackDeliverer } from '../server/deliver-callback.js';
import { createJobRunner } from '../server/job-runner.js';
import { createJobFromEmails, createJobsRouter } from '../server/jobs-router.js';
import { createMetrics } from '../server/metrics.js';
import type { Metrics } from '../server/metrics.js';
import { observeOpener } from '../server/observe-opener.js';
import { loadOpenApiDocument } from '../server/openapi-document.js';
import { createQuotaMeter } from '../server/quota-meter.js';
import { createRenewingVerifier } from '../server/renewing-verifier.js';
import { createSchedulesRouter } from '../server/schedules-router.js';
import { openSqlite } from '../store/sqlite-database.js';
import type { SqliteDatabase } from '../store/sqlite-database.js';
import { SqliteJobStore } from '../store/sqlite-job-store.js';
import { SqliteKeyStore } from '../store/sqlite-key-store.js';
import { SqliteScheduleStore } from '../store/sqlite-schedule-store.js';
import { SqliteSheetStore } from '../store/sqlite-sheet-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { loadAddressLists } from '../verify/address-flags.js';
import { systemClock } from '../verify/types.js';
import type { CommandIo } from './check-command.js';
import { CommandExit } from './command-exit.js';
import { createLogger, createServiceVerifierFactory } from './compose.js';
import { composeHubspot } from './compose-hubspot.js';
import { connectSheets } from './compose-sheets.js';
import { addVerificationOptions, readOverrides } from './verification-options.js';

/**
 * How long one bulk-verifier generation takes new addresses; it bounds how
 * long DNS and catch-all answers are reused (src/server/renewing-verifier.ts).
 */
const VERIFIER_GENERATION_MS = 10 * 60_000;
/** 128 + the signal number: what a shell reports for a process ended by it. */
const EXIT_ON_SECOND_SIGNAL: Record<ShutdownSignal, number> = { SIGINT: 130, SIGTERM: 143 };
const EXIT_GRACE_EXCEEDED = 1;
/** After a clean stop the event loop should be empty; this is the backstop. */
const FINAL_EXIT_MS = 500;

type ShutdownSignal = 'SIGINT' | 'SIGTERM';

export interface ComposedService {
  app: Application;
  /** Starts listening and the background work; resolves with the base URL. */
  start(): Promise<string>;
  /** Stops taking requests, lets work finish or hands it back, closes the store. */
  stop(graceMs: number): Promise<void>;
}

export function createServeCommand(io: CommandIo): Command {
  const command = new Command('serve')
    .description('run the HTTP API, the job runner and the scheduled tasks')
    .option('--port <n>', 'port to listen on (0 picks a free one)', port)
    .option('--host <address>', 'address to listen on (0.0.0.0 for every interface)');
  addVerificationOptions(command);

  command.action(async (options: { port?: number; host?: string }) => {
    const overrides: Partial<Record<ConfigKey, unknown>> = {
      ...readOverrides(command),
      port: options.port,
      host: options.host,
    };
    const config = loadConfig({
      env: io.env,
      file: command.opts().config as string | undefined,
      overrides,
    });
    const logger = createLogger(config, 'json');
    const service = composeService(config, logger);

    const url = await service.start().catch((error: unknown) => {
      const reason = `cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`;
      process.stderr.write(`mailverify serve: ${reason}\n`);
      throw new CommandExit('failure', reason);
    });
    io.stdout.write(`mailverify listening on ${url}\n`);
    await waitForShutdown(service, config, logger);
    // Whatever a library left open must not keep a stopped service alive.
    setTimeout(() => process.exit(), FINAL_EXIT_MS).unref();
  });
  return command;
}

export function composeService(config: Config, logger: Logger): ComposedService {
  const db = openSqlite(config.database);
  try {
    return composeOver(db, config, logger);
  } catch (error) {
    db.close();
    throw error;
  }
}

function composeOver(db: SqliteDatabase, config: Config, logger: Logger): ComposedService {
  const clock = systemClock;
  const results = new SqliteStore({ db, lifetimes: lifetimesOf(config) });
  const keys = new SqliteKeyStore({ db });
  const jobs = new SqliteJobStore({ db });
  const schedules = new SqliteScheduleStore(db);
  const sheetStates = new SqliteSheetStore(db);
  let sheetsConnection: ReturnType<typeof connectSheets> | undefined;
  const metrics = createMetrics();
  metrics.watchQueueDepth(async () => (await jobs.queueDepth()).items);

  const newVerifier = createServiceVerifierFactory(config, logger, {
    store: results,
    wrapOpener: (opener) => observeOpener(opener, metrics),
  });
  const verifier = createRenewingVerifier({
    create: () => newVerifier(),
    generationMs: VERIFIER_GENERATION_MS,
    clock,
    logger,
    onResult: metrics.countVerification,
  });

  const workerId = `${hostname()}:${process.pid}`;
  const callbacks = createCallbackDeliverer({
    jobs,
    secret: config.callbackSecret,
    clock,
    allowPrivate: config.allowPrivateMx,
    logger,
  });
  const runner = createJobRunner({
    jobs,
    verifier,
    clock,
    logger,
    leaseSeconds: config.jobLease,
    retentionMs: config.jobRetention * 86_400_000,
    workerId,
    metrics,
    callbacks,
    // Half the grace for verifications in flight, the rest for the others.
    drainMs: (config.shutdownGrace * 1000) / 2,
  });
  const hubspot = composeHubspot(config, logger, {
    db,
    verifier,
    openVerifier: () => countAnswers(newVerifier(), metrics),
    clock,
  });
  const scheduler = createScheduler({
    schedules: config.schedules,
    timezone: config.timezone,
    tasks: {
      reverify: createReverifyTask({
        results,
        openVerifier: () => countAnswers(newVerifier('refresh'), metrics),
        clock,
      }),
      'hubspot-sync': hubspot.syncTask,
      'sheets-sync': createSheetsSyncTask({
        // One connection, so one request limiter, for every run of the process.
        connect: () => (sheetsConnection ??= connectSheets(config, logger)),
        openVerifier: () => countAnswers(newVerifier(), metrics),
        store: sheetStates,
        lifetimes: lifetimesOf(config),
        now: () => clock.now(),
      }),
    },
    store: schedules,
    clock,
    logger,
  });
  const quota = createQuotaMeter({ keys, dailyQuota: config.apiDailyQuota, clock, logger });

  let isStopping = false;
  let stopped: Promise<void> | null = null;
  const app = createApp({
    config,
    verifier,
    keys,
    quota,
    metrics,
    logger,
    clock,
    isReady: async () => db.open && db.prepare('SELECT 1 AS ok').get() !== undefined,
    isStopping: () => isStopping,
    enqueueJob: createJobFromEmails({ jobs, runner, clock }),
    jobsRouter: createJobsRouter({ jobs, runner, config, clock }),
    schedulesRouter: createSchedulesRouter({ scheduler }),
    openapi: loadOpenApiDocument(),
    hubspotRouter: hubspot.router,
  });
  const server = createServer(app);

  return {
    app,
    async start() {
      // The first request should not pay for loading the flag lists.
      loadAddressLists();
      await listen(server, config.port, config.host);
      quota.start();
      runner.start();
      scheduler.start();
      hubspot.start();
      const url = urlOf(server);
      logger.info({ url, workerId }, 'service listening');
      return url;
    },
    stop(graceMs) {
      isStopping = true;
      stopped ??= (async () => {
        logger.info({ graceMs }, 'service stopping');
        // A webhook round still verifying gets the grace too; what is left
        // of it when the verifier closes stays queued for the next start.
        const webhooksStopped = hubspot.stop();
        const [isClean] = await Promise.all([
          closeHttpServer(server, graceMs),
          runner.stop(),
          scheduler.stop(),
          Promise.race([webhooksStopped, delay(graceMs)]),
        ]);
        if (!isClean) logger.warn('requests still running at the deadline were cut');

        await verifier.close();
        await webhooksStopped;
        await quota.stop();
        db.close();
        logger.info('service stopped');
      })();
      return stopped;
    },
  };
}

/** Resolves after `ms`; the timer alone does not keep the process alive. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** A re-verification run's verifier, whose answers also count in the metrics. */
function countAnswers(opened: BulkVerifier, metrics: Metrics): OpenedVerifier {
  const verifier: BulkVerifier = {
    verify: async (email) => {
      const result = await opened.verify(email);
      metrics.countVerification(result);
      return result;
    },
    stats: () => opened.stats(),
    close: () => opened.close(),
  };
  return { verifier, close: () => opened.close() };
}

/**
 * Resolves once the service stopped after a signal. The grace is enforced
 * here as well, since a stuck stop must not keep the process alive.
 */
function waitForShutdown(service: ComposedService, config: Config, logger: Logger) {
  return new Promise<void>((resolve) => {
    let isStopping = false;

    const onSignal = (signal: ShutdownSignal) => {
      if (isStopping) {
        logger.warn({ signal }, 'second signal: exiting at once');
        process.exit(EXIT_ON_SECOND_SIGNAL[signal]);
      }
      isStopping = true;
      logger.info({ signal }, 'shutdown requested');

      const graceMs = config.shutdownGrace * 1000;
      const deadline = setTimeout(() => {
        logger.error({ graceMs }, 'shutdown grace exceeded: exiting');
        process.exit(EXIT_GRACE_EXCEEDED);
      }, graceMs + 1_000);

      service.stop(graceMs).then(
        () => {
          clearTimeout(deadline);
          resolve();
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(EXIT_GRACE_EXCEEDED);
        },
      );
    };

    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

function listen(server: Server, portNumber: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(portNumber, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function urlOf(server: Server): string {
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

function port(value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number > 65_535) {
    throw new InvalidArgumentError('must be a port number, 0 to 65535');
  }
  return number;
}
