import dns from 'node:dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResolver, parseDnsServer } from '../../src/verify/create-resolver.js';
import { startDnsServer } from '../helpers/dns-server.js';
import type { DnsServer } from '../helpers/dns-server.js';

describe('parseDnsServer', () => {
  it.each([
    ['192.0.2.53', '192.0.2.53'],
    ['192.0.2.53:5353', '192.0.2.53:5353'],
    [' 192.0.2.53 ', '192.0.2.53'],
    ['2001:DB8::53', '2001:db8::53'],
    ['[2001:db8::53]', '2001:db8::53'],
    ['[2001:db8::53]:5353', '[2001:db8::53]:5353'],
    ['[::1]:53', '[::1]:53'],
    ['[192.0.2.53]:53', '192.0.2.53:53'],
  ])('normalizes %j to %j', (entry, expected) => {
    expect(parseDnsServer(entry)).toBe(expected);
  });

  it.each(['dns.example.test', 'dns.example.test:53', '[dns.example.test]:53', '', '127.1'])(
    'refuses %j because it is not an IP address',
    (entry) => {
      expect(() => parseDnsServer(entry)).toThrow(/must be an IPv4 or IPv6 address/);
    },
  );

  it.each([
    '192.0.2.53:0',
    '192.0.2.53:65536',
    '192.0.2.53:dns',
    '192.0.2.53:',
    '[::1]:',
    '[::1]:-1',
  ])('refuses %j because of its port', (entry) => {
    expect(() => parseDnsServer(entry)).toThrow(/port must be 1 to 65535/);
  });
});

describe('createResolver', () => {
  let server: DnsServer;

  beforeAll(async () => {
    server = await startDnsServer({
      'example.test': { MX: [{ preference: 10, exchange: 'mx.example.test' }] },
      'mx.example.test': { A: ['192.0.2.25'], AAAA: ['2001:db8::25'], TXT: ['v=spf1 -all'] },
      '25.2.0.192.in-addr.arpa': { PTR: ['mx.example.test'] },
      'silent.test': { behaviour: 'timeout' },
    });
  });

  afterAll(async () => {
    await server.close();
  });

  it('asks the configured server for MX, A and AAAA records', async () => {
    const resolver = createResolver({ servers: [server.server] });

    await expect(resolver.resolveMx('example.test')).resolves.toEqual([
      { exchange: 'mx.example.test', priority: 10 },
    ]);
    await expect(resolver.resolve4('mx.example.test')).resolves.toEqual(['192.0.2.25']);
    await expect(resolver.resolve6('mx.example.test')).resolves.toEqual(['2001:db8::25']);
  });

  it('answers the TXT and PTR questions of the sender checks', async () => {
    const resolver = createResolver({ servers: [server.server] });

    await expect(resolver.resolveTxt('mx.example.test')).resolves.toEqual([['v=spf1 -all']]);
    await expect(resolver.reverse('192.0.2.25')).resolves.toEqual(['mx.example.test']);
  });

  it('leaves the process-wide DNS servers untouched', () => {
    const before = dns.getServers();

    createResolver({ servers: [server.server] });

    expect(dns.getServers()).toEqual(before);
  });

  it('keeps each resolver on its own servers', async () => {
    const other = await startDnsServer({ 'example.test': { A: ['192.0.2.99'] } });
    try {
      const first = createResolver({ servers: [server.server], timeoutMs: 300, tries: 1 });
      const second = createResolver({ servers: [other.server], timeoutMs: 300, tries: 1 });

      await expect(second.resolve4('example.test')).resolves.toEqual(['192.0.2.99']);
      await expect(first.resolve4('example.test')).rejects.toMatchObject({ code: 'ENODATA' });
    } finally {
      await other.close();
    }
  });

  it('gives up on a silent server with ETIMEOUT after a few timeoutMs', async () => {
    const resolver = createResolver({ servers: [server.server], timeoutMs: 300, tries: 1 });
    const startedAt = Date.now();

    await expect(resolver.resolveMx('silent.test')).rejects.toMatchObject({ code: 'ETIMEOUT' });

    const elapsed = Date.now() - startedAt;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1_500);
  });

  it('sends a question to a silent server as many times as tries says', async () => {
    const resolver = createResolver({ servers: [server.server], timeoutMs: 200, tries: 3 });
    const asked = () => server.queries.filter(({ name }) => name === 'silent.test').length;
    const before = asked();

    await expect(resolver.resolve4('silent.test')).rejects.toMatchObject({ code: 'ETIMEOUT' });

    expect(asked() - before).toBe(3);
  });

  it('throws a configuration error for a host name instead of an address', () => {
    expect(() => createResolver({ servers: ['dns.example.test'] })).toThrow(
      'DNS server must be an IPv4 or IPv6 address, got "dns.example.test"',
    );
  });

  it.each([
    [{ timeoutMs: 0 }, /timeoutMs must be a positive integer/],
    [{ timeoutMs: 1.5 }, /timeoutMs must be a positive integer/],
    [{ tries: 0 }, /tries must be a positive integer/],
  ])('throws a configuration error for %j', (options, message) => {
    expect(() => createResolver(options)).toThrow(message);
  });
});
