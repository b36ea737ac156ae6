import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';

import { createResolver } from '../../src/verify/create-resolver.js';
import { createTcpOpener } from '../../src/verify/open-socket.js';
import { systemClock } from '../../src/verify/types.js';
import type { VerificationResult } from '../../src/verify/types.js';
import { verifyAddress } from '../../src/verify/verify-address.js';
import type { VerifierSettings } from '../../src/verify/verify-address.js';
import type { Zone } from '../helpers/dns-server.js';
import { scriptedServer, startTestWorld, writeLines } from '../helpers/test-world.js';
import type { HostSpec, TestWorld } from '../helpers/test-world.js';

const worlds: TestWorld[] = [];
afterEach(async () => {
  await Promise.all(worlds.splice(0).map((world) => world.close()));
});

async function world(hosts: Record<string, HostSpec>, zone: Zone): Promise<TestWorld> {
  const started = await startTestWorld(hosts, zone);
  worlds.push(started);
  return started;
}

function verifyIn(
  testWorld: TestWorld,
  email: string,
  overrides: Partial<VerifierSettings> = {},
): Promise<VerificationResult> {
  const deps = {
    resolver: createResolver({ servers: [testWorld.dns.server], timeoutMs: 500, tries: 1 }),
    opener: createTcpOpener(),
    clock: systemClock,
    random: Math.random,
    logger: pino({ level: 'silent' }),
  };
  return verifyAddress(email, testWorld.settings(overrides), deps);
}

const mx = (...hosts: string[]) => ({
  MX: hosts.map((exchange, index) => ({ preference: 10 * (index + 1), exchange })),
});

describe('verifyAddress against a loopback world', () => {
  it('finds an existing mailbox deliverable and never sends DATA', async () => {
    const w = await world(
      { '127.0.0.11': { kind: 'smtp', mailboxes: ['ann'] } },
      { 'acme.test': mx('mx1.acme.test'), 'mx1.acme.test': { A: ['127.0.0.11'] } },
    );

    const result = await verifyIn(w, 'ann@acme.test');
    expect(result).toMatchObject({ verdict: 'deliverable', reason: 'accepted' });
    expect(result.flags.catchAll).toBe(false);
    expect(result.evidence).toMatchObject({ stage: 'rcpt', code: 250, ip: '127.0.0.11' });
    expect(result.mx).toEqual([{ host: 'mx1.acme.test', preference: 10 }]);
    expect(w.logs.get('127.0.0.11')!.sawData).toBe(false);
  });

  it('probes catch-all in a session of its own, after the real address', async () => {
    const w = await world(
      { '127.0.0.11': { kind: 'smtp', mailboxes: ['ann'] } },
      { 'acme.test': mx('mx1.acme.test'), 'mx1.acme.test': { A: ['127.0.0.11'] } },
    );

    await verifyIn(w, 'ann@acme.test');
    const sessions = [...w.logs.get('127.0.0.11')!.sessions.values()];
    expect(sessions).toHaveLength(2);
    expect(sessions[0]).toEqual(['ann@acme.test']);
    expect(sessions[1]).toHaveLength(1);
    expect(sessions[1]![0]).not.toBe('ann@acme.test');
  });

  it('reports an unknown mailbox as undeliverable mailbox_not_found', async () => {
    const w = await world(
      { '127.0.0.11': { kind: 'smtp', mailboxes: ['ann'] } },
      { 'acme.test': mx('mx1.acme.test'), 'mx1.acme.test': { A: ['127.0.0.11'] } },
    );

    const result = await verifyIn(w, 'nobody@acme.test');
    expect(result).toMatchObject({ verdict: 'undeliverable', reason: 'mailbox_not_found' });
    expect(result.evidence).toMatchObject({ stage: 'rcpt', code: 550, enhancedCode: '5.1.1' });
  });

  it('passes over a first MX that refuses connections', async () => {
    const w = await world(
      { '127.0.0.12': { kind: 'refused' }, '127.0.0.13': { kind: 'smtp', mailboxes: ['ann'] } },
      {
        'acme.test': mx('mx1.acme.test', 'mx2.acme.test'),
        'mx1.acme.test': { A: ['127.0.0.12'] },
        'mx2.acme.test': { A: ['127.0.0.13'] },
      },
    );

    const result = await verifyIn(w, 'ann@acme.test');
    expect(result).toMatchObject({ verdict: 'deliverable', reason: 'accepted' });
    expect(result.evidence?.host).toBe('mx2.acme.test');
  });

  it('passes over a first MX that never sends its banner', async () => {
    const silent: HostSpec = { kind: 'raw', onConnection: () => undefined };
    const w = await world(
      { '127.0.0.14': silent, '127.0.0.15': { kind: 'smtp', mailboxes: ['ann'] } },
      {
        'acme.test': mx('mx1.acme.test', 'mx2.acme.test'),
        'mx1.acme.test': { A: ['127.0.0.14'] },
        'mx2.acme.test': { A: ['127.0.0.15'] },
      },
    );

    const started = Date.now();
    const result = await verifyIn(w, 'ann@acme.test', { timeout: 3 });
    expect(result.verdict).toBe('deliverable');
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('passes over a first MX that answers 421 at connect', async () => {
    const busy = scriptedServer('421 4.3.2 Service not available, closing channel', {});
    const w = await world(
      { '127.0.0.16': busy, '127.0.0.17': { kind: 'smtp', mailboxes: ['ann'] } },
      {
        'acme.test': mx('mx1.acme.test', 'mx2.acme.test'),
        'mx1.acme.test': { A: ['127.0.0.16'] },
        'mx2.acme.test': { A: ['127.0.0.17'] },
      },
    );

    const result = await verifyIn(w, 'ann@acme.test');
    expect(result).toMatchObject({ verdict: 'deliverable', reason: 'accepted' });
    expect(w.logs.get('127.0.0.16')!.connections).toBe(1);
  });

  it('uses the domain itself when it has no MX but an A record (implicit MX)', async () => {
    const w = await world(
      { '127.0.0.18': { kind: 'smtp', mailboxes: ['ann'] } },
      { 'acme.test': { A: ['127.0.0.18'] } },
    );

    const result = await verifyIn(w, 'ann@acme.test');
    expect(result).toMatchObject({ verdict: 'deliverable', reason: 'accepted' });
    expect(result.mx).toEqual([{ host: 'acme.test', preference: 0 }]);
  });

  it('reports a null MX as undeliverable no_mail_server without connecting', async () => {
    const w = await world(
      { '127.0.0.19': { kind: 'smtp', isCatchAll: true } },
      { 'acme.test': { MX: [{ preference: 0, exchange: '.' }], A: ['127.0.0.19'] } },
    );

    const result = await verifyIn(w, 'ann@acme.test');
    expect(result).toMatchObject({ verdict: 'undeliverable', reason: 'no_mail_server' });
    expect(w.logs.get('127.0.0.19')!.connections).toBe(0);
  });

  it('reports NXDOMAIN as undeliverable domain_not_found', async () => {
    const w = await world({}, {});
    const result = await verifyIn(w, 'ann@missing.test');
    expect(result).toMatchObject({ verdict: 'undeliverable', reason: 'domain_not_found' });
    expect(result.evidence?.stage).toBe('dns');
  });

  it('reports SERVFAIL as unknown dns_error, never undeliverable', async () => {
    const w = await world({}, { 'acme.test': { behaviour: 'servfail' } });
    const result = await verifyIn(w, 'ann@acme.test');
    expect(result).toMatchObject({ verdict: 'unknown', reason: 'dns_error' });
  });

  it('reports a domain whose every MX host lacks an address as undeliverable', async () => {
    const w = await world({}, { 'acme.test': mx('gone.acme.test') });
    const result = await verifyIn(w, 'ann@acme.test');
    expect(result).toMatchObject({ verdict: 'undeliverable', reason: 'no_mail_server' });
  });

  it('marks an accepted address at a catch-all domain risky catch_all', async () => {
    const w = await world(
      { '127.0.0.20': { kind: 'smtp', isCatchAll: true } },
      { 'acme.test': mx('mx1.acme.test'), 'mx1.acme.test': { A: ['127.0.0.20'] } },
    );

    const result = await verifyIn(w, 'ann@acme.test');
    expect(result).toMatchObject({ verdict: 'risky', reason: 'catch_all' });
    expect(result.flags.catchAll).toBe(true);
  });

  it('retries a greylisted RCPT and lets the retry decide', async () => {
    const w = await world(
      { '127.0.0.21': { kind: 'smtp', mailboxes: ['ann'], greylistCount: 1 } },
      { 'acme.test': mx('mx1.acme.test'), 'mx1.acme.test': { A: ['127.0.0.21'] } },
    );

    const result = await verifyIn(w, 'ann@acme.test', { catchAllProbe: false });
    expect(result).toMatchObject({ verdict: 'deliverable', reason: 'accepted' });
    expect(result.evidence?.attempts).toBe(2);
    const log = w.logs.get('127.0.0.21')!;
    expect(new Set(log.mailFrom)).toEqual(new Set(['probe@verifier.mailverify.test']));
  });

  it('gives up after the last retry with unknown greylisted', async () => {
    const w = await world(
      { '127.0.0.22': { kind: 'smtp', mailboxes: ['ann'], greylistCount: 10 } },
      { 'acme.test': mx('mx1.acme.test'), 'mx1.acme.test': { A: ['127.0.0.22'] } },
    );

    const result = await verifyIn(w, 'ann@acme.test', { greylistRetry: [0.02, 0.02] });
    expect(result).toMatchObject({ verdict: 'unknown', reason: 'greylisted' });
    expect(result.evidence?.attempts).toBe(3);
  });

  it('does not retry when retries are disabled', async () => {
    const w = await world(
      { '127.0.0.22': { kind: 'smtp', mailboxes: ['ann'], greylistCount: 1 } },
      { 'acme.test': mx('mx1.acme.test'), 'mx1.acme.test': { A: ['127.0.0.22'] } },
    );

    const result = await verifyIn(w, 'ann@acme.test', { greylistRetry: [] });
    expect(result).toMatchObject({ verdict: 'unknown', reason: 'greylisted' });
    expect(w.logs.get('127.0.0.22')!.rcptTo).toHaveLength(1);
  });

  it('tells full, disabled and unknown mailboxes apart', async () => {
    const w = await world(
      {
        '127.0.0.23': {
          kind: 'smtp',
          mailboxes: ['ann'],
          replies: {
            full: '552 5.2.2 <full@acme.test>: Recipient address rejected: Mailbox full',
            tempfull: '452 4.2.2 The email account that you tried to reach is over quota.',
            disabled: '550 5.2.1 The email account that you tried to reach is disabled.',
          },
        },
      },
      { 'acme.test': mx('mx1.acme.test'), 'mx1.acme.test': { A: ['127.0.0.23'] } },
    );

    const settings = { catchAllProbe: false, greylistRetry: [] };
    expect(await verifyIn(w, 'full@acme.test', settings)).toMatchObject({
      verdict: 'risky',
      reason: 'mailbox_full',
    });
    expect(await verifyIn(w, 'tempfull@acme.test', settings)).toMatchObject({
      verdict: 'risky',
      reason: 'mailbox_full',
    });
    expect(await verifyIn(w, 'disabled@acme.test', settings)).toMatchObject({
      verdict: 'undeliverable',
      reason: 'mailbox_disabled',
    });
  });

  it('reports a policy block aimed at the sender as unknown blocked', async () => {
    const block =
      '554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org';
    const w = await world(
      { '127.0.0.24': { kind: 'smtp', mailboxes: ['ann'], everyRcpt: block } },
      { 'acme.test': mx('mx1.acme.test'), 'mx1.acme.test': { A: ['127.0.0.24'] } },
    );

    const result = await verifyIn(w, 'nobody@acme.test');
    expect(result).toMatchObject({ verdict: 'unknown', reason: 'blocked' });
  });

  it('reports a refused MAIL FROM as unknown blocked', async () => {
    const w = await world(
      {
        '127.0.0.25': {
          kind: 'smtp',
          mailboxes: ['ann'],
          mailReply: '550 5.7.1 Sender address rejected: Access denied',
        },
      },
      { 'acme.test': mx('mx1.acme.test'), 'mx1.acme.test': { A: ['127.0.0.25'] } },
    );

    const result = await verifyIn(w, 'ann@acme.test');
    expect(result).toMatchObject({ verdict: 'unknown', reason: 'blocked' });
    expect(result.evidence?.stage).toBe('mail');
  });

  it('verifies through STARTTLS when offered and when required', async () => {
    const w = await world(
      {
        '127.0.0.26': { kind: 'smtp', mailboxes: ['ann'], tls: 'offered' },
        '127.0.0.27': { kind: 'smtp', mailboxes: ['ann'], tls: 'required' },
      },
      {
        'offered.test': mx('mx.offered.test'),
        'mx.offered.test': { A: ['127.0.0.26'] },
        'required.test': mx('mx.required.test'),
        'mx.required.test': { A: ['127.0.0.27'] },
      },
    );

    expect((await verifyIn(w, 'ann@offered.test')).verdict).toBe('deliverable');
    expect((await verifyIn(w, 'ann@required.test')).verdict).toBe('deliverable');
    expect((await verifyIn(w, 'bob@required.test')).reason).toBe('mailbox_not_found');
  });

  it('uses SMTPUTF8 for a non-ASCII local part when the server offers it', async () => {
    const w = await world(
      {
        '127.0.0.28': { kind: 'smtp', mailboxes: ['jörg'], smtputf8: true },
        '127.0.0.29': { kind: 'smtp', mailboxes: ['jörg'], smtputf8: false },
      },
      {
        'utf8.test': mx('mx.utf8.test'),
        'mx.utf8.test': { A: ['127.0.0.28'] },
        'ascii.test': mx('mx.ascii.test'),
        'mx.ascii.test': { A: ['127.0.0.29'] },
      },
    );

    const offered = await verifyIn(w, 'jörg@utf8.test');
    expect(offered).toMatchObject({ verdict: 'deliverable', reason: 'accepted' });
    expect(offered.flags.smtputf8).toBe(true);

    const missing = await verifyIn(w, 'jörg@ascii.test');
    expect(missing).toMatchObject({ verdict: 'undeliverable', reason: 'smtputf8_unsupported' });
    expect(w.logs.get('127.0.0.29')!.rcptTo).toHaveLength(0);
  });

  it('fails fast with protocol_error on an endless reply line', async () => {
    let bytesSent = 0;
    const endless: HostSpec = {
      kind: 'raw',
      onConnection(socket) {
        const chunk = '2'.repeat(64 * 1024);
        const pump = () => {
          while (!socket.destroyed && bytesSent < 50 * 1024 * 1024) {
            bytesSent += chunk.length;
            if (!socket.write(chunk)) return void socket.once('drain', pump);
          }
        };
        pump();
      },
    };
    const w = await world(
      { '127.0.0.30': endless },
      { 'acme.test': mx('mx1.acme.test'), 'mx1.acme.test': { A: ['127.0.0.30'] } },
    );

    const result = await verifyIn(w, 'ann@acme.test');
    expect(result).toMatchObject({ verdict: 'unknown', reason: 'protocol_error' });
    expect(bytesSent).toBeLessThan(50 * 1024 * 1024);
  });

  it('fails fast with protocol_error on an endless multi-line reply', async () => {
    const endless: HostSpec = {
      kind: 'raw',
      onConnection(socket) {
        let lines = 0;
        const pump = () => {
          while (!socket.destroyed && lines < 1_000_000) {
            lines += 1;
            if (!socket.write('220-still greeting you\r\n')) return void socket.once('drain', pump);
          }
        };
        pump();
      },
    };
    const w = await world(
      { '127.0.0.31': endless },
      { 'acme.test': mx('mx1.acme.test'), 'mx1.acme.test': { A: ['127.0.0.31'] } },
    );

    const result = await verifyIn(w, 'ann@acme.test');
    expect(result).toMatchObject({ verdict: 'unknown', reason: 'protocol_error' });
  });

  it('reports a connection closed mid-reply at RCPT as unknown', async () => {
    const closer: HostSpec = {
      kind: 'raw',
      onConnection(socket) {
        writeLines(socket, '220 mx ESMTP');
        socket.on('data', (chunk: Buffer) => {
          const line = chunk.toString();
          if (/^EHLO/i.test(line)) writeLines(socket, '250-mx', '250 8BITMIME');
          else if (/^MAIL/i.test(line)) writeLines(socket, '250 2.1.0 Ok');
          else if (/^RCPT/i.test(line)) {
            socket.write('550-5.1.1 first line of a reply that never ends');
            socket.destroy();
          }
        });
      },
    };
    const w = await world(
      { '127.0.0.32': closer },
      { 'acme.test': mx('mx1.acme.test'), 'mx1.acme.test': { A: ['127.0.0.32'] } },
    );

    const result = await verifyIn(w, 'ann@acme.test');
    expect(result.verdict).toBe('unknown');
    expect(result.evidence?.stage).toBe('rcpt');
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['169.254.169.254', 'link-local metadata'],
  ])('refuses an MX on %s (%s) unless private mail servers are allowed', async (ip) => {
    const w = await world({}, { 'acme.test': mx('mx1.acme.test'), 'mx1.acme.test': { A: [ip] } });

    const result = await verifyIn(w, 'ann@acme.test', { allowPrivateMx: false });
    expect(result).toMatchObject({ verdict: 'unknown', reason: 'private_mail_server' });
    expect(result.evidence?.stage).toBe('guard');
  });

  it('stops at syntax for an address with a line break, asking no DNS', async () => {
    const w = await world({}, {});
    const result = await verifyIn(w, 'ann@acme.test\r\nRCPT TO:<x@y.test>');
    expect(result).toMatchObject({ verdict: 'undeliverable', reason: 'invalid_syntax' });
    expect(result.normalized).toBeNull();
    expect(w.dns.queries).toHaveLength(0);
  });

  it('makes an accepting disposable domain risky disposable', async () => {
    const w = await world(
      { '127.0.0.33': { kind: 'smtp', mailboxes: ['ann'] } },
      { 'mailinator.com': mx('mx.mailinator.com'), 'mx.mailinator.com': { A: ['127.0.0.33'] } },
    );

    const result = await verifyIn(w, 'ann@mailinator.com');
    expect(result).toMatchObject({ verdict: 'risky', reason: 'disposable' });
    expect(result.flags.disposable).toBe(true);
  });

  it('suggests the intended domain for a common typo', async () => {
    const w = await world({}, {});
    const result = await verifyIn(w, 'ann@gmial.com');
    expect(result.suggestion).toBe('ann@gmail.com');
  });

  it('retries other 4xx answers, then reports unknown temporary_failure', async () => {
    const w = await world(
      {
        '127.0.0.34': {
          kind: 'smtp',
          mailboxes: ['ann'],
          everyRcpt: '451 4.3.0 Temporary lookup failure',
        },
      },
      { 'acme.test': mx('mx1.acme.test'), 'mx1.acme.test': { A: ['127.0.0.34'] } },
    );

    const result = await verifyIn(w, 'ann@acme.test', { greylistRetry: [0.02] });
    expect(result).toMatchObject({ verdict: 'unknown', reason: 'temporary_failure' });
    expect(w.logs.get('127.0.0.34')!.rcptTo).toHaveLength(2);
  });
});
