/**
 * The composition root of the command line: turns the frozen configuration
 * into the production resolver, socket opener, store and logger, and wires
 * them into the verifier.
 */
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';

import type { Config } from '../config.js';
import { lifetimesOf } from '../config.js';
import { createBulkVerifier } from '../engine/bulk-verifier.js';
import type { BulkSettings, BulkVerifier } from '../engine/bulk-verifier.js';
import type { CacheMode } from '../engine/stored-catch-all-memory.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { ResultStore } from '../store/store.js';
import { createResolver } from '../verify/create-resolver.js';
import { createSocks5Opener, createTcpOpener } from '../verify/open-socket.js';
import { systemClock } from '../verify/types.js';
import type { SocketOpener } from '../verify/types.js';

/**
 * Longest wait for one DNS try. c-ares backs off between tries, so two
 * tries take about three times this; the pass deadline bounds it anyway.
 */
const DNS_TIMEOUT_MS = 2_000;

/** Log fields that may carry secrets; pino writes "[redacted]" instead. */
export const REDACTED_PATHS = [
  'proxy',
  'callbackSecret',
  '*.password',
  '*.token',
  '*.apiKey',
  '*.accessToken',
  '*.refreshToken',
  '*.authorization',
  'req.headers.authorization',
  'req.headers["x-hubspot-signature"]',
  'req.headers["x-hubspot-signature-v3"]',
  'googleAccessToken',
  'googleRefreshToken',
  'googleClientSecret',
  'googleServiceAccountJson',
  '*.googleAccessToken',
  '*.googleRefreshToken',
  '*.googleClientSecret',
  '*.googleServiceAccountJson',
  '*.privateKey',
  '*.private_key',
  'hubspotAccessToken',
  'hubspotClientSecret',
  'hubspotTokenKey',
  '*.hubspotAccessToken',
  '*.hubspotClientSecret',
  '*.hubspotTokenKey',
  '*.sealedRefreshToken',
  '*.client_secret',
  '*.refresh_token',
  '*.access_token',
];

/** RFC 5321 4.5.3.1.8: servers must take at least 100 recipients. */
const RECIPIENTS_PER_ENVELOPE = 50;

export interface ComposedVerifier {
  verifier: BulkVerifier;
  /** Where results of this run can be looked up, even with the cache off. */
  store: ResultStore;
  close(): Promise<void>;
}

/**
 * Logs go to standard error: JSON lines for the service (for collectors),
 * one plain sentence a line for the one-shot commands a person reads.
 */
export function createLogger(config: Config, format: 'json' | 'text' = 'text'): Logger {
  const options = {
    level: config.logLevel,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  if (format === 'json') return pino(options, pino.destination({ fd: 2, sync: true }));
  return pino(options, { write: (line: string) => process.stderr.write(formatLogLine(line)) });
}

/** "mailverify: warn: helo name is not fully qualified (heloName=vm)". */
export function formatLogLine(line: string): string {
  const entry = JSON.parse(line) as Record<string, unknown>;
  const { level, time: _time, pid: _pid, hostname: _host, msg, ...fields } = entry;
  const label = pino.levels.labels[Number(level)] ?? 'log';
  const details = Object.entries(fields)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  return `mailverify: ${label}: ${String(msg ?? '')}${details ? ` (${details})` : ''}\n`;
}

export function composeBulkVerifier(
  config: Config,
  logger: Logger,
  cacheMode: CacheMode,
): ComposedVerifier {
  warnAboutIdentity(config, logger);
  const { store, discard } = openStore(config, cacheMode);

  const verifier = createBulkVerifier(bulkSettingsOf(config), {
    resolver: resolverOf(config),
    opener: openerOf(config),
    clock: systemClock,
    random: systemRandom,
    logger,
    store,
    // With the cache off, results of this run are written to a scratch
    // store (for lookups after the run) and old ones are never read.
    cacheMode: cacheMode === 'off' ? 'refresh' : cacheMode,
    catchAllLifetimeSeconds: config.ttlCatchAll,
  });

  return {
    verifier,
    store,
    close: async () => {
      await verifier.close();
      await store.close();
      discard();
    },
  };
}

export interface ServiceVerifierOptions {
  /** The results part of the service's shared store. */
  store: ResultStore;
  /** Wraps the production socket opener, e.g. to count sessions. */
  wrapOpener?: (opener: SocketOpener) => SocketOpener;
}

/** `refresh` makes a verifier that must not answer from the cache (re-verification). */
export type ServiceCacheMode = Exclude<CacheMode, 'off'>;

/**
 * Bulk verifiers for the service, all over one store, resolver and opener;
 * each call starts a fresh run (src/server/renewing-verifier.ts says why).
 * With the cache off, results are still stored, for jobs and lookups, but
 * never answered from.
 */
export function createServiceVerifierFactory(
  config: Config,
  logger: Logger,
  options: ServiceVerifierOptions,
): (cacheMode?: ServiceCacheMode) => BulkVerifier {
  warnAboutIdentity(config, logger);
  const resolver = resolverOf(config);
  const opener = options.wrapOpener ? options.wrapOpener(openerOf(config)) : openerOf(config);

  return (cacheMode) =>
    createBulkVerifier(bulkSettingsOf(config), {
      resolver,
      opener,
      clock: systemClock,
      random: systemRandom,
      logger,
      store: options.store,
      cacheMode: cacheMode ?? (config.cache ? 'use' : 'refresh'),
      catchAllLifetimeSeconds: config.ttlCatchAll,
    });
}

function bulkSettingsOf(config: Config): BulkSettings {
  return {
    heloName: config.heloName,
    mailFrom: config.mailFrom,
    smtpPort: config.smtpPort,
    allowPrivateMx: config.allowPrivateMx,
    greylistRetry: config.greylistRetry,
    timeout: config.timeout,
    startTls: config.startTls,
    catchAllProbe: config.catchAllProbe,
    concurrency: config.concurrency,
    perHostConcurrency: config.perHostConcurrency,
    maxRejectedPerSession: config.maxRejectedPerSession,
    maxRecipientsPerEnvelope: RECIPIENTS_PER_ENVELOPE,
    domainRate: config.domainRate,
  };
}

function resolverOf(config: Config) {
  return createResolver({
    servers: config.dnsServers,
    timeoutMs: Math.min(DNS_TIMEOUT_MS, Math.ceil((config.timeout * 1000) / 3)),
    tries: 2,
  });
}

function openerOf(config: Config): SocketOpener {
  return config.proxy ? createSocks5Opener(config.proxy) : createTcpOpener();
}

function systemRandom(): number {
  return randomInt(0, 2 ** 32) / 2 ** 32;
}

function openStore(config: Config, cacheMode: CacheMode) {
  const lifetimes = lifetimesOf(config);
  if (cacheMode !== 'off') {
    return { store: new SqliteStore({ path: config.database, lifetimes }), discard: () => {} };
  }

  const folder = mkdtempSync(join(tmpdir(), 'mailverify-run-'));
  const store = new SqliteStore({ path: join(folder, 'run.db'), lifetimes });
  return { store, discard: () => rmSync(folder, { recursive: true, force: true }) };
}

function warnAboutIdentity(config: Config, logger: Logger): void {
  if (!config.heloName.includes('.')) {
    // Many servers refuse a HELO that is not a fully qualified name
    // (Postfix reject_non_fqdn_helo_hostname), which makes answers unknown.
    const advice = 'helo name is not fully qualified: set --helo to the public name of this host';
    logger.warn({ heloName: config.heloName }, advice);
  }
}
