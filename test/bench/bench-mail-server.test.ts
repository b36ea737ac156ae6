import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';

import { startBenchMailServer } from './bench-mail-server.js';
import type { BenchMailServer, BenchMailServerOptions } from './bench-mail-server.js';
import { RawConnection } from '../helpers/smtp-servers.js';

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const USER_UNKNOWN = (recipient: string) =>
  `550 5.1.1 <${recipient}>: Recipient address rejected: User unknown`;

async function startServer(options: Partial<BenchMailServerOptions> = {}) {
  const server = await startBenchMailServer({
    ip: '127.0.0.1',
    port: 0,
    name: 'mx1.mailhost.test',
    decideRcpt: (recipient) => (recipient.startsWith('ok') ? null : USER_UNKNOWN(recipient)),
    ...options,
  });
  cleanups.push(() => server.close());
  return server;
}

async function connect(server: BenchMailServer): Promise<RawConnection> {
  const socket = net.connect({ host: server.ip, port: server.port });
  await once(socket, 'connect');
  const connection = new RawConnection(socket);
  cleanups.push(() => void socket.destroy());
  return connection;
}

/** Reads lines up to the last line of one reply ("250 " rather than "250-"). */
async function readReply(connection: RawConnection): Promise<string[]> {
  const lines: string[] = [];
  for (let count = 0; count < 20; count += 1) {
    const line = await connection.readLine(5_000);
    if (line === null) return lines;
    lines.push(line);
    if (line[3] !== '-') return lines;
  }
  return lines;
}

/** The server sees a close a moment after the client does. */
async function waitUntil(condition: () => boolean): Promise<void> {
  for (let tries = 0; tries < 100 && !condition(); tries += 1) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('startBenchMailServer', () => {
  it('greets like Postfix and offers PIPELINING in its EHLO reply', async () => {
    const server = await startServer();
    const connection = await connect(server);

    expect(await connection.readLine()).toBe('220 mx1.mailhost.test ESMTP Postfix');
    await connection.write('EHLO verifier.bench.test\r\n');
    const ehlo = await readReply(connection);

    expect(ehlo[0]).toBe('250-mx1.mailhost.test');
    expect(ehlo).toContain('250-PIPELINING');
  });

  it('answers pipelined commands in order, in one write', async () => {
    const server = await startServer();
    const connection = await connect(server);
    await connection.readLine();
    await connection.write('EHLO verifier.bench.test\r\n');
    await readReply(connection);
    const chunksBefore = connection.chunks.length;

    await connection.write(
      'MAIL FROM:<probe@verifier.bench.test>\r\n' +
        'RCPT TO:<ok@acme.test>\r\nRCPT TO:<nobody@acme.test>\r\n',
    );
    const replies = [
      await connection.readLine(),
      await connection.readLine(),
      await connection.readLine(),
    ];

    expect(replies).toEqual(['250 2.1.0 Ok', '250 2.1.5 Ok', USER_UNKNOWN('nobody@acme.test')]);
    expect(connection.chunks.length - chunksBefore).toBe(1);
  });

  it('counts connections, commands, RCPTs and refused RCPTs per session', async () => {
    const server = await startServer();
    const connection = await connect(server);
    await connection.readLine();

    await connection.write(
      'EHLO a.test\r\nMAIL FROM:<a@a.test>\r\nRCPT TO:<ok@b.test>\r\nRCPT TO:<x@b.test>\r\n' +
        'RCPT TO:<y@b.test>\r\nQUIT\r\n',
    );
    await connection.closed;
    await waitUntil(() => server.counters.openSessions === 0);

    expect(server.counters).toMatchObject({
      connections: 1,
      commands: 6,
      rcpts: 3,
      rejectedRcpts: 2,
      peakRejectedInSession: 2,
      peakOpenSessions: 1,
      openSessions: 0,
    });
  });

  it('refuses RCPT before MAIL with 503 5.5.1', async () => {
    const server = await startServer();
    const connection = await connect(server);
    await connection.readLine();

    await connection.write('EHLO a.test\r\n');
    await readReply(connection);
    await connection.write('RCPT TO:<ok@b.test>\r\n');

    expect(await connection.readLine()).toBe('503 5.5.1 Error: need MAIL command');
  });

  it('delays every reply after 10 errors and drops the session after 20', async () => {
    const server = await startServer({ errorSleepMs: 50 });
    const connection = await connect(server);
    await connection.readLine();
    await connection.write('EHLO a.test\r\n');
    await readReply(connection);
    await connection.write('MAIL FROM:<a@a.test>\r\n');
    await connection.readLine();

    const startedAt = Date.now();
    const rcpts = Array.from({ length: 20 }, (_, index) => `RCPT TO:<no${index}@b.test>\r\n`);
    await connection.write(`${rcpts.join('')}NOOP\r\n`);
    const replies: (string | null)[] = [];
    for (let index = 0; index < 21; index += 1) replies.push(await connection.readLine());
    await connection.closed;

    // Ten replies come at once, the next ten 50 ms apart, then the farewell.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(10 * 50);
    expect(replies.slice(0, 20).every((reply) => reply?.startsWith('550 5.1.1'))).toBe(true);
    expect(replies[20]).toBe('421 4.7.0 mx1.mailhost.test Error: too many errors');
    expect(server.counters).toMatchObject({
      slowedSessions: 1,
      droppedSessions: 1,
      peakRejectedInSession: 20,
    });
  });

  it('counts a DATA command, which a verifier must never send', async () => {
    const server = await startServer();
    const connection = await connect(server);
    await connection.readLine();

    await connection.write('EHLO a.test\r\nDATA\r\n');
    await readReply(connection);

    expect(await connection.readLine()).toMatch(/^554 /);
    expect(server.counters.dataCommands).toBe(1);
  });

  it('restarts the counts on reset, keeping the sessions still open', async () => {
    const server = await startServer();
    const connection = await connect(server);
    await connection.readLine();

    server.resetCounters();

    expect(server.counters).toMatchObject({ connections: 0, openSessions: 1 });
    expect(server.counters.peakOpenSessions).toBe(1);
  });
});
