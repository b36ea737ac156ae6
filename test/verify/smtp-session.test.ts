import { getEventListeners } from 'node:events';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';

import { createSocks5Opener, createTcpOpener } from '../../src/verify/open-socket.js';
import { SmtpSession } from '../../src/verify/smtp-session.js';
import type { SmtpSessionOptions } from '../../src/verify/smtp-session.js';
import type { SocketOpener, SocketTarget } from '../../src/verify/types.js';
import { createSelfSignedCert } from '../helpers/self-signed-cert.js';
import {
  RawConnection,
  answerPlainly,
  ehloReply,
  findClosedPort,
  sendAnswer,
  startLineServer,
  startRawServer,
  startRecordingSmtpServer,
  startStalledListener,
} from '../helpers/smtp-servers.js';
import type { Answer, LineServerOptions, RawServer } from '../helpers/smtp-servers.js';
import { startSocks5Server } from '../helpers/socks5-server.js';

const HELO_NAME = 'verifier.example.test';
const SENDER = 'probe@verifier.example.test';
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

function track<T extends { close(): Promise<void> }>(server: T): T {
  cleanups.push(() => server.close());
  return server;
}

function open(target: SocketTarget, options: Partial<SmtpSessionOptions> = {}) {
  return SmtpSession.open({
    opener: createTcpOpener(),
    target,
    heloName: HELO_NAME,
    timeouts: { connectMs: 2_000, bannerMs: 2_000, commandMs: 2_000, tlsMs: 2_000 },
    ...options,
  });
}

async function openOrFail(target: SocketTarget, options: Partial<SmtpSessionOptions> = {}) {
  const opened = await open(target, options);
  if (!opened.ok) {
    throw new Error(`session did not open: ${JSON.stringify(opened)}`);
  }
  cleanups.push(() => opened.session.close());
  return opened;
}

function lineServer(respond: LineServerOptions['respond'], banner?: Answer) {
  return startLineServer({ respond, banner }).then(track);
}

function withExtensions(extensions: string[]) {
  return (line: string): Answer => answerPlainly(line, extensions);
}

/** The command lines a server received, without line ends. */
function commandsReceived(server: RawServer, index = 0): string[] {
  const received = server.connections[index]?.received ?? '';
  return received.split('\r\n').filter((line) => line !== '');
}

function recordTranscript() {
  const lines: string[] = [];
  const onTranscript = (direction: 'client' | 'server', line: string): void => {
    lines.push(`${direction === 'client' ? 'C' : 'S'}: ${line}`);
  };
  return { lines, onTranscript };
}

const SOCKET_EVENTS = ['data', 'end', 'close', 'error'] as const;

function countListeners(socket: Duplex | undefined): Record<string, number> {
  return Object.fromEntries(SOCKET_EVENTS.map((name) => [name, socket?.listenerCount(name) ?? 0]));
}

/** Wraps the TCP opener to keep the socket, its own listener counts, and the bytes read. */
function capturingOpener() {
  const sockets: Duplex[] = [];
  const baselines: Record<string, number>[] = [];
  const counter = { bytes: 0 };
  const opener: SocketOpener = async (target, timeoutMs) => {
    const socket = await createTcpOpener()(target, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      counter.bytes += chunk.length;
    });
    sockets.push(socket);
    baselines.push(countListeners(socket));
    return socket;
  };
  return { opener, sockets, baselines, counter };
}

function countTimers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SmtpSession with smtp-server', () => {
  it('holds a whole conversation and never sends DATA', async () => {
    const server = track(
      await startRecordingSmtpServer({
        rcptReplies: { 'nobody@example.test': { code: 550, message: 'No such user here' } },
        server: { hideSTARTTLS: true },
      }),
    );

    const opened = await openOrFail(server.target);
    const mail = await opened.session.mailFrom(SENDER);
    const known = await opened.session.rcptTo('someone@example.test');
    const unknown = await opened.session.rcptTo('nobody@example.test');
    const reset = await opened.session.rset();
    await opened.session.quit();

    expect(opened.banner.code).toBe(220);
    expect(opened.greeting.code).toBe(250);
    expect([...opened.session.extensions]).toEqual(
      expect.arrayContaining(['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES']),
    );
    expect(mail).toEqual({ ok: true, reply: expect.objectContaining({ code: 250 }) });
    expect(known.ok && known.reply.code).toBe(250);
    expect(unknown).toEqual({
      ok: true,
      reply: { code: 550, enhancedCode: '5.1.1', text: 'No such user here' },
    });
    expect(reset.ok && reset.reply.code).toBe(250);
    expect(server.mailFrom).toEqual([SENDER]);
    expect(server.rcptTo).toEqual(['someone@example.test', 'nobody@example.test']);
    expect(server.dataCount).toBe(0);
    expect(opened.session.commandsSent).toBe(6);
  });

  it('upgrades with STARTTLS when offered and greets again over TLS', async () => {
    const server = track(await startRecordingSmtpServer({ server: createSelfSignedCert() }));
    const transcript = recordTranscript();

    const opened = await openOrFail(server.target, { onTranscript: transcript.onTranscript });
    const mail = await opened.session.mailFrom(SENDER);

    expect(opened.session.isTls).toBe(true);
    expect(mail.ok && mail.reply.code).toBe(250);
    expect(server.mailOverTls).toEqual([true]);
    expect(transcript.lines.filter((line) => line.startsWith('C: '))).toEqual([
      `C: EHLO ${HELO_NAME}`,
      'C: STARTTLS',
      `C: EHLO ${HELO_NAME}`,
      `C: MAIL FROM:<${SENDER}>`,
    ]);
    // smtp-server stops offering STARTTLS once the session is secure, so a
    // stale set from before TLS would still hold it.
    expect(opened.session.extensions.has('STARTTLS')).toBe(false);
    expect(opened.session.extensions.has('PIPELINING')).toBe(true);
  });

  it('gets 530 5.7.0 at MAIL without TLS from a server that requires it, 250 with TLS', async () => {
    const server = track(
      await startRecordingSmtpServer({ requiresTls: true, server: createSelfSignedCert() }),
    );

    const plain = await openOrFail(server.target, { startTls: 'never' });
    const refused = await plain.session.mailFrom(SENDER);
    await plain.session.quit();
    const secured = await openOrFail(server.target);
    const accepted = await secured.session.mailFrom(SENDER);

    expect(plain.session.isTls).toBe(false);
    expect(refused).toEqual({
      ok: true,
      reply: { code: 530, enhancedCode: '5.7.0', text: 'Must issue a STARTTLS command first' },
    });
    expect(accepted.ok && accepted.reply.code).toBe(250);
    expect(server.mailOverTls).toEqual([false, true]);
  });

  it('pipelines several RCPTs to smtp-server and gets each answer in order', async () => {
    const server = track(
      await startRecordingSmtpServer({
        rcptReplies: { 'b@example.test': { code: 550, message: 'No such user' } },
        server: { hideSTARTTLS: true },
      }),
    );

    const opened = await openOrFail(server.target);
    await opened.session.mailFrom(SENDER);
    const results = await opened.session.rcptToMany([
      'a@example.test',
      'b@example.test',
      'c@example.test',
    ]);

    expect(results.map((result) => result.ok && result.reply.code)).toEqual([250, 550, 250]);
    expect(server.rcptTo).toEqual(['a@example.test', 'b@example.test', 'c@example.test']);
  });

  it('holds a conversation through the SOCKS5 opener', async () => {
    const server = track(await startRecordingSmtpServer({ server: createSelfSignedCert() }));
    const proxy = track(await startSocks5Server());

    const opened = await openOrFail(server.target, {
      opener: createSocks5Opener(`socks5://${proxy.host}:${proxy.port}`),
    });
    await opened.session.mailFrom(SENDER);
    const rcpt = await opened.session.rcptTo('someone@example.test');
    await opened.session.quit();

    expect(opened.session.isTls).toBe(true);
    expect(rcpt.ok && rcpt.reply.code).toBe(250);
    expect(server.rcptTo).toEqual(['someone@example.test']);
    expect(proxy.requests).toEqual([
      { addressType: 'ipv4', host: '127.0.0.1', port: server.target.port, userId: null },
    ]);
  });
});

describe('SmtpSession greeting', () => {
  it('falls back to HELO when EHLO is refused with 5xx', async () => {
    const server = await lineServer((line) =>
      line.startsWith('EHLO') ? '502 5.5.2 Error: command not recognized' : answerPlainly(line),
    );

    const opened = await openOrFail(server.target);

    expect(opened.greeting).toEqual({ code: 250, enhancedCode: null, text: 'mx.example.test' });
    expect(opened.session.extensions.size).toBe(0);
    expect(commandsReceived(server)).toEqual([`EHLO ${HELO_NAME}`, `HELO ${HELO_NAME}`]);
  });

  it('reports stage ehlo with the reply when both EHLO and HELO are refused', async () => {
    const server = await lineServer((line) =>
      /^(EHLO|HELO)/.test(line) ? '550 5.7.1 Your HELO name is not welcome' : answerPlainly(line),
    );

    const opened = await open(server.target);

    expect(opened).toMatchObject({
      ok: false,
      stage: 'ehlo',
      reply: { code: 550, enhancedCode: '5.7.1', text: 'Your HELO name is not welcome' },
      failure: { kind: 'connection_failed', stage: 'ehlo' },
    });
    await server.connections[0]?.closed;
    expect(commandsReceived(server)).toEqual([`EHLO ${HELO_NAME}`, `HELO ${HELO_NAME}`, 'QUIT']);
  });

  it('does not try HELO after a temporary 4xx refusal of EHLO', async () => {
    const server = await lineServer((line) =>
      line.startsWith('EHLO') ? '421 4.3.2 Service shutting down' : answerPlainly(line),
    );

    const opened = await open(server.target);

    expect(opened).toMatchObject({ ok: false, stage: 'ehlo', reply: { code: 421 } });
    expect(commandsReceived(server)).not.toContain(`HELO ${HELO_NAME}`);
  });

  it('reports stage banner with the reply for a 554 greeting, and says QUIT', async () => {
    const server = await lineServer(withExtensions([]), '554 5.7.1 No SMTP service here');

    const opened = await open(server.target);

    expect(opened).toMatchObject({
      ok: false,
      stage: 'banner',
      reply: { code: 554, enhancedCode: '5.7.1', text: 'No SMTP service here' },
    });
    await server.connections[0]?.closed;
    expect(commandsReceived(server)).toEqual(['QUIT']);
  });

  it('times out within bannerMs when the server never greets', async () => {
    const server = track(await startRawServer(() => {}));
    const started = Date.now();

    const opened = await open(server.target, { timeouts: { bannerMs: 300 } });

    const elapsed = Date.now() - started;
    expect(opened).toMatchObject({ ok: false, stage: 'banner', failure: { kind: 'timeout' } });
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1_500);
    await server.connections[0]?.closed;
  });

  it('fails with protocol_error after maxLineBytes of an endless line, reading little', async () => {
    let written = 0;
    const server = track(
      await startRawServer(async (connection) => {
        const chunk = Buffer.alloc(64 * 1024, 'x');
        await connection.write('220 ');
        // Bounded at 64 MB; stops as soon as the client hangs up.
        while (written < 64 * 1024 * 1024 && (await connection.write(chunk))) {
          written += chunk.length;
        }
      }),
    );
    const capture = capturingOpener();

    const opened = await open(server.target, { opener: capture.opener });

    expect(opened).toMatchObject({
      ok: false,
      stage: 'banner',
      failure: { kind: 'protocol_error', message: 'reply line longer than 2048 bytes' },
    });
    expect(capture.counter.bytes).toBeLessThan(256 * 1024);
    await server.connections[0]?.closed;
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it('fails with protocol_error on an endless multi-line reply', async () => {
    const server = track(
      await startRawServer(async (connection) => {
        for (let sent = 0; sent < 100_000; sent++) {
          if (!(await connection.write('220-still greeting you\r\n'))) {
            return;
          }
        }
      }),
    );

    const opened = await open(server.target, { limits: { maxLines: 50 } });

    expect(opened).toMatchObject({
      ok: false,
      stage: 'banner',
      failure: { kind: 'protocol_error', message: 'reply longer than 50 lines' },
    });
  });

  it('reads replies that arrive in many tiny TCP chunks', async () => {
    const dribble = async (connection: RawConnection, text: string) => {
      connection.socket.setNoDelay(true);
      for (const character of text) {
        await connection.write(character);
        await sleep(1);
      }
    };
    const server = track(
      await startRawServer(async (connection) => {
        await dribble(connection, '220-mx.example.test\r\n220 ESMTP ready\r\n');
        await connection.readLine();
        await dribble(connection, `${ehloReply(['PIPELINING', 'SMTPUTF8']).join('\r\n')}\r\n`);
      }),
    );

    const opened = await openOrFail(server.target);

    expect(opened.banner).toEqual({
      code: 220,
      enhancedCode: null,
      text: 'mx.example.test\nESMTP ready',
    });
    expect([...opened.session.extensions]).toEqual(['PIPELINING', 'SMTPUTF8']);
  });

  it('fails with closed when the connection drops in the middle of a reply', async () => {
    const server = await lineServer((line, connection) => {
      if (line.startsWith('EHLO')) {
        void connection.write('250-mx.example.test\r\n250-PIPEL').then(() => {
          connection.socket.destroy();
        });
        return null;
      }
      return answerPlainly(line);
    });

    const opened = await open(server.target);

    expect(opened).toMatchObject({
      ok: false,
      stage: 'ehlo',
      failure: { kind: 'closed', message: 'connection closed in the middle of a reply' },
    });
  });

  it('reports connection_failed with ECONNREFUSED when nothing listens', async () => {
    const port = await findClosedPort();

    const opened = await open({ host: 'mx.example.test', ip: '127.0.0.1', port });

    expect(opened).toMatchObject({
      ok: false,
      stage: 'connect',
      failure: { kind: 'connection_failed', stage: 'connect', code: 'ECONNREFUSED' },
    });
  });

  it('reports a connect timeout within connectMs', async () => {
    const stalled = track(await startStalledListener());
    const started = Date.now();

    const opened = await open(stalled.target, { timeouts: { connectMs: 300 } });

    expect(opened).toMatchObject({
      ok: false,
      stage: 'connect',
      failure: { kind: 'timeout', code: 'ETIMEDOUT' },
    });
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('refuses a HELO name that could inject a command before connecting', async () => {
    const server = await lineServer(withExtensions([]));

    await expect(open(server.target, { heloName: 'evil\r\nDATA' })).rejects.toThrow(
      /control character/,
    );
    expect(server.connections).toHaveLength(0);
  });
});

describe('SmtpSession STARTTLS edge cases', () => {
  it('carries on in the clear when the server declines STARTTLS with 454', async () => {
    const server = await lineServer((line) =>
      line === 'STARTTLS'
        ? '454 4.7.0 TLS not available due to temporary reason'
        : answerPlainly(line, ['STARTTLS', 'PIPELINING']),
    );

    const opened = await openOrFail(server.target);
    const mail = await opened.session.mailFrom(SENDER);

    expect(opened.session.isTls).toBe(false);
    expect(opened.session.extensions.has('PIPELINING')).toBe(true);
    expect(mail.ok && mail.reply.code).toBe(250);
  });

  it('does not send STARTTLS when told never to', async () => {
    const server = await lineServer(withExtensions(['STARTTLS']));

    const opened = await openOrFail(server.target, { startTls: 'never' });

    expect(opened.session.isTls).toBe(false);
    expect(commandsReceived(server)).toEqual([`EHLO ${HELO_NAME}`]);
  });

  it('reports tls_failed when the server answers the handshake with garbage', async () => {
    const server = await lineServer((line, connection) => {
      if (line === 'STARTTLS') {
        void connection
          .write('220 2.0.0 Ready to start TLS\r\n')
          .then(() => connection.write('this is not a TLS record\r\n'));
        return null;
      }
      return answerPlainly(line, ['STARTTLS']);
    });

    const opened = await open(server.target);

    expect(opened).toMatchObject({
      ok: false,
      stage: 'tls',
      failure: { kind: 'tls_failed', stage: 'tls' },
    });
  });

  it('reports tls_failed with ETIMEDOUT when the handshake stalls past tlsMs', async () => {
    let isHandshaking = false;
    const server = await lineServer((line) => {
      if (isHandshaking) {
        return null;
      }
      isHandshaking = line === 'STARTTLS';
      return isHandshaking ? '220 2.0.0 Ready to start TLS' : answerPlainly(line, ['STARTTLS']);
    });
    const started = Date.now();

    const opened = await open(server.target, { timeouts: { tlsMs: 300 } });

    expect(opened).toMatchObject({
      ok: false,
      stage: 'tls',
      failure: { kind: 'tls_failed', code: 'ETIMEDOUT' },
    });
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('ignores replies injected in the clear after the STARTTLS go-ahead', async () => {
    const { key, cert } = createSelfSignedCert();
    const server = track(
      await startRawServer(async (connection) => {
        await sendAnswer(connection, '220 mx.example.test ESMTP');
        await connection.readLine();
        await sendAnswer(connection, ehloReply(['STARTTLS']));
        await connection.readLine();
        // The go-ahead and an injected answer for the EHLO to come, in one write.
        await connection.write('220 2.0.0 Ready\r\n250-injected\r\n250 AUTH PLAIN\r\n');
        const secured = new RawConnection(
          new tls.TLSSocket(connection.socket, { isServer: true, key, cert }),
        );
        await secured.readLine();
        await sendAnswer(secured, ehloReply(['PIPELINING']));
        await secured.readLine();
        await sendAnswer(secured, '250 2.1.0 Sender OK over TLS');
      }),
    );

    const opened = await openOrFail(server.target);
    const mail = await opened.session.mailFrom(SENDER);

    expect(opened.session.isTls).toBe(true);
    expect(opened.greeting.text).toBe('mx.example.test greets you\nPIPELINING');
    expect([...opened.session.extensions]).toEqual(['PIPELINING']);
    expect(mail.ok && mail.reply.text).toBe('Sender OK over TLS');
  });
});

describe('SmtpSession commands', () => {
  it('sends all RCPTs in one round trip when PIPELINING is offered', async () => {
    let rcptLinesBeforeFirstReply = 0;
    const server = await lineServer(async (line, connection) => {
      if (line.startsWith('RCPT') && rcptLinesBeforeFirstReply === 0) {
        // Long enough for a client waiting on each reply to stall.
        await sleep(150);
        const waiting = connection.bufferedLines.filter((next) => next.startsWith('RCPT'));
        rcptLinesBeforeFirstReply = 1 + waiting.length;
      }
      if (line.includes('<nobody@')) {
        return '550 5.1.1 No such user';
      }
      return answerPlainly(line, ['PIPELINING']);
    });

    const opened = await openOrFail(server.target);
    await opened.session.mailFrom(SENDER);
    const recipients = ['a@example.test', 'nobody@example.test', 'c@example.test'];
    const results = await opened.session.rcptToMany(recipients);

    expect(results.map((result) => result.ok && result.reply.code)).toEqual([250, 550, 250]);
    expect(rcptLinesBeforeFirstReply).toBe(3);
    const chunks = server.connections[0]?.chunks.map((chunk) => chunk.toString()) ?? [];
    expect(chunks.some((chunk) => chunk.split('RCPT TO:').length - 1 === 3)).toBe(true);
  });

  it('sends QUIT with the last RCPTs in one write under PIPELINING, then closes', async () => {
    const server = await lineServer((line) =>
      line.includes('<nobody@') ? '550 5.1.1 No such user' : answerPlainly(line, ['PIPELINING']),
    );
    const capture = capturingOpener();
    const opened = await openOrFail(server.target, { opener: capture.opener });
    await opened.session.mailFrom(SENDER);

    const results = await opened.session.rcptToManyThenQuit([
      'a@example.test',
      'nobody@example.test',
    ]);
    await server.connections[0]?.closed;

    expect(results.map((result) => result.ok && result.reply.code)).toEqual([250, 550]);
    const chunks = server.connections[0]?.chunks.map((chunk) => chunk.toString()) ?? [];
    expect(chunks).toContain(
      'RCPT TO:<a@example.test>\r\nRCPT TO:<nobody@example.test>\r\nQUIT\r\n',
    );
    expect(capture.sockets[0]?.destroyed).toBe(true);
    expect(opened.session.commandsSent).toBe(5);
    // Nothing more goes out on a closed session, a second QUIT included.
    await opened.session.quit();
    expect(commandsReceived(server).filter((line) => line === 'QUIT')).toHaveLength(1);
  });

  it('sends QUIT after the last reply when PIPELINING is not offered', async () => {
    let rcptLinesBeforeFirstReply = 0;
    const server = await lineServer(async (line, connection) => {
      if (line.startsWith('RCPT') && rcptLinesBeforeFirstReply === 0) {
        await sleep(150);
        const waiting = connection.bufferedLines.filter((next) => /^(RCPT|QUIT)/.test(next));
        rcptLinesBeforeFirstReply = 1 + waiting.length;
      }
      return answerPlainly(line);
    });
    const opened = await openOrFail(server.target);
    await opened.session.mailFrom(SENDER);

    const results = await opened.session.rcptToManyThenQuit(['a@example.test', 'b@example.test']);
    await server.connections[0]?.closed;

    expect(results.every((result) => result.ok && result.reply.code === 250)).toBe(true);
    expect(rcptLinesBeforeFirstReply).toBe(1);
    expect(commandsReceived(server).slice(-3)).toEqual([
      'RCPT TO:<a@example.test>',
      'RCPT TO:<b@example.test>',
      'QUIT',
    ]);
  });

  it('sends RCPTs one at a time when PIPELINING is not offered', async () => {
    let rcptLinesBeforeFirstReply = 0;
    const server = await lineServer(async (line, connection) => {
      if (line.startsWith('RCPT') && rcptLinesBeforeFirstReply === 0) {
        await sleep(150);
        const waiting = connection.bufferedLines.filter((next) => next.startsWith('RCPT'));
        rcptLinesBeforeFirstReply = 1 + waiting.length;
      }
      return answerPlainly(line);
    });

    const opened = await openOrFail(server.target);
    await opened.session.mailFrom(SENDER);
    const results = await opened.session.rcptToMany(['a@example.test', 'b@example.test']);

    expect(results.map((result) => result.ok && result.reply.code)).toEqual([250, 250]);
    expect(rcptLinesBeforeFirstReply).toBe(1);
  });

  it('fails the remaining pipelined RCPTs when the connection drops', async () => {
    let isFirstRcpt = true;
    const server = await lineServer((line, connection) => {
      if (line.startsWith('RCPT')) {
        if (isFirstRcpt) {
          void connection.write('250 2.1.5 OK\r\n').then(() => connection.socket.destroy());
        }
        isFirstRcpt = false;
        return null;
      }
      return answerPlainly(line, ['PIPELINING']);
    });

    const opened = await openOrFail(server.target);
    await opened.session.mailFrom(SENDER);
    const results = await opened.session.rcptToMany(['a@x.test', 'b@x.test', 'c@x.test']);

    expect(results[0]).toMatchObject({ ok: true, reply: { code: 250 } });
    expect(results.slice(1)).toEqual([
      { ok: false, failure: expect.objectContaining({ kind: 'closed', stage: 'rcpt' }) },
      { ok: false, failure: expect.objectContaining({ kind: 'closed', stage: 'rcpt' }) },
    ]);
  });

  it('returns an empty list for no recipients without sending anything', async () => {
    const server = await lineServer(withExtensions(['PIPELINING']));
    const opened = await openOrFail(server.target);

    expect(await opened.session.rcptToMany([])).toEqual([]);
    expect(opened.session.commandsSent).toBe(1);
  });

  it('adds SMTPUTF8 to MAIL only when asked and offered', async () => {
    const offering = await lineServer(withExtensions(['SMTPUTF8']));
    const silent = await lineServer(withExtensions(['PIPELINING']));

    const withUtf8 = await openOrFail(offering.target);
    await withUtf8.session.mailFrom(SENDER, { smtputf8: true });
    await withUtf8.session.mailFrom(SENDER);
    const withoutUtf8 = await openOrFail(silent.target);
    await withoutUtf8.session.mailFrom(SENDER, { smtputf8: true });

    expect(commandsReceived(offering).slice(1)).toEqual([
      `MAIL FROM:<${SENDER}> SMTPUTF8`,
      `MAIL FROM:<${SENDER}>`,
    ]);
    expect(commandsReceived(silent).slice(1)).toEqual([`MAIL FROM:<${SENDER}>`]);
  });

  it('sends the null reverse-path for an empty sender', async () => {
    const server = await lineServer(withExtensions([]));
    const opened = await openOrFail(server.target);

    const mail = await opened.session.mailFrom('');

    expect(mail.ok).toBe(true);
    expect(commandsReceived(server).slice(1)).toEqual(['MAIL FROM:<>']);
  });

  it('refuses a recipient that would inject a command, sending nothing', async () => {
    const server = await lineServer(withExtensions([]));
    const opened = await openOrFail(server.target);

    await expect(opened.session.rcptTo('a@example.test>\r\nDATA')).rejects.toThrow();
    await expect(opened.session.mailFrom('a@example.test\nRSET')).rejects.toThrow();
    await expect(
      opened.session.rcptToMany(['good@example.test', 'bad\u0000@example.test']),
    ).rejects.toThrow();
    await opened.session.quit();

    expect(commandsReceived(server)).toEqual([`EHLO ${HELO_NAME}`, 'QUIT']);
  });

  it('does not take a reply sent out of turn for the answer to the next command', async () => {
    const server = await lineServer((line) =>
      line.startsWith('EHLO')
        ? [...ehloReply(['PIPELINING']), '250 2.1.0 Sender OK (sent before being asked)']
        : answerPlainly(line),
    );

    const opened = await openOrFail(server.target);
    const mail = await opened.session.mailFrom(SENDER);

    expect(mail).toEqual({
      ok: false,
      failure: expect.objectContaining({ kind: 'protocol_error', stage: 'mail' }),
    });
  });

  it('treats an unrequested 421 as the server closing the session', async () => {
    const server = await lineServer((line) =>
      line.startsWith('EHLO')
        ? [...ehloReply([]), '421 4.4.2 mx.example.test Error: timeout exceeded']
        : null,
    );

    const opened = await openOrFail(server.target);
    await sleep(50);
    const rcpt = await opened.session.rcptTo('someone@example.test');

    expect(rcpt).toEqual({
      ok: false,
      failure: expect.objectContaining({ kind: 'closed', stage: 'rcpt' }),
    });
    expect(!rcpt.ok && rcpt.failure.message).toContain('421');
  });

  it('times out a step within commandMs and fails every later step at once', async () => {
    const server = await lineServer((line) =>
      line.startsWith('MAIL') ? null : answerPlainly(line),
    );
    const opened = await openOrFail(server.target, { timeouts: { commandMs: 300 } });
    const started = Date.now();

    const mail = await opened.session.mailFrom(SENDER);
    const elapsed = Date.now() - started;
    const rcpt = await opened.session.rcptTo('someone@example.test');

    expect(mail).toEqual({
      ok: false,
      failure: expect.objectContaining({ kind: 'timeout', stage: 'mail' }),
    });
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1_500);
    expect(rcpt).toEqual({
      ok: false,
      failure: expect.objectContaining({ kind: 'timeout', stage: 'rcpt' }),
    });
    await server.connections[0]?.closed;
  });

  it('reports the commands it sent in the transcript, and the lines it read', async () => {
    const server = await lineServer(withExtensions(['PIPELINING']));
    const transcript = recordTranscript();

    const opened = await openOrFail(server.target, { onTranscript: transcript.onTranscript });
    await opened.session.mailFrom(SENDER);
    await opened.session.quit();

    expect(transcript.lines).toEqual([
      'S: 220 mx.example.test ESMTP ready',
      `C: EHLO ${HELO_NAME}`,
      'S: 250-mx.example.test greets you',
      'S: 250 PIPELINING',
      `C: MAIL FROM:<${SENDER}>`,
      'S: 250 2.0.0 OK',
      'C: QUIT',
      'S: 221 2.0.0 Bye',
    ]);
  });
});

describe('SmtpSession ending', () => {
  it('aborts a pending step with timeout and closes the socket', async () => {
    const server = await lineServer((line) =>
      line.startsWith('MAIL') ? null : answerPlainly(line),
    );
    const controller = new AbortController();
    const opened = await openOrFail(server.target, {
      signal: controller.signal,
      timeouts: { commandMs: 10_000 },
    });
    const started = Date.now();

    setTimeout(() => controller.abort(), 100);
    const mail = await opened.session.mailFrom(SENDER);

    expect(mail).toEqual({
      ok: false,
      failure: expect.objectContaining({ kind: 'timeout', stage: 'mail' }),
    });
    expect(Date.now() - started).toBeLessThan(1_000);
    await server.connections[0]?.closed;
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('does not connect when the signal is already aborted', async () => {
    const server = await lineServer(withExtensions([]));

    const opened = await open(server.target, { signal: AbortSignal.abort() });

    expect(opened).toMatchObject({ ok: false, stage: 'connect', failure: { kind: 'timeout' } });
    expect(server.connections).toHaveLength(0);
  });

  it('aborts while waiting for the banner', async () => {
    const server = track(await startRawServer(() => {}));
    const controller = new AbortController();

    setTimeout(() => controller.abort(), 100);
    const opened = await open(server.target, { signal: controller.signal });

    expect(opened).toMatchObject({ ok: false, stage: 'banner', failure: { kind: 'timeout' } });
  });

  it('sends QUIT, closes the socket and leaves no listener or timer behind', async () => {
    const server = await lineServer(withExtensions([]));
    const capture = capturingOpener();
    const controller = new AbortController();
    const timersBefore = countTimers();

    const opened = await openOrFail(server.target, {
      opener: capture.opener,
      signal: controller.signal,
    });
    await opened.session.mailFrom(SENDER);
    await opened.session.quit();
    await server.connections[0]?.closed;

    const socket = capture.sockets[0];
    expect(commandsReceived(server).at(-1)).toBe('QUIT');
    expect(socket?.destroyed).toBe(true);
    // All the session's listeners are gone but one that swallows late errors.
    const baseline = capture.baselines[0] ?? {};
    expect(countListeners(socket)).toEqual({ ...baseline, error: (baseline.error ?? 0) + 1 });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await sleep(20);
    expect(countTimers()).toBe(timersBefore);
  });

  it('quits within the bounded wait when the server never answers QUIT', async () => {
    const server = track(
      await startRawServer(async (connection) => {
        await sendAnswer(connection, '220 mx.example.test ESMTP');
        await connection.readLine();
        await sendAnswer(connection, ehloReply([]));
      }),
    );
    const opened = await openOrFail(server.target, { timeouts: { commandMs: 400 } });
    const started = Date.now();

    await opened.session.quit();

    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(390);
    expect(elapsed).toBeLessThan(1_500);
    await server.connections[0]?.closed;
    expect(commandsReceived(server).at(-1)).toBe('QUIT');
  });

  it('quits without throwing after the server has gone', async () => {
    const server = await lineServer(withExtensions([]));
    const opened = await openOrFail(server.target);
    server.connections[0]?.socket.destroy();
    await sleep(50);

    await expect(opened.session.quit()).resolves.toBeUndefined();
  });

  it('fails every step after close with closed', async () => {
    const server = await lineServer(withExtensions([]));
    const opened = await openOrFail(server.target);

    opened.session.close();
    const rset = await opened.session.rset();

    expect(rset).toEqual({
      ok: false,
      failure: expect.objectContaining({ kind: 'closed', stage: 'mail' }),
    });
    await server.connections[0]?.closed;
  });
});

describe('SmtpSession command lines (property)', () => {
  const ALLOWED_LINE = /^(EHLO |HELO |STARTTLS$|MAIL FROM:<|RCPT TO:<|RSET$|QUIT$)/;
  // The builder's contract: control characters, lone surrogates and angle
  // brackets are refused, and so is a line over 512 octets (RFC 5321 4.5.3.1.4).
  const UNSAFE = /[\p{Cc}\p{Cs}<>]/u;
  const isTooLong = (line: string) => Buffer.byteLength(`${line}\r\n`) > 512;

  const tricky = fc.constantFrom(
    '',
    'user@example.test',
    'a@b.test>\r\nDATA',
    'a@b.test> SIZE=1\r\nRCPT TO:<c@d.test',
    'x\ny@example.test',
    'x\ry@example.test',
    'nul\u0000@example.test',
    'nel\u0085@example.test',
    'del\u007f@example.test',
    'line\u2028sep@example.test',
    'lone\ud800@example.test',
    'pär@exämple.test',
    '"quoted local"@example.test',
  );
  const pieces = fc.string({
    unit: fc.constantFrom('a', 'é', '@', '.', ' ', ':', '\r', '\n', '<', '>', '\t', '\u0000'),
    maxLength: 30,
  });
  const address = fc.oneof(
    tricky,
    pieces,
    fc.emailAddress(),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: 'grapheme', minLength: 490, maxLength: 520 }),
  );

  it('writes exactly the expected commands, each ending in one CRLF, or refuses', async () => {
    const server = await lineServer(withExtensions(['PIPELINING', 'SMTPUTF8']));

    await fc.assert(
      fc.asyncProperty(address, address, fc.boolean(), async (sender, recipient, smtputf8) => {
        const opened = await openOrFail(server.target);
        const expected = [`EHLO ${HELO_NAME}`];

        const mailLine = `MAIL FROM:<${sender}>${smtputf8 ? ' SMTPUTF8' : ''}`;
        const isMailRefused = await opened.session.mailFrom(sender, { smtputf8 }).then(
          () => false,
          () => true,
        );
        expect(isMailRefused).toBe(UNSAFE.test(sender) || isTooLong(mailLine));
        if (!isMailRefused) {
          expected.push(mailLine);
        }

        const rcptLine = `RCPT TO:<${recipient}>`;
        const isRcptRefused = await opened.session.rcptTo(recipient).then(
          () => false,
          () => true,
        );
        expect(isRcptRefused).toBe(
          recipient === '' || UNSAFE.test(recipient) || isTooLong(rcptLine),
        );
        if (!isRcptRefused) {
          expected.push(rcptLine);
        }

        await opened.session.quit();
        expected.push('QUIT');
        const connection = server.connections.at(-1);
        await connection?.closed;

        const bytes = Buffer.concat(connection?.chunks ?? []);
        expect(bytes.equals(Buffer.from(expected.map((line) => `${line}\r\n`).join('')))).toBe(
          true,
        );
        const lines = bytes.toString('utf8').split('\r\n');
        expect(lines.pop()).toBe('');
        for (const line of lines) {
          expect(line).not.toMatch(/[\r\n]/);
          expect(line).toMatch(ALLOWED_LINE);
        }
        expect(opened.session.commandsSent).toBe(expected.length);
      }),
      { numRuns: 150 },
    );
  });
});
