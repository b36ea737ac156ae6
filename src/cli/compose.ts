/**
 * The composition root of the command line: turns the frozen configuration
 * into the production resolver, socket opener, store and logger, and wires
 * them into one verifier.
 */
import { randomInt } from 'node:crypto';
import pino from 'pino';
import type { Logger } from 'pino';

import type { Config } from '../config.js';
import { lifetimesOf } from '../config.js';
import { createCachedVerifier, createStoredCatchAllMemory } from '../engine/cached-verifier.js';
import type { CacheMode, VerifyOne } from '../engine/cached-verifier.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { createResolver } from '../verify/create-resolver.js';
import { createSocks5Opener, createTcpOpener } from '../verify/open-socket.js';
import { systemClock } from '../verify/types.js';
import { verifyAddress } from '../verify/verify-address.js';
import type { VerifierSettings } from '../verify/verify-address.js';

/**
 * Longest wait for one DNS try. c-ares backs off between tries, so two
 * tries take about three times this; the pass deadline bounds it anyway.
 */
const DNS_TIMEOUT_MS = 2_000;

export interface ComposedVerifier {
  verify: VerifyOne;
  close(): Promise<void>;
}

export function createLogger(config: Config): Logger {
  return pino(
    {
      level: config.logLevel,
      redact: { paths: ['*.password', '*.token', '*.apiKey', 'proxy'], censor: '[redacted]' },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

export function composeVerifier(
  config: Config,
  logger: Logger,
  cacheMode: CacheMode,
): ComposedVerifier {
  const clock = systemClock;
  if (!config.heloName.includes('.')) {
    // Many servers refuse a HELO that is not a fully qualified name
    // (Postfix reject_non_fqdn_helo_hostname), which makes answers unknown.
    logger.warn({ heloName: config.heloName }, 'helo name is not fully qualified');
  }
  const resolver = createResolver({
    servers: config.dnsServers,
    timeoutMs: Math.min(DNS_TIMEOUT_MS, Math.ceil((config.timeout * 1000) / 3)),
    tries: 2,
  });
  const opener = config.proxy ? createSocks5Opener(config.proxy) : createTcpOpener();
  const store =
    cacheMode === 'off'
      ? null
      : new SqliteStore({ path: config.database, lifetimes: lifetimesOf(config) });

  const settings: VerifierSettings = {
    heloName: config.heloName,
    mailFrom: config.mailFrom,
    smtpPort: config.smtpPort,
    allowPrivateMx: config.allowPrivateMx,
    greylistRetry: config.greylistRetry,
    timeout: config.timeout,
    startTls: config.startTls,
    catchAllProbe: config.catchAllProbe,
  };
  const deps = {
    resolver,
    opener,
    clock,
    random: () => randomInt(0, 2 ** 32) / 2 ** 32,
    logger,
    catchAllMemory: store
      ? createStoredCatchAllMemory(store, config.ttlCatchAll, clock)
      : undefined,
  };
  const verifyUncached: VerifyOne = (email) => verifyAddress(email, settings, deps);

  if (!store) return { verify: verifyUncached, close: async () => {} };
  const verify = createCachedVerifier({ verify: verifyUncached, store, mode: cacheMode, clock });
  return { verify, close: () => store.close() };
}
