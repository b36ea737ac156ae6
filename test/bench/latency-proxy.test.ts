import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';

import { startBenchMailServer } from './bench-mail-server.js';
import { startLatencyProxy } from './latency-proxy.js';
import { RawConnection } from '../helpers/smtp-servers.js';

const RTT_MS = 100;
/** Timers may fire a millisecond early on each of the two half trips. */
const EARLY_MS = 5;

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function connectThroughProxy(): Promise<{ connection: RawConnection; connectedAt: number }> {
  const server = await startBenchMailServer({
    ip: '127.0.0.1',
    port: 0,
    name: 'mx1.mailhost.test',
    decideRcpt: () => null,
  });
  cleanups.push(() => server.close());
  const proxy = await startLatencyProxy({
    ip: '127.0.0.2',
    port: server.port,
    upstream: { ip: server.ip, port: server.port },
    rttMs: RTT_MS,
  });
  cleanups.push(() => proxy.close());

  const connectedAt = Date.now();
  const socket = net.connect({ host: '127.0.0.2', port: server.port });
  await once(socket, 'connect');
  cleanups.push(() => void socket.destroy());
  return { connection: new RawConnection(socket), connectedAt };
}

async function readLines(connection: RawConnection, count: number): Promise<string[]> {
  const lines: string[] = [];
  for (let index = 0; index < count; index += 1) lines.push((await connection.readLine()) ?? '');
  return lines;
}

describe('startLatencyProxy', () => {
  it('makes the banner arrive two round trips after the connection starts', async () => {
    const { connection, connectedAt } = await connectThroughProxy();

    expect(await connection.readLine()).toMatch(/^220 /);
    const elapsed = Date.now() - connectedAt;
    expect(elapsed).toBeGreaterThanOrEqual(2 * RTT_MS - EARLY_MS);
    expect(elapsed).toBeLessThan(3 * RTT_MS);
  });

  it('charges one round trip per command that waits for its reply', async () => {
    const { connection } = await connectThroughProxy();
    await connection.readLine();

    const startedAt = Date.now();
    await connection.write('HELO a.test\r\n');
    await connection.readLine();
    await connection.write('MAIL FROM:<a@a.test>\r\n');
    await connection.readLine();

    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(2 * RTT_MS - EARLY_MS);
  });

  it('returns the replies to pipelined commands together, one round trip later', async () => {
    const { connection } = await connectThroughProxy();
    await connection.readLine();

    const startedAt = Date.now();
    const rcpts = Array.from({ length: 10 }, (_, index) => `RCPT TO:<u${index}@a.test>\r\n`);
    await connection.write(`HELO a.test\r\nMAIL FROM:<a@a.test>\r\n${rcpts.join('')}`);
    const replies = await readLines(connection, 12);
    const elapsed = Date.now() - startedAt;

    expect(replies.slice(2).every((reply) => reply === '250 2.1.5 Ok')).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(RTT_MS - EARLY_MS);
    expect(elapsed).toBeLessThan(2 * RTT_MS);
  });

  it('delivers the reply to QUIT and then the server closing the connection', async () => {
    const { connection } = await connectThroughProxy();
    await connection.readLine();

    await connection.write('QUIT\r\n');

    expect(await connection.readLine()).toBe('221 2.0.0 Bye');
    await connection.closed;
  });
});
