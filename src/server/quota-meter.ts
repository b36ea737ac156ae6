/**
 * The daily quota: addresses charged per API key per UTC day. Counts are
 * kept in memory and written to the store about once a second, so a busy
 * key costs no database write per request. Each write (or, for a key with
 * nothing to write, a read) brings back the day's total from the store, so
 * processes sharing one store see each other's usage within a second: a
 * key can go over its quota only by what the others charged in that second.
 */
import type { Logger } from 'pino';

import type { KeyStore } from '../store/key-store.js';
import type { Clock } from '../verify/types.js';
import { ApiError } from './api-error.js';

export interface QuotaMeter {
  /** Charges `count` addresses to today's usage; throws ApiError quota_exceeded. */
  charge(keyId: string, count: number): Promise<void>;
  /** Writes counts not stored yet. */
  flush(): Promise<void>;
  /** Starts the periodic flush. */
  start(): void;
  /** Stops it and writes what is left. */
  stop(): Promise<void>;
}

export interface QuotaMeterOptions {
  keys: KeyStore;
  /** Addresses per key per UTC day; 0 means no quota (usage is still counted). */
  dailyQuota: number;
  clock: Clock;
  logger: Logger;
  flushIntervalMs?: number;
}

interface Tally {
  day: string;
  stored: number;
  pending: number;
}

const DAY_MS = 86_400_000;
const DEFAULT_FLUSH_INTERVAL_MS = 1_000;

export function createQuotaMeter(options: QuotaMeterOptions): QuotaMeter {
  const { keys, dailyQuota, clock, logger } = options;
  const tallies = new Map<string, Tally>();
  const loads = new Map<string, Promise<Tally>>();
  let timer: NodeJS.Timeout | null = null;

  /** The day's stored total after adding `count`; null when the store failed. */
  const store = async (keyId: string, day: string, count: number): Promise<number | null> => {
    try {
      return await keys.addUsage(keyId, day, count);
    } catch (error) {
      logger.warn({ err: error, keyId }, 'quota usage not stored');
      return null;
    }
  };

  const tallyFor = (keyId: string, day: string): Promise<Tally> => {
    const known = tallies.get(keyId);
    if (known?.day === day) return Promise.resolve(known);

    const loadId = `${keyId}/${day}`;
    let load = loads.get(loadId);
    if (!load) {
      load = startDay(keyId, day, known).finally(() => loads.delete(loadId));
      loads.set(loadId, load);
    }
    return load;
  };

  const startDay = async (keyId: string, day: string, previous?: Tally): Promise<Tally> => {
    if (previous && previous.pending > 0) {
      const carried = previous.pending;
      previous.pending = 0;
      await store(keyId, previous.day, carried);
    }
    const tally = { day, stored: await keys.getUsage(keyId, day), pending: 0 };
    tallies.set(keyId, tally);
    return tally;
  };

  const flush = async (): Promise<void> => {
    const today = utcDay(clock.now());
    for (const [keyId, tally] of tallies) {
      if (tally.pending === 0) {
        // Other processes may have charged this key since: read their part.
        if (tally.day === today) tally.stored = await readUsage(keyId, tally);
        continue;
      }
      const count = tally.pending;
      tally.pending = 0;
      tally.stored += count;
      const total = await store(keyId, tally.day, count);
      if (total === null) {
        tally.stored -= count;
        tally.pending += count;
      } else {
        tally.stored = total;
      }
    }
  };

  const readUsage = async (keyId: string, tally: Tally): Promise<number> => {
    try {
      return Math.max(tally.stored, await keys.getUsage(keyId, tally.day));
    } catch (error) {
      logger.warn({ err: error, keyId }, 'quota usage not read');
      return tally.stored;
    }
  };

  return {
    async charge(keyId, count) {
      const now = clock.now();
      const tally = await tallyFor(keyId, utcDay(now));

      const used = tally.stored + tally.pending;
      if (dailyQuota > 0 && used + count > dailyQuota) {
        throw new ApiError(
          'quota_exceeded',
          undefined,
          { quota: dailyQuota, used, requested: count },
          secondsUntilNextDay(now),
        );
      }
      tally.pending += count;
    },
    flush,
    start() {
      if (timer) return;
      const intervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
      timer = setInterval(() => void flush(), intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await flush();
    },
  };
}

/** The UTC calendar day of an instant, as "YYYY-MM-DD". */
export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

function secondsUntilNextDay(now: number): number {
  const nextMidnight = (Math.floor(now / DAY_MS) + 1) * DAY_MS;
  return Math.max(1, Math.ceil((nextMidnight - now) / 1000));
}
