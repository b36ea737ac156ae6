/**
 * `npm run bench:api`: throughput and latency of cached GET /v1/verify.
 * The built service runs in a child process over a loopback mail world;
 * BENCH_API_ADDRESSES addresses are verified once for real (POST
 * /v1/verify), then autocannon asks for them over and over from
 * BENCH_API_CONNECTIONS connections for BENCH_API_SECONDS, with an API key,
 * as a caller would. Every answer must be a 200 from the cache: the SMTP
 * session count must not move during the run. Prints requests per second,
 * p50 and p99 against the targets; a measurement, so only a crash fails.
 *
 * The rate limit is raised for the run: what is measured is how fast the
 * service answers, not how fast the limiter refuses.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { test } from 'vitest';

import { startTestWorld } from '../helpers/test-world.js';
import { createKeyWithCli, isBuilt, startServiceProcess } from '../helpers/service-process.js';
import { formatTable, passOrFail } from './bench-measure.js';

const TARGET_REQUESTS_PER_SECOND = 2_000;
const TARGET_P99_MS = 50;
const WARM_UP_SECONDS = 2;
const BATCH = 100;
const MAIL_SERVER_IP = '127.0.0.71';
const SHUTDOWN_DEADLINE_MS = 30_000;

const print = (...lines: string[]): void => {
  process.stdout.write(`${lines.join('\n')}\n`);
};

function readKnob(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = Number(env[name] ?? fallback);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}

async function sessionsOpened(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('mailverify_smtp_sessions_total{'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

async function verifyForReal(url: string, key: string, emails: string[]): Promise<void> {
  for (let start = 0; start < emails.length; start += BATCH) {
    const response = await fetch(`${url}/v1/verify`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ emails: emails.slice(start, start + BATCH), timeout: 30 }),
    });
    const body = (await response.json()) as { results?: { verdict: string }[] };
    const isAllDeliverable = body.results?.every((result) => result.verdict === 'deliverable');
    if (response.status !== 200 || !isAllDeliverable) {
      throw new Error(`warming the cache failed: ${response.status} ${JSON.stringify(body)}`);
    }
  }
}

test(
  'measures cached GET /v1/verify under concurrent load',
  async () => {
    if (!isBuilt()) throw new Error('run `npm run build` first (npm run bench:api does)');
    const seconds = readKnob(process.env, 'BENCH_API_SECONDS', 10);
    const connections = readKnob(process.env, 'BENCH_API_CONNECTIONS', 10);
    const count = readKnob(process.env, 'BENCH_API_ADDRESSES', 1_000);

    const mailboxes = Array.from({ length: count }, (_, index) => `user${index}`);
    const emails = mailboxes.map((local) => `${local}@bench.test`);
    const world = await startTestWorld(
      { [MAIL_SERVER_IP]: { kind: 'smtp', mailboxes } },
      {
        'bench.test': { MX: [{ preference: 10, exchange: 'mx.bench.test' }] },
        'mx.bench.test': { A: [MAIL_SERVER_IP] },
      },
    );
    const folder = await mkdtemp(join(tmpdir(), 'mailverify-bench-api-'));
    const database = join(folder, 'service.db');

    try {
      const key = await createKeyWithCli(database, 'bench');
      const service = await startServiceProcess(
        [
          '--port',
          '0',
          '--database',
          database,
          '--allow-private-mx',
          '--dns-server',
          world.dns.server,
          '--smtp-port',
          String(world.port),
          '--helo',
          'verifier.mailverify.test',
          '--from',
          'probe@verifier.mailverify.test',
          '--greylist-retry',
          '0',
        ],
        { MAILVERIFY_API_RATE_LIMIT: '1000000', MAILVERIFY_LOG_LEVEL: 'warn' },
      );

      try {
        await verifyForReal(service.url, key, emails);
        const sessionsBefore = await sessionsOpened(service.url);

        const load = {
          url: service.url,
          connections,
          headers: { Authorization: `Bearer ${key}` },
          requests: emails.map((email) => ({ method: 'GET', path: `/v1/verify?email=${email}` })),
        };
        await autocannon({ ...load, duration: WARM_UP_SECONDS });
        const result = await autocannon({ ...load, duration: seconds });
        const sessionsAfter = await sessionsOpened(service.url);

        const stopStartedAt = Date.now();
        service.child.kill('SIGTERM');
        const exit = await Promise.race([
          service.exited,
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error('no exit after SIGTERM')), SHUTDOWN_DEADLINE_MS),
          ),
        ]);

        const requestsPerSecond = result.requests.total / result.duration;
        print(
          '',
          'mailverify benchmark: cached GET /v1/verify (built service, child process)',
          `  ${count} cached addresses, ${connections} connections, ${seconds} s (after ${WARM_UP_SECONDS} s warm-up)`,
          `  ${availableParallelism()} CPUs shared by the service and autocannon; load average ${loadavg()[0]!.toFixed(2)} at the end`,
          '',
          ...formatTable(
            ['figure', 'value'],
            [
              ['requests', String(result.requests.total)],
              ['requests/s', requestsPerSecond.toFixed(0)],
              ['latency p50 (ms)', String(result.latency.p50)],
              ['latency p90 (ms)', String(result.latency.p90)],
              ['latency p99 (ms)', String(result.latency.p99)],
              ['latency max (ms)', String(result.latency.max)],
              ['non-2xx answers', String(result.non2xx)],
              ['connection errors', String(result.errors)],
              ['SMTP sessions during the run', String(sessionsAfter - sessionsBefore)],
              [
                'exit after SIGTERM',
                `${exit.code ?? exit.signal} in ${Date.now() - stopStartedAt} ms`,
              ],
            ],
          ),
          '',
          passOrFail(
            requestsPerSecond >= TARGET_REQUESTS_PER_SECOND,
            `throughput >= ${TARGET_REQUESTS_PER_SECOND} requests/s`,
          ),
          passOrFail(result.latency.p99 < TARGET_P99_MS, `p99 latency < ${TARGET_P99_MS} ms`),
          passOrFail(
            result.non2xx === 0 && result.errors === 0 && sessionsAfter === sessionsBefore,
            'every answer a 200 from the cache',
          ),
          '',
        );
      } finally {
        if (service.child.exitCode === null) service.child.kill('SIGKILL');
      }
    } finally {
      await world.close();
      await rm(folder, { recursive: true, force: true });
    }
  },
  15 * 60_000,
);
