import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { classifyReply } from '../../src/verify/classify-reply.js';
import { createTcpOpener } from '../../src/verify/open-socket.js';
import { SmtpSession } from '../../src/verify/smtp-session.js';
import type { SmtpReply } from '../../src/verify/types.js';
import { startBenchWorld } from './bench-world.js';
import type { BenchWorld, DomainKind } from './bench-world.js';

let world: BenchWorld;

beforeAll(async () => {
  world = await startBenchWorld({
    domains: 13,
    servers: 2,
    rttMs: 0,
    seed: 7,
    greylistSeconds: 0.3,
  });
});

afterAll(() => world.close());

function listed(kind: DomainKind, exists: boolean): string {
  for (let index = 0; index < 2_000; index += 1) {
    const email = world.addressAt(index);
    const truth = world.truthOf(email);
    if (truth.kind === kind && truth.exists === exists) return email;
  }
  throw new Error(`no ${kind} address with exists=${exists} in the first 2000`);
}

/** Asks the address's own mail server about each recipient, in one session. */
async function askRcpt(...recipients: string[]): Promise<SmtpReply[]> {
  const domain = recipients[0]!.slice(recipients[0]!.indexOf('@') + 1);
  const [mx] = await world.resolver.resolveMx(domain);
  const [ip] = await world.resolver.resolve4(mx!.exchange);

  const opened = await SmtpSession.open({
    opener: createTcpOpener(),
    target: { host: mx!.exchange, ip: ip!, port: world.smtpPort },
    heloName: 'verifier.bench.test',
    startTls: 'never',
  });
  if (!opened.ok) throw new Error(`no session: ${opened.failure.message}`);
  await opened.session.mailFrom('probe@verifier.bench.test');
  const replies = await opened.session.rcptToMany(recipients);
  await opened.session.quit();
  return replies.map((reply) => {
    if (!reply.ok) throw new Error(reply.failure.message);
    return reply.reply;
  });
}

describe('startBenchWorld', () => {
  it('gives every kind of domain and spreads them over the servers', () => {
    const kinds = world.domains.map((domain) => domain.kind);

    expect(kinds.filter((kind) => kind === 'catch_all')).toHaveLength(1);
    expect(kinds.filter((kind) => kind === 'greylisting')).toHaveLength(1);
    expect(new Set(world.domains.map((domain) => domain.server))).toEqual(new Set([0, 1]));
  });

  it('lists the same addresses for the same seed, about half of them existing', () => {
    const addresses = Array.from({ length: 1_000 }, (_, index) => world.addressAt(index));
    const existing = addresses.filter((email) => world.truthOf(email).exists).length;

    expect(world.addressAt(42)).toBe(addresses[42]);
    expect(new Set(addresses).size).toBe(1_000);
    expect(existing).toBeGreaterThan(430);
    expect(existing).toBeLessThan(570);
  });

  it('accepts a listed mailbox and refuses an unknown one as Postfix does', async () => {
    const known = listed('plain', true);
    const unknown = listed('plain', false);

    const [accepted, refused] = await askRcpt(known, unknown);

    expect(accepted?.code).toBe(250);
    expect(refused).toMatchObject({ code: 550, enhancedCode: '5.1.1' });
    expect(refused?.text).toContain('Recipient address rejected: User unknown');
  });

  it('refuses a name it never listed, such as a catch-all probe, at a plain domain', async () => {
    const domain = listed('plain', true).split('@')[1]!;

    const [reply] = await askRcpt(`x7k2m9q4w1z8c3v6b5n0@${domain}`);

    expect(reply?.code).toBe(550);
    expect(world.truthOf(`x7k2m9q4w1z8c3v6b5n0@${domain}`).exists).toBe(false);
  });

  it('accepts any recipient at a catch-all domain', async () => {
    const domain = listed('catch_all', false).split('@')[1]!;

    const [reply] = await askRcpt(`x7k2m9q4w1z8c3v6b5n0@${domain}`);

    expect(reply?.code).toBe(250);
  });

  it('greylists a recipient until it is asked again after the delay', async () => {
    const recipient = listed('greylisting', true);

    const [first] = await askRcpt(recipient);
    const [tooSoon] = await askRcpt(recipient);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const [later] = await askRcpt(recipient);

    expect(first).toMatchObject({ code: 450, enhancedCode: '4.2.0' });
    expect(classifyReply('rcpt', first!).reason).toBe('greylisted');
    expect(tooSoon?.code).toBe(450);
    expect(later?.code).toBe(250);
  });

  it('forgets greylisted recipients and zeroes the counts on reset', async () => {
    const recipient = listed('greylisting', false);
    await askRcpt(recipient);
    await new Promise((resolve) => setTimeout(resolve, 300));

    await world.reset();
    const [reply] = await askRcpt(recipient);

    expect(reply?.code).toBe(450);
    expect(await world.totals()).toMatchObject({ connections: 1, rcpts: 1, rejectedRcpts: 1 });
  });

  it('refuses to relay for a domain another server receives', async () => {
    const recipient = listed('plain', true);
    const own = world.domains.find((domain) => recipient.endsWith(`@${domain.name}`))!;
    const other = world.domains.find((domain) => domain.server !== own.server)!;

    const [, reply] = await askRcpt(recipient, `someone@${other.name}`);

    expect(reply).toMatchObject({ code: 554, enhancedCode: '5.7.1' });
    expect(classifyReply('rcpt', reply!).reason).toBe('blocked');
  });
});

describe('startBenchWorld with a delay', () => {
  it('points the mail hosts at the latency proxies', async () => {
    const delayed = await startBenchWorld({
      domains: 2,
      servers: 2,
      rttMs: 20,
      seed: 1,
      greylistSeconds: 1,
    });
    try {
      const [mx] = await delayed.resolver.resolveMx(delayed.domains[1]!.name);
      const addresses = await delayed.resolver.resolve4(mx!.exchange);

      expect(addresses).toEqual(['127.0.4.11']);
    } finally {
      await delayed.close();
    }
  });
});
