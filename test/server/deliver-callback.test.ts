import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import {
  CALLBACK_RETRY_DELAYS_MS,
  callbackBody,
  checkCallbackUrl,
  createCallbackDeliverer,
  createGuardedPoster,
  signCallback,
} from '../../src/server/deliver-callback.js';
import type { CallbackRequest, PostOutcome } from '../../src/server/deliver-callback.js';
import { openSqlite } from '../../src/store/sqlite-database.js';
import { SqliteJobStore } from '../../src/store/sqlite-job-store.js';
import type { Clock } from '../../src/verify/types.js';
import { scriptedResult } from '../helpers/scripted-verifier.js';

const SECRET = 'whsec_test_0123456789';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

async function startReceiver(status = 204) {
  const received: Received[] = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      received.push({ headers: request.headers, body });
      response.writeHead(status).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks/mailverify`, received };
}

function fakeClock(start = 1_750_000_000_000): Clock & { advance(ms: number): void } {
  let now = start;
  return { now: () => now, sleep: async () => undefined, advance: (ms) => void (now += ms) };
}

/** A store holding one finished job with a callback URL. */
async function finishedJobWith(callbackUrl: string, now: number) {
  const jobs = new SqliteJobStore({ db: openSqlite(':memory:'), newId: () => 'job_cb' });
  const opened = await jobs.openJob({ apiKeyId: 'key_1', idempotencyKey: null, callbackUrl }, now);
  if (opened.kind !== 'opened') throw new Error('expected a new job');
  await jobs.appendItems(opened.jobId, ['ann@x.test'], now);
  await jobs.sealJob(opened.jobId, 'fp');
  await jobs.recordResult(opened.jobId, 0, scriptedResult('ann@x.test'), now);
  return jobs;
}

/** How a receiver checks a delivery: the snippet the README shows. */
function isGenuine(secret: string, headers: http.IncomingHttpHeaders, body: string): boolean {
  const timestamp = String(headers['x-mailverify-timestamp']);
  const expected = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  const given = String(headers['x-mailverify-signature']).replace(/^sha256=/, '');
  const isFresh = Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
  return (
    isFresh &&
    given.length === expected.length &&
    timingSafeEqual(Buffer.from(given), Buffer.from(expected))
  );
}

describe('signCallback', () => {
  it('signs the timestamp, a dot and the body with HMAC-SHA256', () => {
    const expected = createHmac('sha256', 'k').update('1700000000.{"a":1}').digest('hex');
    expect(signCallback('k', 1_700_000_000, '{"a":1}')).toBe(`sha256=${expected}`);
  });
});

describe('createCallbackDeliverer', () => {
  it('posts the signed job summary, and records the delivery', async () => {
    const receiver = await startReceiver(204);
    const clock = fakeClock(Date.now());
    const jobs = await finishedJobWith(receiver.url, clock.now());
    const deliverer = createCallbackDeliverer({ jobs, secret: SECRET, clock, allowPrivate: true });

    expect(await deliverer.deliverDue()).toBe(1);

    const [delivery] = receiver.received;
    expect(delivery?.headers['content-type']).toBe('application/json');
    expect(delivery?.headers['x-mailverify-job']).toBe('job_cb');
    expect(delivery?.headers['x-mailverify-attempt']).toBe('1');
    expect(isGenuine(SECRET, delivery!.headers, delivery!.body)).toBe(true);
    expect(isGenuine('another secret', delivery!.headers, delivery!.body)).toBe(false);
    const body = JSON.parse(delivery!.body) as { job: Record<string, unknown> };
    expect(body.job).toMatchObject({ id: 'job_cb', status: 'completed', total: 1, done: 1 });
    expect(body.job).not.toHaveProperty('callback');
    expect(body.job).not.toHaveProperty('apiKeyId');

    expect((await jobs.getJob('job_cb'))?.callback).toMatchObject({
      state: 'delivered',
      attempts: 1,
      lastStatus: 204,
    });
    expect(await deliverer.deliverDue()).toBe(0);
  });

  it('retries with growing delays and gives up after six tries', async () => {
    const clock = fakeClock();
    const jobs = await finishedJobWith('https://hooks.example.com/x', clock.now());
    const posts: CallbackRequest[] = [];
    const post = async (request: CallbackRequest): Promise<PostOutcome> => {
      posts.push(request);
      return { kind: 'answered', status: 503 };
    };
    const deliverer = createCallbackDeliverer({
      jobs,
      secret: SECRET,
      clock,
      allowPrivate: false,
      post,
    });

    await deliverer.deliverDue();
    for (const delay of CALLBACK_RETRY_DELAYS_MS) {
      const callback = (await jobs.getJob('job_cb'))?.callback;
      expect(callback?.nextAttemptAt).toBe(new Date(clock.now() + delay).toISOString());
      clock.advance(delay - 1);
      expect(await deliverer.deliverDue()).toBe(0);
      clock.advance(1);
      expect(await deliverer.deliverDue()).toBe(1);
    }

    expect(posts.map((request) => request.headers['x-mailverify-attempt'])).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
    ]);
    expect((await jobs.getJob('job_cb'))?.callback).toMatchObject({
      state: 'failed',
      attempts: 6,
      lastStatus: 503,
      lastError: 'the receiver answered 503',
    });
    const totalMs = CALLBACK_RETRY_DELAYS_MS.reduce((sum, delay) => sum + delay, 0);
    expect(totalMs).toBeGreaterThan(55 * 60_000);
    expect(totalMs).toBeLessThan(65 * 60_000);
  });

  it('stops at once when the guard refuses the target', async () => {
    const clock = fakeClock();
    const jobs = await finishedJobWith('http://127.0.0.1:9/x', clock.now());
    const deliverer = createCallbackDeliverer({ jobs, secret: SECRET, clock, allowPrivate: false });

    await deliverer.deliverDue();
    expect((await jobs.getJob('job_cb'))?.callback).toMatchObject({
      state: 'failed',
      attempts: 1,
      lastError: '127.0.0.1 is a private or reserved address',
    });
  });

  it('fails a callback that is due while no secret is configured, without posting', async () => {
    const clock = fakeClock();
    const jobs = await finishedJobWith('https://hooks.example.com/x', clock.now());
    let posts = 0;
    const post = async (): Promise<PostOutcome> => {
      posts += 1;
      return { kind: 'answered', status: 200 };
    };
    const deliverer = createCallbackDeliverer({
      jobs,
      secret: '',
      clock,
      allowPrivate: false,
      post,
    });

    await deliverer.deliverDue();
    expect(posts).toBe(0);
    expect((await jobs.getJob('job_cb'))?.callback?.state).toBe('failed');
  });

  it('keeps a connection failure as the reason and retries', async () => {
    const clock = fakeClock();
    const jobs = await finishedJobWith('https://hooks.example.com/x', clock.now());
    const post = async (): Promise<PostOutcome> => ({ kind: 'failed', error: 'ECONNRESET' });
    const deliverer = createCallbackDeliverer({
      jobs,
      secret: SECRET,
      clock,
      allowPrivate: false,
      post,
    });

    await deliverer.deliverDue();
    expect((await jobs.getJob('job_cb'))?.callback).toMatchObject({
      state: 'pending',
      lastStatus: null,
      lastError: 'ECONNRESET',
    });
  });
});

describe('createGuardedPoster', () => {
  const request = (url: string): CallbackRequest => ({
    url,
    body: '{}',
    headers: { 'content-type': 'application/json' },
    timeoutMs: 2_000,
  });

  it('reaches a loopback receiver only when private targets are allowed', async () => {
    const receiver = await startReceiver(200);

    const refused = await createGuardedPoster({ allowPrivate: false })(request(receiver.url));
    expect(refused).toEqual({
      kind: 'refused',
      reason: '127.0.0.1 is a private or reserved address',
    });
    expect(receiver.received).toHaveLength(0);

    const allowed = await createGuardedPoster({ allowPrivate: true })(request(receiver.url));
    expect(allowed).toEqual({ kind: 'answered', status: 200 });
    expect(receiver.received).toHaveLength(1);
  });

  it('refuses a host name that resolves to loopback, before connecting', async () => {
    const receiver = await startReceiver(200);
    const port = new URL(receiver.url).port;
    const lookupHost = async () => [{ address: '127.0.0.1', family: 4 }];

    const outcome = await createGuardedPoster({ allowPrivate: false, lookupHost })(
      request(`http://rebind.example.com:${port}/x`),
    );
    expect(outcome).toEqual({
      kind: 'refused',
      reason: 'rebind.example.com points at a private, loopback or reserved address',
    });
    expect(receiver.received).toHaveLength(0);
  });

  it('connects to the address the guarded lookup allowed', async () => {
    const receiver = await startReceiver(202);
    const port = new URL(receiver.url).port;
    const lookupHost = async () => [{ address: '127.0.0.1', family: 4 }];

    const outcome = await createGuardedPoster({ allowPrivate: true, lookupHost })(
      request(`http://hooks.internal.test:${port}/x`),
    );
    expect(outcome).toEqual({ kind: 'answered', status: 202 });
    expect(receiver.received[0]?.headers.host).toBe(`hooks.internal.test:${port}`);
  });

  it('reports a refused connection as a failure', async () => {
    const outcome = await createGuardedPoster({ allowPrivate: true })(
      request('http://127.0.0.1:9/'),
    );
    expect(outcome).toEqual({ kind: 'failed', error: 'ECONNREFUSED' });
  });
});

describe('checkCallbackUrl', () => {
  const publicLookup = async () => [{ address: '93.184.215.14', family: 4 }];
  const guard = { allowPrivate: false, lookupHost: publicLookup };

  it('accepts an https URL whose host resolves to a public address', async () => {
    expect(await checkCallbackUrl('https://hooks.example.com/mailverify?t=1', guard)).toBeNull();
  });

  it('refuses other schemes, credentials, relative and overlong URLs', async () => {
    expect(await checkCallbackUrl('ftp://hooks.example.com/', guard)).toBe(
      'must use http or https',
    );
    expect(await checkCallbackUrl('https://u:p@hooks.example.com/', guard)).toBe(
      'must not carry a user name or password',
    );
    expect(await checkCallbackUrl('/hooks', guard)).toBe('must be an absolute http or https URL');
    expect(await checkCallbackUrl(`https://a.example/${'x'.repeat(2_100)}`, guard)).toMatch(
      /at most 2048/,
    );
  });

  it('refuses loopback, private and metadata targets unless private targets are allowed', async () => {
    const loopback = async () => [{ address: '127.0.0.1', family: 4 }];
    expect(
      await checkCallbackUrl('http://localhost:8080/', {
        allowPrivate: false,
        lookupHost: loopback,
      }),
    ).toBe('localhost points at a private, loopback or reserved address');
    expect(await checkCallbackUrl('http://169.254.169.254/latest', guard)).toMatch(/private/);
    expect(await checkCallbackUrl('http://[::1]:80/', guard)).toMatch(/private/);
    expect(await checkCallbackUrl('http://10.1.2.3/', { ...guard, allowPrivate: true })).toBeNull();
  });

  it('refuses a host that does not resolve', async () => {
    const missing = async () => {
      throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    };
    expect(
      await checkCallbackUrl('https://nowhere.invalid/', {
        allowPrivate: false,
        lookupHost: missing,
      }),
    ).toBe('nowhere.invalid does not resolve (ENOTFOUND)');
  });
});

describe('callbackBody', () => {
  it('is the job summary under "job"', async () => {
    const jobs = await finishedJobWith('https://hooks.example.com/x', 0);
    const job = (await jobs.getJob('job_cb'))!;
    expect(JSON.parse(callbackBody(job))).toEqual({
      job: {
        id: 'job_cb',
        status: 'completed',
        total: 1,
        done: 1,
        counts: { deliverable: 1, undeliverable: 0, risky: 0, unknown: 0 },
        createdAt: new Date(0).toISOString(),
        startedAt: null,
        finishedAt: new Date(0).toISOString(),
        error: null,
      },
    });
  });
});
