import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';

import { BulkClosedError, createBulkVerifier } from '../../src/engine/bulk-verifier.js';
import type { BulkSettings, BulkVerifier } from '../../src/engine/bulk-verifier.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { createResolver } from '../../src/verify/create-resolver.js';
import { createTcpOpener } from '../../src/verify/open-socket.js';
import { systemClock } from '../../src/verify/types.js';
import type { SocketOpener, VerificationResult } from '../../src/verify/types.js';
import { verifyAddress } from '../../src/verify/verify-address.js';
import type { Zone } from '../helpers/dns-server.js';
import { scriptedServer, startTestWorld, writeLines } from '../helpers/test-world.js';
import type { HostSpec, TestWorld } from '../helpers/test-world.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function world(hosts: Record<string, HostSpec>, zone: Zone): Promise<TestWorld> {
  const started = await startTestWorld(hosts, zone);
  cleanups.push(() => started.close());
  return started;
}

function depsFor(testWorld: TestWorld) {
  return {
    resolver: createResolver({ servers: [testWorld.dns.server], timeoutMs: 500, tries: 1 }),
    opener: createTcpOpener(),
    clock: systemClock,
    random: Math.random,
    logger: pino({ level: 'silent' }),
  };
}

function bulkIn(
  testWorld: TestWorld,
  overrides: Partial<BulkSettings> = {},
  extra: { store?: SqliteStore; opener?: SocketOpener } = {},
): BulkVerifier {
  const settings: BulkSettings = {
    ...testWorld.settings(),
    concurrency: 8,
    perHostConcurrency: 3,
    maxRejectedPerSession: 8,
    maxRecipientsPerEnvelope: 50,
    domainRate: 0,
    ...overrides,
  };
  const verifier = createBulkVerifier(settings, { ...depsFor(testWorld), ...extra });
  cleanups.push(() => verifier.close());
  return verifier;
}

const mxTo = (host: string) => ({ MX: [{ preference: 10, exchange: host }] });

/** Three servers, many domains sharing them, every kind of answer. */
async function sharedWorld(): Promise<TestWorld> {
  return world(
    {
      '127.0.0.81': {
        kind: 'smtp',
        mailboxes: ['ann', 'bob', 'cid', 'dee', 'jörg'],
        smtputf8: true,
        replies: {
          full: '552 5.2.2 <full@x>: Recipient address rejected: Mailbox full',
          gone: '550 5.2.1 The email account that you tried to reach is disabled.',
        },
      },
      '127.0.0.82': { kind: 'smtp', isCatchAll: true },
      '127.0.0.83': { kind: 'smtp', mailboxes: ['ann'], greylistCount: 1 },
      '127.0.0.84': { kind: 'refused' },
    },
    {
      'one.test': mxTo('mx-a.shared.test'),
      'two.test': mxTo('mx-a.shared.test'),
      'three.test': mxTo('mx-a.shared.test'),
      'catchall.test': mxTo('mx-b.shared.test'),
      'grey.test': mxTo('mx-c.shared.test'),
      'backup.test': {
        MX: [
          { preference: 10, exchange: 'down.shared.test' },
          { preference: 20, exchange: 'mx-a.shared.test' },
        ],
      },
      'implicit.test': { A: ['127.0.0.81'] },
      'nullmx.test': { MX: [{ preference: 0, exchange: '.' }] },
      'mx-a.shared.test': { A: ['127.0.0.81'] },
      'mx-b.shared.test': { A: ['127.0.0.82'] },
      'mx-c.shared.test': { A: ['127.0.0.83'] },
      'down.shared.test': { A: ['127.0.0.84'] },
    },
  );
}

const SHARED_ADDRESSES = [
  'ann@one.test',
  'nobody@one.test',
  'bob@two.test',
  'nobody@two.test',
  'full@three.test',
  'gone@three.test',
  'cid@three.test',
  'anyone@catchall.test',
  'ann@grey.test',
  'dee@backup.test',
  'ann@implicit.test',
  'ann@nullmx.test',
  'ann@missing.test',
  'jörg@one.test',
  'not an address',
];

function summary(result: VerificationResult) {
  return [result.email, result.verdict, result.reason, result.flags.catchAll];
}

describe('createBulkVerifier', () => {
  it('gives the same verdicts as the single-address path for every kind of answer', async () => {
    const w = await sharedWorld();
    const deps = depsFor(w);
    const single = [];
    for (const email of SHARED_ADDRESSES) {
      single.push(summary(await verifyAddress(email, w.settings(), deps)));
    }

    const bulk = bulkIn(w);
    const results = await Promise.all(SHARED_ADDRESSES.map((email) => bulk.verify(email)));
    expect(results.map(summary)).toEqual(single);
  });

  it('carries the recipients of domains sharing a server in few sessions', async () => {
    const w = await sharedWorld();
    const bulk = bulkIn(w, { catchAllProbe: false });
    const addresses = ['one', 'two', 'three'].flatMap((domain) =>
      ['ann', 'bob', 'cid', 'dee'].map((local) => `${local}@${domain}.test`),
    );

    const results = await Promise.all(addresses.map((email) => bulk.verify(email)));
    expect(results.every((result) => result.verdict === 'deliverable')).toBe(true);
    expect(w.logs.get('127.0.0.81')!.connections).toBeLessThanOrEqual(3);
    expect(bulk.stats().connections).toBeLessThanOrEqual(3);
  });

  it('never lets one session collect more refused RCPTs than the cap', async () => {
    const w = await sharedWorld();
    const bulk = bulkIn(w, { maxRejectedPerSession: 3, catchAllProbe: false });
    const addresses = Array.from({ length: 25 }, (_, index) => `nobody${index}@one.test`);
    addresses.push('ann@one.test', 'bob@two.test');

    const results = await Promise.all(addresses.map((email) => bulk.verify(email)));
    expect(results.filter((result) => result.reason === 'mailbox_not_found')).toHaveLength(25);
    const refusedPerSession = [...w.logs.get('127.0.0.81')!.refusedBySession.values()];
    expect(Math.max(...refusedPerSession)).toBeLessThanOrEqual(3);
    expect(refusedPerSession.reduce((sum, count) => sum + count, 0)).toBe(25);
  });

  it('never opens more sessions to one server than the per-host cap', async () => {
    const w = await sharedWorld();
    const bulk = bulkIn(w, {
      perHostConcurrency: 2,
      concurrency: 10,
      maxRejectedPerSession: 1,
      catchAllProbe: false,
    });
    const addresses = Array.from({ length: 30 }, (_, index) => `nobody${index}@two.test`);

    await Promise.all(addresses.map((email) => bulk.verify(email)));
    const log = w.logs.get('127.0.0.81')!;
    expect(log.connections).toBeGreaterThanOrEqual(15);
    expect(log.peakOpen).toBeLessThanOrEqual(2);
  });

  it('asks a duplicate address once and answers every copy', async () => {
    const w = await sharedWorld();
    const bulk = bulkIn(w, { catchAllProbe: false });
    const addresses = ['ann@one.test', 'ANN@one.test', 'ann@ONE.test', 'ann@one.test'];

    const results = await Promise.all(addresses.map((email) => bulk.verify(email)));
    expect(results.map((result) => result.email)).toEqual(addresses);
    expect(w.logs.get('127.0.0.81')!.rcptTo.filter((rcpt) => rcpt === 'ann@one.test')).toHaveLength(
      1,
    );
  });

  it('retries greylisted recipients without holding up the rest', async () => {
    const w = await sharedWorld();
    const bulk = bulkIn(w, { greylistRetry: [1], catchAllProbe: false });
    const finishedAt = new Map<string, number>();
    const started = Date.now();
    const track = (email: string) =>
      bulk.verify(email).then((result) => {
        finishedAt.set(email, Date.now() - started);
        return result;
      });

    const [grey, ann] = await Promise.all([track('ann@grey.test'), track('ann@one.test')]);
    expect(grey).toMatchObject({ verdict: 'deliverable', reason: 'accepted' });
    expect(grey.evidence?.attempts).toBe(2);
    expect(ann.verdict).toBe('deliverable');
    expect(finishedAt.get('ann@grey.test')!).toBeGreaterThanOrEqual(1_000);
    expect(finishedAt.get('ann@one.test')!).toBeLessThan(900);
  });

  it('probes catch-all once per domain per run, in a session of its own', async () => {
    const w = await sharedWorld();
    const bulk = bulkIn(w);
    const addresses = ['ann', 'bob', 'cid'].map((local) => `${local}@catchall.test`);

    const results = await Promise.all(addresses.map((email) => bulk.verify(email)));
    expect(results.every((result) => result.reason === 'catch_all')).toBe(true);
    const sessions = [...w.logs.get('127.0.0.82')!.sessions.values()];
    const probeSessions = sessions.filter(
      (rcpts) => !rcpts.some((rcpt) => addresses.includes(rcpt)),
    );
    expect(probeSessions).toHaveLength(1);
    expect(probeSessions[0]).toHaveLength(1);
  });

  it('asks no made-up recipient of a domain that refused a real one as unknown', async () => {
    const w = await sharedWorld();
    const bulk = bulkIn(w);
    const addresses = ['ann@one.test', 'nobody@one.test', 'bob@one.test', 'cid@two.test'];

    const results = await Promise.all(addresses.map((email) => bulk.verify(email)));
    expect(results.map(summary)).toEqual([
      ['ann@one.test', 'deliverable', 'accepted', false],
      ['nobody@one.test', 'undeliverable', 'mailbox_not_found', null],
      ['bob@one.test', 'deliverable', 'accepted', false],
      ['cid@two.test', 'deliverable', 'accepted', false],
    ]);
    // one.test showed a refusal; two.test had nothing else to show, so it was probed.
    const asked = w.logs.get('127.0.0.81')!.rcptTo;
    const madeUp = asked.filter((rcpt) => !addresses.includes(rcpt));
    expect(madeUp).toHaveLength(1);
    expect(madeUp[0]).toMatch(/^[a-z0-9]{20}@two\.test$/);
  });

  it('learns a greylisting domain is not catch-all from its retried recipients', async () => {
    const w = await world(
      { '127.0.0.88': { kind: 'smtp', mailboxes: ['ann', 'bob'], greylistCount: 1 } },
      { 'grey.test': mxTo('mx.grey.test'), 'mx.grey.test': { A: ['127.0.0.88'] } },
    );
    const bulk = bulkIn(w, { greylistRetry: [0.2] });
    const addresses = ['ann@grey.test', 'nobody@grey.test', 'bob@grey.test'];

    const results = await Promise.all(addresses.map((email) => bulk.verify(email)));
    expect(results.map(summary)).toEqual([
      ['ann@grey.test', 'deliverable', 'accepted', false],
      ['nobody@grey.test', 'undeliverable', 'mailbox_not_found', null],
      ['bob@grey.test', 'deliverable', 'accepted', false],
    ]);
    // A made-up recipient would only have been greylisted in turn: none was asked.
    const asked = new Set(w.logs.get('127.0.0.88')!.rcptTo);
    expect([...asked].sort()).toEqual([...addresses].sort());
  });

  it('takes the recipients of domains sharing a server in turn, not in input order', async () => {
    const w = await sharedWorld();
    const bulk = bulkIn(w, { perHostConcurrency: 1, catchAllProbe: false });
    // The domains' DNS answers are in hand, so the whole list is queued at once.
    await Promise.all(['one', 'two', 'three'].map((domain) => bulk.verify(`ann@${domain}.test`)));
    const grouped = ['one', 'two', 'three'].flatMap((domain) =>
      ['bob', 'cid', 'dee', 'eve'].map((local) => `${local}@${domain}.test`),
    );

    await Promise.all(grouped.map((email) => bulk.verify(email)));
    const sessions = [...w.logs.get('127.0.0.81')!.sessions.values()];
    const asked = sessions.find((rcpts) => rcpts.includes('bob@one.test'))!;
    expect(asked.slice(0, 6)).toEqual([
      'bob@one.test',
      'bob@two.test',
      'bob@three.test',
      'cid@one.test',
      'cid@two.test',
      'cid@three.test',
    ]);
  });

  it('asks the recipients of a greylisting domain before the rest', async () => {
    const w = await world(
      {
        '127.0.0.87': {
          kind: 'smtp',
          mailboxes: ['ann', 'bob', 'cid', 'dee'],
          greylistCount: 1,
          greylistDomains: ['grey.test'],
        },
      },
      {
        'grey.test': mxTo('mx.mixed.test'),
        'plain.test': mxTo('mx.mixed.test'),
        'mx.mixed.test': { A: ['127.0.0.87'] },
      },
    );
    const bulk = bulkIn(w, { perHostConcurrency: 1, greylistRetry: [0.2], catchAllProbe: false });
    // The first answer from grey.test is a deferral: the run learns it greylists.
    const warmUp = await Promise.all([bulk.verify('ann@grey.test'), bulk.verify('ann@plain.test')]);
    expect(warmUp.map((result) => result.verdict)).toEqual(['deliverable', 'deliverable']);
    const askedBefore = w.logs.get('127.0.0.87')!.rcptTo.length;

    const plain = ['bob', 'cid', 'dee'].map((local) => `${local}@plain.test`);
    const grey = ['bob', 'cid', 'dee'].map((local) => `${local}@grey.test`);
    const results = await Promise.all([...plain, ...grey].map((email) => bulk.verify(email)));

    expect(results.every((result) => result.verdict === 'deliverable')).toBe(true);
    const asked = w.logs.get('127.0.0.87')!.rcptTo.slice(askedBefore);
    expect(asked.slice(0, 3)).toEqual(grey);
    expect(asked.filter((rcpt) => rcpt.endsWith('@grey.test'))).toHaveLength(6);
  });

  it('lets recipients of a catch-all domain ride beyond the refusals left, one kept in reserve', async () => {
    // One server: everything at open.test is accepted, at strict.test only
    // ann exists. It counts the RCPTs of each pipelined write and the
    // refusals of each session.
    const writes: { riders: number; others: number }[] = [];
    const refusedPerSession: number[] = [];
    const mixed: HostSpec = {
      kind: 'raw',
      onConnection(socket) {
        const session = refusedPerSession.push(0) - 1;
        writeLines(socket, '220 mixed ESMTP');
        socket.on('data', (chunk: Buffer) => {
          const lines = chunk.toString().split('\r\n').filter(Boolean);
          const rcpts = lines.filter((line) => /^RCPT/i.test(line));
          const riders = rcpts.filter((line) => /@open\.test>/i.test(line)).length;
          writes.push({ riders, others: rcpts.length - riders });
          for (const line of lines) {
            const verb = line.slice(0, 4).toUpperCase();
            if (verb === 'EHLO') writeLines(socket, '250-mixed', '250 PIPELINING');
            else if (verb === 'RCPT') {
              const isKnown = /<(ann@strict\.test|[^@]+@open\.test)>/i.test(line);
              if (!isKnown) refusedPerSession[session]! += 1;
              writeLines(socket, isKnown ? '250 2.1.5 Ok' : '550 5.1.1 User unknown');
            } else if (verb === 'QUIT') socket.end('221 2.0.0 Bye\r\n');
            else writeLines(socket, '250 2.0.0 Ok');
          }
        });
      },
    };
    const w = await world(
      { '127.0.0.86': mixed },
      {
        'open.test': mxTo('mx.mixed.test'),
        'strict.test': mxTo('mx.mixed.test'),
        'mx.mixed.test': { A: ['127.0.0.86'] },
      },
    );
    const bulk = bulkIn(w, { maxRejectedPerSession: 3, concurrency: 1, perHostConcurrency: 1 });

    // Four accepted open.test recipients settle that the domain is
    // catch-all; the rest then share batches with strict.test's unknowns.
    const first = ['a', 'b', 'c', 'd'].map((local) => `${local}@open.test`);
    first.push('ann@strict.test');
    await Promise.all(first.map((email) => bulk.verify(email)));
    const open = Array.from({ length: 20 }, (_, index) => `user${index}@open.test`);
    const strict = Array.from({ length: 12 }, (_, index) => `nobody${index}@strict.test`);
    const results = await Promise.all([...open, ...strict].map((email) => bulk.verify(email)));

    expect(results.slice(0, 20).every((result) => result.reason === 'catch_all')).toBe(true);
    expect(results.slice(20).every((result) => result.reason === 'mailbox_not_found')).toBe(true);
    expect(Math.max(...refusedPerSession)).toBeLessThanOrEqual(3);
    // Some write carried more RCPTs than the cap, and none with riders
    // aboard asked more than two recipients that could be refused.
    expect(Math.max(...writes.map((write) => write.riders + write.others))).toBeGreaterThan(3);
    expect(writes.filter((write) => write.riders > 0 && write.others > 2)).toEqual([]);
  });

  it('shares the first sessions among servers whose recipients arrive together', async () => {
    const w = await world(
      {
        '127.0.0.88': { kind: 'smtp', mailboxes: ['ann'] },
        '127.0.0.89': { kind: 'smtp', mailboxes: ['ann'] },
      },
      {
        'first.test': mxTo('mx.first.test'),
        'second.test': mxTo('mx.second.test'),
        'mx.first.test': { A: ['127.0.0.88'] },
        'mx.second.test': { A: ['127.0.0.89'] },
      },
    );
    const opened: string[] = [];
    const tcp = createTcpOpener();
    const bulk = bulkIn(
      w,
      { concurrency: 2, perHostConcurrency: 2, maxRejectedPerSession: 9, catchAllProbe: false },
      {
        opener: (target, timeoutMs) => {
          opened.push(target.ip);
          return tcp(target, timeoutMs);
        },
      },
    );

    // Both domains' DNS answers are known, so all twenty recipients are
    // queued in one turn: the first server may not take both sessions.
    await Promise.all(['ann@first.test', 'ann@second.test'].map((email) => bulk.verify(email)));
    opened.length = 0;
    const addresses = ['first', 'second'].flatMap((domain) =>
      Array.from({ length: 10 }, (_, index) => `user${index}@${domain}.test`),
    );
    await Promise.all(addresses.map((email) => bulk.verify(email)));

    expect(new Set(opened.slice(0, 2))).toEqual(new Set(['127.0.0.88', '127.0.0.89']));
  });

  it('moves the rest of a batch to a new session after 421', async () => {
    let rcptCount = 0;
    const flaky: HostSpec = {
      kind: 'raw',
      onConnection(socket) {
        socket.write('220 flaky ESMTP\r\n');
        socket.on('data', (chunk: Buffer) => {
          for (const line of chunk.toString().split('\r\n').filter(Boolean)) {
            const verb = line.slice(0, 4).toUpperCase();
            if (verb === 'EHLO') socket.write('250-flaky\r\n250 8BITMIME\r\n');
            else if (verb === 'MAIL') socket.write('250 2.1.0 Ok\r\n');
            else if (verb === 'RCPT') {
              rcptCount += 1;
              if (rcptCount === 2) {
                socket.end('421 4.7.0 Too many errors, closing\r\n');
              } else socket.write('250 2.1.5 Ok\r\n');
            } else if (verb === 'QUIT') socket.end('221 bye\r\n');
            else socket.write('250 Ok\r\n');
          }
        });
      },
    };
    const w = await world(
      { '127.0.0.85': flaky },
      { 'flaky.test': mxTo('mx.flaky.test'), 'mx.flaky.test': { A: ['127.0.0.85'] } },
    );
    const bulk = bulkIn(w, { catchAllProbe: false });

    const addresses = ['a', 'b', 'c', 'd'].map((local) => `${local}@flaky.test`);
    const results = await Promise.all(addresses.map((email) => bulk.verify(email)));
    expect(results.map((result) => result.verdict)).toEqual(Array(4).fill('deliverable'));
    expect(w.logs.get('127.0.0.85')!.connections).toBe(2);
  });

  it('answers a second run from the store without asking the server', async () => {
    const w = await sharedWorld();
    const lifetimes = { deliverable: 3600, undeliverable: 3600, risky: 3600, unknown: 60 };
    const store = new SqliteStore({ path: ':memory:', lifetimes });
    const addresses = ['ann@one.test', 'nobody@two.test', 'anyone@catchall.test'];

    const first = await Promise.all(
      addresses.map((email) => bulkIn(w, {}, { store }).verify(email)),
    );
    const rcptsAfterFirst = w.logs.get('127.0.0.81')!.rcptTo.length;
    const second = bulkIn(w, {}, { store });
    const again = await Promise.all(addresses.map((email) => second.verify(email)));

    expect(again.map(summary)).toEqual(first.map(summary));
    expect(w.logs.get('127.0.0.81')!.rcptTo.length).toBe(rcptsAfterFirst);
    expect(second.stats().cacheHits).toBe(3);
  });

  it('rejects waiting verifications with BulkClosedError on close', async () => {
    const silent = scriptedServer('220 slow ESMTP', { EHLO: ['250 slow'], MAIL: [] });
    const w = await world(
      { '127.0.0.86': silent },
      { 'slow.test': mxTo('mx.slow.test'), 'mx.slow.test': { A: ['127.0.0.86'] } },
    );
    const bulk = bulkIn(w, { catchAllProbe: false });

    const pending = bulk.verify('ann@slow.test');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await bulk.close();
    await expect(pending).rejects.toBeInstanceOf(BulkClosedError);
    await expect(bulk.verify('bob@slow.test')).rejects.toBeInstanceOf(BulkClosedError);
  });
});
