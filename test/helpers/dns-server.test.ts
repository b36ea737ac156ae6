import dgram from 'node:dgram';
import { Resolver as NodeResolver } from 'node:dns/promises';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResolver } from '../../src/verify/create-resolver.js';
import type { Resolver } from '../../src/verify/types.js';
import { startDnsServer } from './dns-server.js';
import type { DnsServer, Zone } from './dns-server.js';
import { createZoneResolver } from './zone-resolver.js';

const MANY_ADDRESSES = Array.from({ length: 40 }, (_, index) => `192.0.2.${index + 1}`);

const ZONE: Zone = {
  'example.test': {
    MX: [
      { preference: 10, exchange: 'mx1.example.test' },
      { preference: 20, exchange: 'MX2.Example.Test.' },
    ],
    A: ['192.0.2.10'],
    TXT: ['v=spf1 -all', 'x'.repeat(300)],
  },
  'mx1.example.test': { A: ['192.0.2.1', '192.0.2.2'], AAAA: ['2001:db8::1'] },
  'null.test': { MX: [{ preference: 0, exchange: '.' }] },
  'many.test': { A: MANY_ADDRESSES },
  '1.2.0.192.in-addr.arpa': { PTR: ['mx1.example.test'] },
  'servfail.test': { behaviour: 'servfail' },
  'refused.test': { behaviour: 'refused' },
  'silent.test': { behaviour: 'timeout' },
};

type Outcome = { value: unknown } | { code: unknown };

async function outcomeOf(query: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { value: await query() };
  } catch (error) {
    return { code: (error as NodeJS.ErrnoException).code };
  }
}

function createNodeResolver(server: string): NodeResolver {
  const resolver = new NodeResolver({ timeout: 300, tries: 1 });
  resolver.setServers([server]);
  return resolver;
}

function sendUdp(port: number, message: Buffer, waitMs: number): Promise<Buffer | null> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(null), waitMs);
    const finish = (reply: Buffer | null) => {
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    };
    socket.on('message', (reply) => finish(reply));
    socket.send(message, port, '127.0.0.1');
  });
}

describe('startDnsServer', () => {
  let dns: DnsServer;
  let resolver: NodeResolver;

  beforeAll(async () => {
    dns = await startDnsServer(ZONE);
    resolver = createNodeResolver(dns.server);
  });

  afterAll(async () => {
    await dns.close();
  });

  it('listens on a loopback ephemeral port', () => {
    expect(dns.server).toBe(`127.0.0.1:${dns.port}`);
    expect(dns.port).toBeGreaterThan(0);
  });

  it('answers MX, A, AAAA, TXT and PTR questions from the zone', async () => {
    await expect(resolver.resolveMx('example.test')).resolves.toEqual([
      { exchange: 'mx1.example.test', priority: 10 },
      { exchange: 'MX2.Example.Test', priority: 20 },
    ]);
    await expect(resolver.resolve4('mx1.example.test')).resolves.toEqual([
      '192.0.2.1',
      '192.0.2.2',
    ]);
    await expect(resolver.resolve6('mx1.example.test')).resolves.toEqual(['2001:db8::1']);
    await expect(resolver.resolveTxt('example.test')).resolves.toEqual([
      ['v=spf1 -all'],
      ['x'.repeat(255), 'x'.repeat(45)],
    ]);
    await expect(resolver.reverse('192.0.2.1')).resolves.toEqual(['mx1.example.test']);
  });

  it('matches names without regard to case or a trailing dot', async () => {
    await expect(resolver.resolve4('MX1.Example.TEST.')).resolves.toHaveLength(2);
  });

  it('encodes a null MX as the root name, which Node reports as ""', async () => {
    await expect(resolver.resolveMx('null.test')).resolves.toEqual([{ exchange: '', priority: 0 }]);
  });

  it('reports ENOTFOUND for a name outside the zone', async () => {
    await expect(outcomeOf(() => resolver.resolveMx('absent.test'))).resolves.toEqual({
      code: 'ENOTFOUND',
    });
  });

  it('reports ENODATA for a name without the asked type', async () => {
    await expect(outcomeOf(() => resolver.resolve6('example.test'))).resolves.toEqual({
      code: 'ENODATA',
    });
  });

  it('answers SERVFAIL, REFUSED or nothing when the name says so', async () => {
    const outcomes = await Promise.all([
      outcomeOf(() => resolver.resolveMx('servfail.test')),
      outcomeOf(() => resolver.resolveMx('refused.test')),
      outcomeOf(() => resolver.resolveMx('silent.test')),
    ]);

    expect(outcomes).toEqual([{ code: 'ESERVFAIL' }, { code: 'EREFUSED' }, { code: 'ETIMEOUT' }]);
  });

  it('truncates a large UDP answer so that the resolver asks again over TCP', async () => {
    const before = dns.queries.filter(({ name }) => name === 'many.test').length;

    await expect(resolver.resolve4('many.test')).resolves.toEqual(MANY_ADDRESSES);

    const asked = dns.queries.filter(({ name }) => name === 'many.test').length - before;
    expect(asked).toBe(2);
  });

  it('records every question it receives', async () => {
    await resolver.resolveMx('Recorded.Example.Test').catch(() => undefined);

    expect(dns.queries).toContainEqual({ name: 'recorded.example.test', type: 'MX' });
  });

  it('serves the new zone after setZone', async () => {
    const server = await startDnsServer({ 'swap.test': { A: ['192.0.2.1'] } });
    const local = createNodeResolver(server.server);
    try {
      server.setZone({ 'swap.test': { A: ['192.0.2.99'] } });

      await expect(local.resolve4('swap.test')).resolves.toEqual(['192.0.2.99']);
    } finally {
      await server.close();
    }
  });

  it('ignores malformed and oversized UDP packets but still answers queries', async () => {
    const before = dns.queries.length;
    const query = dnsPacket.encode({
      type: 'query',
      id: 7,
      questions: [{ type: 'A', name: 'mx1.example.test' }],
    });
    const oversized = Buffer.concat([query, Buffer.alloc(600)]);

    await expect(sendUdp(dns.port, Buffer.from('not a dns packet'), 200)).resolves.toBeNull();
    await expect(sendUdp(dns.port, oversized, 200)).resolves.toBeNull();
    expect(dns.queries.length).toBe(before);

    const reply = await sendUdp(dns.port, query, 2_000);
    expect(reply).not.toBeNull();
    expect(dnsPacket.decode(reply ?? Buffer.alloc(0)).id).toBe(7);
  });

  it('ignores packets that are responses rather than queries', async () => {
    const response = dnsPacket.encode({
      type: 'response',
      id: 8,
      questions: [{ type: 'A', name: 'mx1.example.test' }],
    });

    await expect(sendUdp(dns.port, response, 200)).resolves.toBeNull();
  });
});

describe('createZoneResolver', () => {
  const QUERIES: [keyof Resolver, string][] = [
    ['resolveMx', 'example.test'],
    ['resolveMx', 'null.test'],
    ['resolveMx', 'mx1.example.test'],
    ['resolveMx', 'absent.test'],
    ['resolveMx', 'servfail.test'],
    ['resolveMx', 'refused.test'],
    ['resolveMx', 'silent.test'],
    ['resolve4', 'mx1.example.test'],
    ['resolve4', 'MX1.EXAMPLE.TEST.'],
    ['resolve4', 'null.test'],
    ['resolve4', 'absent.test'],
    ['resolve4', 'servfail.test'],
    ['resolve4', 'refused.test'],
    ['resolve4', 'silent.test'],
    ['resolve6', 'mx1.example.test'],
    ['resolve6', 'example.test'],
    ['resolve6', 'absent.test'],
    ['resolve6', 'servfail.test'],
    ['resolve6', 'silent.test'],
  ];

  let dns: DnsServer;

  beforeAll(async () => {
    dns = await startDnsServer(ZONE);
  });

  afterAll(async () => {
    await dns.close();
  });

  it("answers and fails exactly like Node's resolver against the same zone", async () => {
    const network = createResolver({ servers: [dns.server], timeoutMs: 300, tries: 1 });
    const memory = createZoneResolver(ZONE);

    const ask = (resolver: Resolver) =>
      Promise.all(QUERIES.map(([method, name]) => outcomeOf(() => resolver[method](name))));
    const [overNetwork, inMemory] = await Promise.all([ask(network), ask(memory)]);

    expect(inMemory).toEqual(overNetwork);
    expect(
      new Set(overNetwork.map((outcome) => ('code' in outcome ? outcome.code : 'ok'))),
    ).toEqual(new Set(['ok', 'ENOTFOUND', 'ENODATA', 'ESERVFAIL', 'EREFUSED', 'ETIMEOUT']));
  });

  it("gives errors the shape of Node's DNS errors", async () => {
    const error = await createZoneResolver(ZONE)
      .resolveMx('absent.test')
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      code: 'ENOTFOUND',
      syscall: 'queryMx',
      hostname: 'absent.test',
      message: 'queryMx ENOTFOUND absent.test',
    });
  });
});
