/**
 * The composed service in-process, over a loopback mail world: real SQLite,
 * real SMTP, real HTTP on an ephemeral port.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { composeService } from '../../src/cli/serve-command.js';
import type { ComposedService } from '../../src/cli/serve-command.js';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/config.js';
import { issueApiKey } from '../../src/server/api-keys.js';
import { verificationResultSchema, verifyPendingSchema } from '../../src/server/verify-schemas.js';
import { SqliteKeyStore } from '../../src/store/sqlite-key-store.js';
import { startTestWorld } from '../helpers/test-world.js';
import type { TestWorld } from '../helpers/test-world.js';
import { jobAnswerSchema } from '../server/answer-schemas.js';

const SLOW_RCPT_MS = 1_500;

let world: TestWorld;
const rcptsAtSlowHost: string[] = [];

/** A mail server that takes SLOW_RCPT_MS to answer each RCPT, like a tarpit. */
function answerSlowly(socket: Socket): void {
  socket.write('220 slow.test ESMTP\r\n');
  socket.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\r\n').filter(Boolean)) {
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') socket.write('250-slow.test\r\n250 8BITMIME\r\n');
      else if (verb === 'RCPT') {
        rcptsAtSlowHost.push(line.slice(8).replace(/[<>]/g, '').toLowerCase());
        setTimeout(() => socket.writable && socket.write('250 2.1.5 Ok\r\n'), SLOW_RCPT_MS);
      } else if (verb === 'QUIT') socket.end('221 bye\r\n');
      else socket.write('250 Ok\r\n');
    }
  });
}

beforeAll(async () => {
  world = await startTestWorld(
    {
      '127.0.0.62': { kind: 'smtp', mailboxes: ['ann', 'bob'] },
      '127.0.0.63': { kind: 'raw', onConnection: answerSlowly },
    },
    {
      'acme.test': { MX: [{ preference: 10, exchange: 'mx.acme.test' }] },
      'mx.acme.test': { A: ['127.0.0.62'] },
      'slow.test': { MX: [{ preference: 10, exchange: 'mx.slow.test' }] },
      'mx.slow.test': { A: ['127.0.0.63'] },
    },
  );
});
afterAll(() => world.close());

const folders: string[] = [];
const services: ComposedService[] = [];
afterEach(async () => {
  await Promise.all(services.splice(0).map((service) => service.stop(1_000)));
  folders.splice(0).forEach((folder) => rmSync(folder, { recursive: true, force: true }));
});

interface Running {
  url: string;
  service: ComposedService;
  headers: Record<string, string>;
}

async function startService(env: Record<string, string> = {}): Promise<Running> {
  const folder = mkdtempSync(join(tmpdir(), 'mailverify-serve-'));
  folders.push(folder);
  const database = join(folder, 'service.db');
  const config = loadConfig({
    env: {
      MAILVERIFY_DATABASE: database,
      MAILVERIFY_PORT: '0',
      MAILVERIFY_DNS_SERVERS: world.dns.server,
      MAILVERIFY_SMTP_PORT: String(world.port),
      MAILVERIFY_ALLOW_PRIVATE_MX: 'true',
      MAILVERIFY_HELO_NAME: 'verifier.mailverify.test',
      MAILVERIFY_MAIL_FROM: 'probe@verifier.mailverify.test',
      MAILVERIFY_GREYLIST_RETRY: '0',
      MAILVERIFY_CATCH_ALL_PROBE: 'false',
      MAILVERIFY_API_TIMEOUT: '5',
      ...env,
    },
  });

  const keys = new SqliteKeyStore({ path: database });
  const { key } = await issueApiKey(keys, 'tests', Date.now());
  await keys.close();

  const service = composeService(config, pino({ level: 'silent' }));
  services.push(service);
  const url = await service.start();
  return { url, service, headers: { Authorization: `Bearer ${key}` } };
}

async function getJson(url: string, headers: Record<string, string>) {
  const response = await fetch(url, { headers });
  return { status: response.status, body: (await response.json()) as unknown, response };
}

async function metric(url: string, prefix: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

describe('mailverify serve, in-process', () => {
  it('verifies over SMTP, then answers the same address from the cache', async () => {
    const { url, headers } = await startService();

    const first = await getJson(`${url}/v1/verify?email=ann@acme.test`, headers);
    expect(first.status).toBe(200);
    expect(verificationResultSchema.parse(first.body)).toMatchObject({
      verdict: 'deliverable',
      reason: 'accepted',
    });
    const sessions = await metric(url, 'mailverify_smtp_sessions_total{outcome="connected"}');
    expect(sessions).toBeGreaterThan(0);

    const second = await getJson(`${url}/v1/verify?email=ann@acme.test`, headers);
    expect(second.body).toMatchObject({ verdict: 'deliverable' });
    expect(await metric(url, 'mailverify_smtp_sessions_total{')).toBe(sessions);
    expect(
      await metric(url, 'mailverify_verifications_total{verdict="deliverable",reason="accepted"}'),
    ).toBe(2);
  });

  it('answers 202 for a slow server, and the job gets the same verification, not a second one', async () => {
    const { url, headers } = await startService();
    rcptsAtSlowHost.length = 0;

    const pending = await getJson(`${url}/v1/verify?email=zed@slow.test&timeout=0.2`, headers);
    expect(pending.status).toBe(202);
    const { poll } = verifyPendingSchema.parse(pending.body);

    let job = jobAnswerSchema.parse((await getJson(`${url}${poll}`, headers)).body).job;
    for (let attempt = 0; attempt < 100 && job.status !== 'completed'; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      job = jobAnswerSchema.parse((await getJson(`${url}${poll}`, headers)).body).job;
    }
    expect(job).toMatchObject({ status: 'completed', total: 1, done: 1 });
    expect(job.counts.deliverable).toBe(1);

    const lines = await (await fetch(`${url}${poll}/results`, { headers })).text();
    expect(JSON.parse(lines.trim())).toMatchObject({ seq: 0, email: 'zed@slow.test' });
    expect(rcptsAtSlowHost.filter((rcpt) => rcpt === 'zed@slow.test')).toHaveLength(1);
  });

  it('lets a request in progress finish during a graceful stop, and refuses new connections', async () => {
    const { url, service, headers } = await startService();

    const inProgress = fetch(`${url}/v1/verify?email=amy@slow.test&timeout=5`, { headers });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stopped = service.stop(10_000);

    // Answered, not cut: 200, or 202 if a loaded machine took longer than 5 s.
    const answer = await inProgress;
    expect([200, 202]).toContain(answer.status);
    expect(answer.headers.get('connection')).toBe('close');
    await stopped;
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('cuts requests still running when the grace is over', async () => {
    const { url, service, headers } = await startService({ MAILVERIFY_API_TIMEOUT_MAX: '30' });

    const inProgress = fetch(`${url}/v1/verify?email=ben@slow.test&timeout=30`, { headers });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const startedAt = Date.now();
    await service.stop(200);

    expect(Date.now() - startedAt).toBeLessThan(5_000);
    await expect(inProgress).rejects.toThrow();
  });

  it('refuses a schedule naming an unknown task at start, listing the known tasks', async () => {
    const schedules = JSON.stringify([{ name: 'nightly', cron: '0 3 * * *', task: 'sync-crm' }]);
    const error = await startService({ MAILVERIFY_SCHEDULES: schedules }).catch((caught) => caught);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain('reverify');
  });

  it('lists configured schedules at /v1/schedules', async () => {
    const schedules = JSON.stringify([{ name: 'nightly', cron: '0 3 * * *', task: 'reverify' }]);
    const { url, headers } = await startService({ MAILVERIFY_SCHEDULES: schedules });

    const { status, body } = await getJson(`${url}/v1/schedules`, headers);
    expect(status).toBe(200);
    expect(body).toMatchObject({ schedules: [{ name: 'nightly', task: 'reverify' }] });
  });

  it('reports ready while the store answers, and not after it is closed', async () => {
    const { url, service } = await startService();
    await fetch(`${url}/readyz`).then((response) => expect(response.status).toBe(200));
    await service.stop(1_000);
    await expect(fetch(`${url}/readyz`)).rejects.toThrow();
  });
});
