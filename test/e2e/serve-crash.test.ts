/**
 * The durability promise of jobs, shown on the built service: `mailverify
 * serve` runs as a child process against a loopback world (DNS server and
 * a slow mail server), takes a job of 200 addresses, and is killed with
 * SIGKILL in the middle of it: no shutdown code runs, leases stay held,
 * results in memory are lost. A second process on the same database must
 * resume the job once the lease expires and finish it, with every
 * address's result recorded exactly once, and without asking the mail
 * server again about addresses whose result was already recorded.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDnsServer } from '../helpers/dns-server.js';
import type { DnsServer } from '../helpers/dns-server.js';

const CLI = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
const ADDRESSES = 200;
const DOMAINS = ['alpha.test', 'beta.test', 'gamma.test', 'delta.test'];
/** Per RCPT: with three sessions at once, 200 addresses take about five seconds. */
const RCPT_DELAY_MS = 70;
const LEASE_SECONDS = 2;

interface Rcpt {
  address: string;
  at: number;
}

interface Service {
  child: ChildProcess;
  url: string;
  stderr: () => string;
}

let dns: DnsServer;
let smtp: SMTPServer;
let smtpPort: number;
let folder: string;
const rcpts: Rcpt[] = [];
const children = new Set<ChildProcess>();

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error('the command is not built: run npm run build');
  folder = mkdtempSync(join(tmpdir(), 'mailverify-crash-'));

  // Mailboxes user0..user199 exist; every RCPT answer takes a while.
  smtp = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    onRcptTo(address, _session, callback) {
      rcpts.push({ address: address.address, at: Date.now() });
      const isKnown = /^user\d+@/.test(address.address);
      setTimeout(() => {
        if (isKnown) return callback();
        const refusal = Object.assign(new Error('5.1.1 User unknown'), { responseCode: 550 });
        callback(refusal);
      }, RCPT_DELAY_MS);
    },
    onData(stream, _session, callback) {
      stream.resume();
      stream.on('end', () => callback(new Error('no data here')));
    },
  });
  // The first service dies with sessions open: their sockets reset, which
  // smtp-server reports as an 'error' event that would otherwise be thrown.
  smtp.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') throw error;
  });
  smtp.listen(0, '127.0.0.1');
  await once(smtp.server, 'listening');
  smtpPort = (smtp.server.address() as AddressInfo).port;

  const zone = Object.fromEntries(
    DOMAINS.map((domain) => [domain, { MX: [{ preference: 10, exchange: 'mx.slow.test' }] }]),
  );
  dns = await startDnsServer({ ...zone, 'mx.slow.test': { A: ['127.0.0.1'] } });
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await new Promise<void>((resolve) => (smtp ? smtp.close(() => resolve()) : resolve()));
  await dns?.close();
  if (folder) rmSync(folder, { recursive: true, force: true });
});

/** Starts `mailverify serve` and waits for its listening line. */
async function startService(): Promise<Service> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  Object.assign(env, {
    MAILVERIFY_DATABASE: join(folder, 'service.db'),
    MAILVERIFY_REQUIRE_API_KEY: 'false',
    MAILVERIFY_JOB_LEASE: String(LEASE_SECONDS),
    MAILVERIFY_HELO_NAME: 'verifier.mailverify.test',
    MAILVERIFY_MAIL_FROM: 'probe@verifier.mailverify.test',
    MAILVERIFY_LOG_LEVEL: 'warn',
    MAILVERIFY_SHUTDOWN_GRACE: '5',
  });
  const args = [
    CLI,
    'serve',
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--allow-private-mx',
    '--dns-server',
    dns.server,
    '--smtp-port',
    String(smtpPort),
    '--greylist-retry',
    '0',
    '--no-catch-all',
  ];
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));

  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(
      () => reject(new Error(`no listening line; stderr:\n${stderr}`)),
      15_000,
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const match = /mailverify listening on (http:\/\/\S+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}; stderr:\n${stderr}`));
    });
  });
  return { child, url, stderr: () => stderr };
}

interface JobBody {
  job: { id: string; status: string; total: number; done: number; counts: Record<string, number> };
}

async function getJob(service: Service, id: string): Promise<JobBody['job']> {
  const response = await fetch(`${service.url}/v1/jobs/${id}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as JobBody).job;
}

async function readResults(service: Service, id: string) {
  const response = await fetch(`${service.url}/v1/jobs/${id}/results`);
  expect(response.status).toBe(200);
  const text = await response.text();
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { seq: number; email: string; verdict: string });
}

async function waitFor<T>(what: string, read: () => Promise<T>, isDone: (value: T) => boolean) {
  const deadline = Date.now() + 45_000;
  for (;;) {
    const value = await read();
    if (isDone(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('mailverify serve, killed mid-job', () => {
  it('resumes the job after SIGKILL and records every address exactly once', async () => {
    const emails = Array.from(
      { length: ADDRESSES },
      (_, index) => `user${index}@${DOMAINS[index % DOMAINS.length]}`,
    );

    const first = await startService();
    const created = await fetch(`${first.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ emails }),
    });
    expect(created.status).toBe(202);
    const { job } = (await created.json()) as JobBody;

    // Mid-job: some results recorded, most not.
    const before = await waitFor(
      'the first results',
      () => getJob(first, job.id),
      (state) => state.done >= 10,
    );
    expect(before.done).toBeLessThan(ADDRESSES / 2);
    const recordedBefore = await readResults(first, job.id);
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    const killedAt = Date.now();
    const afterKill = rcpts.length;

    const second = await startService();
    const finished = await waitFor(
      'the job to complete after the restart',
      () => getJob(second, job.id),
      (state) => state.status === 'completed',
    );
    const resumeSeconds = (Date.now() - killedAt) / 1000;

    expect(finished.total).toBe(ADDRESSES);
    expect(finished.done).toBe(ADDRESSES);
    expect(Object.values(finished.counts).reduce((sum, count) => sum + count, 0)).toBe(ADDRESSES);
    expect(finished.counts.deliverable).toBe(ADDRESSES);

    const results = await readResults(second, job.id);
    expect(results).toHaveLength(ADDRESSES);
    expect(results.map((line) => line.seq)).toEqual(emails.map((_, seq) => seq));
    expect(results.map((line) => line.email)).toEqual(emails);

    // What was recorded before the kill was never asked again.
    const askedAfter = new Set(rcpts.slice(afterKill).map((rcpt) => rcpt.address));
    const askedAgain = recordedBefore.filter((line) => askedAfter.has(line.email));
    expect(askedAgain).toEqual([]);
    expect(recordedBefore.length).toBeGreaterThanOrEqual(before.done);

    // A SIGTERM now is a graceful stop.
    second.child.kill('SIGTERM');
    const [code] = (await once(second.child, 'exit')) as [number | null];
    expect(code, second.stderr()).toBe(0);

    console.info(
      `serve-crash: ${recordedBefore.length} results before SIGKILL, ` +
        `${ADDRESSES - recordedBefore.length} after; completed ${resumeSeconds.toFixed(1)} s after the kill`,
    );
  }, 90_000);
});
