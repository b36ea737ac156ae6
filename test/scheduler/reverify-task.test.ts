import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';

import { createBulkVerifier } from '../../src/engine/bulk-verifier.js';
import { createReverifyTask } from '../../src/scheduler/reverify-task.js';
import type { TaskContext } from '../../src/scheduler/scheduler.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { createResolver } from '../../src/verify/create-resolver.js';
import { createTcpOpener } from '../../src/verify/open-socket.js';
import { systemClock } from '../../src/verify/types.js';
import type { VerificationResult } from '../../src/verify/types.js';
import { createScriptedVerifier, scriptedResult } from '../helpers/scripted-verifier.js';
import type { ScriptedVerifierOptions } from '../helpers/scripted-verifier.js';
import { startTestWorld } from '../helpers/test-world.js';

const HOUR = 3_600;
const lifetimes = { deliverable: 720 * HOUR, undeliverable: 168 * HOUR, risky: 24, unknown: HOUR };
const logger = pino({ level: 'silent' });

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function context(signal = new AbortController().signal): TaskContext {
  return { signal, logger };
}

function unknownResult(email: string): VerificationResult {
  return { ...scriptedResult(email), verdict: 'unknown', reason: 'timeout' };
}

/** A store with `expired` results an hour and a half old and `fresh` ones just stored. */
async function storeWith(expired: string[], fresh: string[] = []) {
  const results = new SqliteStore({ path: ':memory:', lifetimes });
  const longAgo = Date.now() - 1.5 * HOUR * 1000;
  for (const email of expired) await results.putResult(email, unknownResult(email), longAgo);
  for (const email of fresh) await results.putResult(email, unknownResult(email), Date.now());
  return results;
}

/** The scripted verifier, storing its answers as the engine does. */
function storingVerifier(results: SqliteStore, options: ScriptedVerifierOptions = {}) {
  const verifier = createScriptedVerifier(options);
  let closed = 0;
  const verify = verifier.verify.bind(verifier);
  verifier.verify = async (email) => {
    const result = await verify(email);
    await results.putResult(email, result, Date.now());
    return result;
  };
  const openVerifier = () => ({
    verifier,
    close: async () => {
      closed += 1;
      await verifier.close();
    },
  });
  return { verifier, openVerifier, closedCount: () => closed };
}

describe('createReverifyTask', () => {
  it('verifies expired results again and leaves fresh ones alone', async () => {
    const results = await storeWith(['ann@a.test', 'nobody@a.test'], ['cy@a.test']);
    const { verifier, openVerifier, closedCount } = storingVerifier(results);
    const task = createReverifyTask({ results, openVerifier, clock: systemClock });

    const outcome = await task({}, context());

    expect(verifier.calls.sort()).toEqual(['ann@a.test', 'nobody@a.test']);
    expect(outcome).toEqual({
      outcome: 'succeeded',
      summary: { verified: 2, changed: 2, failed: 0, isCapped: false },
      error: null,
    });
    expect((await results.getResult('nobody@a.test'))?.result.verdict).toBe('undeliverable');
    expect(await results.listExpired(Date.now(), 10)).toEqual([]);
    expect(closedCount()).toBe(1);
  });

  it('hands the verifier at most one batch at a time', async () => {
    const emails = Array.from({ length: 23 }, (_, index) => `ann${index}@a.test`);
    const results = await storeWith(emails);
    const { verifier, openVerifier } = storingVerifier(results, { delayMs: () => 2 });
    const task = createReverifyTask({ results, openVerifier, clock: systemClock });

    const outcome = await task({ batchSize: 5 }, context());

    expect(outcome.summary.verified).toBe(23);
    expect(verifier.maxPending).toBeLessThanOrEqual(5);
    expect(new Set(verifier.calls).size).toBe(23);
  });

  it('stops at maxAddresses and says that expired results are left', async () => {
    const emails = Array.from({ length: 10 }, (_, index) => `ann${index}@a.test`);
    const results = await storeWith(emails);
    const { verifier, openVerifier } = storingVerifier(results);
    const task = createReverifyTask({ results, openVerifier, clock: systemClock });

    const outcome = await task({ batchSize: 4, maxAddresses: 6 }, context());

    expect(verifier.calls).toHaveLength(6);
    expect(outcome.summary).toMatchObject({ verified: 6, isCapped: true });
  });

  it('tries an address that cannot be refreshed once per run, then stops', async () => {
    const results = await storeWith(['ann@a.test', 'bob@a.test']);
    const { verifier, openVerifier } = storingVerifier(results, {
      failure: (email) => (email === 'bob@a.test' ? new Error('closed') : null),
    });
    const task = createReverifyTask({ results, openVerifier, clock: systemClock });

    const outcome = await task({ batchSize: 1 }, context());

    expect(verifier.calls.sort()).toEqual(['ann@a.test', 'bob@a.test']);
    expect(outcome).toMatchObject({
      outcome: 'succeeded',
      summary: { verified: 1, failed: 1 },
    });
  });

  it('fails the run when nothing could be verified', async () => {
    const results = await storeWith(['ann@a.test']);
    const { openVerifier } = storingVerifier(results, { failure: () => new Error('closed') });
    const task = createReverifyTask({ results, openVerifier, clock: systemClock });

    expect(await task({}, context())).toMatchObject({
      outcome: 'failed',
      error: 'none of 1 addresses could be verified',
    });
  });

  it('stops between batches when the scheduler stops', async () => {
    const emails = Array.from({ length: 9 }, (_, index) => `ann${index}@a.test`);
    const results = await storeWith(emails);
    const controller = new AbortController();
    const { verifier, openVerifier } = storingVerifier(results, {
      delayMs: () => {
        controller.abort();
        return 1;
      },
    });
    const task = createReverifyTask({ results, openVerifier, clock: systemClock });

    await task({ batchSize: 3 }, context(controller.signal));
    expect(verifier.calls).toHaveLength(3);
  });

  it('refuses options it does not know, without verifying anything', async () => {
    const results = await storeWith(['ann@a.test']);
    const { verifier, openVerifier } = storingVerifier(results);
    const task = createReverifyTask({ results, openVerifier, clock: systemClock });

    const outcome = await task({ batchSize: 0, verdicts: ['unknown'] }, context());
    expect(outcome.outcome).toBe('failed');
    expect(outcome.error).toMatch(/batchSize/);
    expect(outcome.error).toMatch(/verdicts/);
    expect(verifier.calls).toEqual([]);
  });

  it('refreshes an expired result through the real engine and mail server', async () => {
    const world = await startTestWorld(
      { '127.0.0.91': { kind: 'smtp', mailboxes: ['ann'] } },
      {
        'fresh.test': { MX: [{ preference: 10, exchange: 'mx.fresh.test' }] },
        'mx.fresh.test': { A: ['127.0.0.91'] },
      },
    );
    cleanups.push(() => world.close());
    const results = await storeWith(['ann@fresh.test']);

    const openVerifier = () => {
      const verifier = createBulkVerifier(
        {
          ...world.settings(),
          concurrency: 4,
          perHostConcurrency: 2,
          maxRejectedPerSession: 8,
          maxRecipientsPerEnvelope: 50,
          domainRate: 0,
        },
        {
          resolver: createResolver({ servers: [world.dns.server], timeoutMs: 500, tries: 1 }),
          opener: createTcpOpener(),
          clock: systemClock,
          random: Math.random,
          store: results,
          cacheMode: 'refresh',
        },
      );
      return { verifier, close: () => verifier.close() };
    };
    const task = createReverifyTask({ results, openVerifier, clock: systemClock });

    const outcome = await task({}, context());

    expect(outcome.summary).toMatchObject({ verified: 1, changed: 1 });
    const stored = await results.getResult('ann@fresh.test');
    expect(stored?.result).toMatchObject({ verdict: 'deliverable', reason: 'accepted' });
    expect(world.logs.get('127.0.0.91')?.rcptTo).toContain('ann@fresh.test');
  });
});
