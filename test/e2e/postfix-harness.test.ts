/**
 * Proves the private Postfix harness: a real Postfix from Debian's package,
 * spoken to over raw SMTP on loopback, answers as the verifier will meet it
 * in the wild. A machine without postfix fails here on purpose: the
 * end-to-end suite must not pass by skipping.
 */
import { access, readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPostfixInstalled, startPostfix } from '../helpers/postfix.js';
import type { RunningPostfix } from '../helpers/postfix.js';

interface Reply {
  code: number;
  lines: string[];
}

interface SmtpClient {
  read(): Promise<Reply>;
  send(command: string): Promise<Reply>;
  /** Upgrades the connection after "220 Ready to start TLS" (RFC 3207 4). */
  startTls(): Promise<tls.TLSSocket>;
  close(): void;
}

const REPLY_TIMEOUT_MS = 5_000;
const MAX_REPLY_BYTES = 16_384;
const LOG_WAIT_MS = 5_000;
const LOG_POLL_MS = 50;
const SENDER = 'verifier@mailverify.test';
const CLIENT_NAME = 'harness.mailverify.test';

const NOT_INSTALLED =
  'postfix is not installed on this machine: run `bash .ci/run` as root, ' +
  'or `apt-get install postfix openssl`';

let postfix: RunningPostfix | undefined;

beforeAll(async () => {
  if (!isPostfixInstalled()) throw new Error(NOT_INSTALLED);
  postfix = await startPostfix({ domain: 'e2e.test', mailboxes: ['alice', 'bob'] });
});

afterAll(async () => {
  await postfix?.stop();
});

function running(): RunningPostfix {
  if (postfix === undefined) throw new Error(NOT_INSTALLED);
  return postfix;
}

describe('a private Postfix serving e2e.test', () => {
  it('listens on loopback and greets with a 220 banner naming its host', async () => {
    const server = running();
    const client = connectSmtp(server);

    const banner = await client.read();
    client.close();

    expect(server.ip).toBe('127.0.0.1');
    expect(banner.code).toBe(220);
    expect(banner.lines[0]).toMatch(/^220 mx\.e2e\.test ESMTP/);
  });

  it('lists STARTTLS in its EHLO reply and completes the handshake', async () => {
    const client = connectSmtp(running());
    await client.read();

    const ehlo = await client.send(`EHLO ${CLIENT_NAME}`);
    const ready = await client.send('STARTTLS');
    const certificate = (await client.startTls()).getPeerCertificate();
    const ehloOverTls = await client.send(`EHLO ${CLIENT_NAME}`);
    client.close();

    expect(ehlo.code).toBe(250);
    expect(ehlo.lines).toContain('250-STARTTLS');
    expect(ready.lines[0]).toMatch(/^220 2\.0\.0 /);
    expect(certificate.subject.CN).toBe('mx.e2e.test');
    expect(ehloOverTls.code).toBe(250);
    expect(ehloOverTls.lines.join('\n')).not.toContain('STARTTLS');
  });

  it('accepts the sender and existing mailboxes with 250', async () => {
    const replies = await converse(running(), [
      `EHLO ${CLIENT_NAME}`,
      `MAIL FROM:<${SENDER}>`,
      'RCPT TO:<alice@e2e.test>',
      'RCPT TO:<Bob@E2E.test>',
      'QUIT',
    ]);

    expect(replies.map((reply) => reply.code)).toEqual([220, 250, 250, 250, 250, 221]);
  });

  it('rejects an unknown mailbox at RCPT with 550 5.1.1 User unknown', async () => {
    const replies = await converse(running(), [
      `EHLO ${CLIENT_NAME}`,
      `MAIL FROM:<${SENDER}>`,
      'RCPT TO:<nobody@e2e.test>',
      'QUIT',
    ]);

    expect(replies[3]?.lines).toEqual([
      '550 5.1.1 <nobody@e2e.test>: Recipient address rejected: ' +
        'User unknown in virtual mailbox table',
    ]);
  });

  it('refuses to relay to a domain it does not serve with 554 5.7.1', async () => {
    const replies = await converse(running(), [
      `EHLO ${CLIENT_NAME}`,
      `MAIL FROM:<${SENDER}>`,
      'RCPT TO:<someone@elsewhere.test>',
      'QUIT',
    ]);

    expect(replies[3]?.lines).toEqual(['554 5.7.1 <someone@elsewhere.test>: Relay access denied']);
  });

  it('queues no message when a session ends with QUIT before DATA', async () => {
    const server = running();
    const replies = await converse(server, [
      `EHLO ${CLIENT_NAME}`,
      `MAIL FROM:<${SENDER}>`,
      'RCPT TO:<alice@e2e.test>',
      'RCPT TO:<nobody@e2e.test>',
      'QUIT',
    ]);

    // smtpd logs this summary once the session is over, with one of two RCPTs accepted.
    const summary = /disconnect from .* rcpt=1\/2 quit=1/;
    const log = await waitForLog(server.maillogFile, summary);

    expect(replies.map((reply) => reply.code)).toEqual([220, 250, 250, 250, 550, 221]);
    expect(log).toMatch(
      /reject: RCPT from .*<nobody@e2e\.test>: Recipient address rejected: User unknown/,
    );
    expect(log).not.toMatch(/message-id=|\(queue active\)|status=sent/);
  });
});

describe('a second private Postfix at the same time', () => {
  it('serves its own mailboxes on its own port, then stops cleanly', async () => {
    const first = running();
    const second = await startPostfix({ domain: 'other.test', mailboxes: ['carol'] });

    const replies = await converse(second, [
      `EHLO ${CLIENT_NAME}`,
      `MAIL FROM:<${SENDER}>`,
      'RCPT TO:<carol@other.test>',
      'RCPT TO:<alice@e2e.test>',
      'QUIT',
    ]);
    await second.stop();

    expect(second.port).not.toBe(first.port);
    expect(replies.map((reply) => reply.code)).toEqual([220, 250, 250, 250, 554, 221]);
    await expect(access(second.configDir)).rejects.toThrow();
    await expect(connectSmtp(second).read()).rejects.toThrow(/ECONNREFUSED/);
  });
});

/** Reads the banner, sends each command, and returns every reply in order. */
async function converse(server: RunningPostfix, commands: string[]): Promise<Reply[]> {
  const client = connectSmtp(server);
  try {
    const replies = [await client.read()];
    for (const command of commands) replies.push(await client.send(command));
    return replies;
  } finally {
    client.close();
  }
}

function connectSmtp(server: { ip: string; port: number }): SmtpClient {
  const socket = net.connect({ host: server.ip, port: server.port });
  let stream: Duplex = socket;
  let buffer = '';
  let failure: Error | undefined;
  let wake = () => {};

  const listen = (source: Duplex) => {
    source.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      wake();
    });
    source.on('error', (error: Error) => {
      failure ??= error;
      wake();
    });
    source.on('close', () => {
      failure ??= new Error('connection closed');
      wake();
    });
  };
  listen(socket);

  // Each wait ends with data, an error, the close or the timeout;
  // the size cap bounds the rest.
  const read = async (): Promise<Reply> => {
    for (;;) {
      const reply = takeReply();
      if (reply !== undefined) return reply;
      if (failure !== undefined) throw failure;
      if (buffer.length > MAX_REPLY_BYTES) throw new Error('reply too long');
      await waitForData();
    }
  };

  const waitForData = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        failure ??= new Error(`no reply within ${REPLY_TIMEOUT_MS} ms`);
        resolve();
      }, REPLY_TIMEOUT_MS);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const takeReply = (): Reply | undefined => {
    const lines = buffer.split('\r\n');
    const last = lines.findIndex((line) => /^\d{3}( |$)/.test(line));
    if (last < 0 || last === lines.length - 1) return undefined;

    buffer = lines.slice(last + 1).join('\r\n');
    const replyLines = lines.slice(0, last + 1);
    return { code: Number(replyLines[last]?.slice(0, 3)), lines: replyLines };
  };

  const startTls = async () => {
    socket.removeAllListeners('data');
    const secure = tls.connect({ socket, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    stream = secure;
    listen(secure);
    return secure;
  };

  const send = async (command: string) => {
    stream.write(`${command}\r\n`);
    return read();
  };

  return { read, send, startTls, close: () => stream.destroy() };
}

/** Postfix's log daemon writes asynchronously; polls until the line is there. */
async function waitForLog(file: string, pattern: RegExp): Promise<string> {
  const deadline = Date.now() + LOG_WAIT_MS;
  let log = '';

  while (Date.now() < deadline) {
    log = await readFile(file, 'utf8').catch(() => '');
    if (pattern.test(log)) return log;
    await new Promise((resolve) => setTimeout(resolve, LOG_POLL_MS));
  }
  throw new Error(`maillog never matched ${pattern}:\n${log}`);
}
