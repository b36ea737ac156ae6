/**
 * Whatever the input, the verifier only ever sends the commands of a
 * verification, each on one line: the whole flow (syntax, DNS, SMTP) is
 * driven with hostile addresses against a server that records every byte.
 */
import net from 'node:net';
import fc from 'fast-check';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTcpOpener } from '../../src/verify/open-socket.js';
import type { Resolver } from '../../src/verify/types.js';
import { systemClock } from '../../src/verify/types.js';
import { verifyAddress } from '../../src/verify/verify-address.js';

const SINK_IP = '127.0.0.71';
const ALLOWED_LINE =
  /^(EHLO [A-Za-z0-9.-]+|HELO [A-Za-z0-9.-]+|STARTTLS|MAIL FROM:<[^<>\r\n]*>( SMTPUTF8)?|RCPT TO:<[^<>\r\n]+>|RSET|QUIT)$/;

/** Every domain's mail server is the recording sink. */
const anyDomainResolver: Resolver = {
  resolveMx: async () => [{ exchange: 'sink.mailverify.test', priority: 10 }],
  resolve4: async () => [SINK_IP],
  resolve6: async () => {
    throw Object.assign(new Error('no AAAA'), { code: 'ENODATA' });
  },
};

let server: net.Server;
let port = 0;
const received: Buffer[] = [];

beforeAll(async () => {
  server = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.write('220 sink ESMTP\r\n');
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\n'); end !== -1; end = pending.indexOf('\n')) {
        const verb = pending.slice(0, 4).toUpperCase();
        pending = pending.slice(end + 1);
        if (verb === 'EHLO') socket.write('250-sink\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n');
        else if (verb === 'QUIT') socket.end('221 bye\r\n');
        else socket.write('250 ok\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, SINK_IP, resolve));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const hostile = fc.oneof(
  fc.emailAddress(),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc
    .tuple(
      fc.string({
        unit: fc.constantFrom('a', 'ü', '.', '"', '\\', ' ', '\r', '\n', '\u0000', '<', '>', ':'),
        maxLength: 20,
      }),
      fc.constantFrom('acme.test', 'ACME.test', 'bücher.test', 'acme.test\r\nDATA'),
    )
    .map(([local, domain]) => `${local}@${domain}`),
  fc.constantFrom(
    'ann@acme.test\r\nDATA',
    'ann@acme.test>\r\nRCPT TO:<x@y.test',
    '"ann\r\nDATA"@acme.test',
    'ann@acme.test\nQUIT',
    '"a\\\r"@acme.test',
  ),
);

describe('no input reaches the wire as anything but a verification command', () => {
  it('sends only EHLO/HELO/STARTTLS/MAIL/RCPT/RSET/QUIT lines, each ending in one CRLF', async () => {
    const settings = {
      heloName: 'verifier.mailverify.test',
      mailFrom: 'probe@verifier.mailverify.test',
      smtpPort: port,
      allowPrivateMx: true,
      greylistRetry: [],
      timeout: 5,
      startTls: true,
      catchAllProbe: true,
    };
    const deps = {
      resolver: anyDomainResolver,
      opener: createTcpOpener(),
      clock: systemClock,
      random: Math.random,
      logger: pino({ level: 'silent' }),
    };

    await fc.assert(
      fc.asyncProperty(hostile, async (email) => {
        await verifyAddress(email, settings, deps);
      }),
      { numRuns: 150 },
    );

    const wire = Buffer.concat(received).toString('latin1');
    expect(wire.length).toBeGreaterThan(0);
    expect(wire.endsWith('\r\n')).toBe(true);
    const lines = wire.slice(0, -2).split('\r\n');
    for (const line of lines) {
      expect(line, JSON.stringify(line)).toMatch(ALLOWED_LINE);
    }
    expect(wire).not.toMatch(/\r(?!\n)|(?<!\r)\n/);
  });
});
