import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResolver } from '../../src/verify/create-resolver.js';
import { resolveMailServers } from '../../src/verify/resolve-mail-servers.js';
import type { Resolver } from '../../src/verify/types.js';
import { startDnsServer } from '../helpers/dns-server.js';
import type { DnsServer, Zone } from '../helpers/dns-server.js';
import { createZoneResolver } from '../helpers/zone-resolver.js';

const TWELVE_HOSTS = Array.from({ length: 12 }, (_, index) => `mx${index}.many.test`);

const ZONE: Zone = {
  'ordered.test': {
    MX: [
      { preference: 20, exchange: 'mx-b.ordered.test' },
      { preference: 10, exchange: 'mx-a.ordered.test' },
      { preference: 30, exchange: 'mx-c.ordered.test' },
    ],
  },
  'mx-a.ordered.test': { A: ['192.0.2.1'], AAAA: ['2001:db8::1'] },
  'mx-b.ordered.test': { AAAA: ['2001:db8::2'] },
  'mx-c.ordered.test': { A: ['192.0.2.3', '192.0.2.4'] },

  'equal.test': {
    MX: [
      { preference: 10, exchange: 'first.equal.test' },
      { preference: 10, exchange: 'second.equal.test' },
      { preference: 10, exchange: 'third.equal.test' },
      { preference: 5, exchange: 'best.equal.test' },
    ],
  },
  'first.equal.test': { A: ['192.0.2.11'] },
  'second.equal.test': { A: ['192.0.2.12'] },
  'third.equal.test': { A: ['192.0.2.13'] },
  'best.equal.test': { A: ['192.0.2.10'] },

  'implicit-a.test': { A: ['192.0.2.20'], TXT: ['v=spf1 -all'] },
  'implicit-aaaa.test': { AAAA: ['2001:db8::20'] },
  'nothing.test': { TXT: ['v=spf1 -all'] },

  'null.test': { MX: [{ preference: 0, exchange: '.' }] },
  'null-mixed.test': {
    MX: [
      { preference: 0, exchange: '.' },
      { preference: 10, exchange: 'mx.null-mixed.test' },
    ],
  },
  'mx.null-mixed.test': { A: ['192.0.2.30'] },

  'servfail.test': { behaviour: 'servfail' },
  'silent.test': { behaviour: 'timeout' },
  'refused.test': { behaviour: 'refused' },

  'partly.test': {
    MX: [
      { preference: 10, exchange: 'gone.partly.test' },
      { preference: 20, exchange: 'nodata.partly.test' },
      { preference: 30, exchange: 'mx.partly.test' },
    ],
  },
  'nodata.partly.test': { TXT: ['no address here'] },
  'mx.partly.test': { A: ['192.0.2.40'] },

  'dangling.test': {
    MX: [
      { preference: 10, exchange: 'gone.dangling.test' },
      { preference: 20, exchange: 'nodata.dangling.test' },
    ],
  },
  'nodata.dangling.test': { TXT: ['no address here'] },

  'broken-mx.test': {
    MX: [
      { preference: 10, exchange: 'gone.broken-mx.test' },
      { preference: 20, exchange: 'failing.broken-mx.test' },
    ],
  },
  'failing.broken-mx.test': { behaviour: 'servfail' },

  'one-failing.test': {
    MX: [
      { preference: 10, exchange: 'failing.one-failing.test' },
      { preference: 20, exchange: 'mx.one-failing.test' },
    ],
  },
  'failing.one-failing.test': { behaviour: 'servfail' },
  'mx.one-failing.test': { A: ['192.0.2.50'] },

  'literal.test': {
    MX: [
      { preference: 10, exchange: '192.0.2.60' },
      { preference: 20, exchange: '2001:db8::60' },
    ],
  },

  'duplicates.test': {
    MX: [
      { preference: 20, exchange: 'mx.duplicates.test' },
      { preference: 10, exchange: 'MX.Duplicates.Test.' },
      { preference: 30, exchange: 'mx.duplicates.test' },
    ],
  },
  'mx.duplicates.test': { A: ['192.0.2.70'] },

  'many.test': {
    MX: TWELVE_HOSTS.map((exchange, index) => ({ preference: index, exchange })),
  },
  ...Object.fromEntries(
    TWELVE_HOSTS.map((host, index) => [host, { A: [`192.0.2.${100 + index}`] }]),
  ),

  'slow.test': {
    MX: Array.from({ length: 8 }, (_, index) => ({
      preference: index,
      exchange: `silent${index}.slow.test`,
    })),
  },
  ...Object.fromEntries(
    Array.from({ length: 8 }, (_, index) => [`silent${index}.slow.test`, { behaviour: 'timeout' }]),
  ),
};

/** Returns the given values in turn, then the last one forever. */
function sequence(...values: number[]): () => number {
  let index = 0;
  return () => values[Math.min(index++, values.length - 1)] ?? 0;
}

const keepDnsOrder = () => 0;

describe('resolveMailServers through Node and a loopback DNS server', () => {
  let dns: DnsServer;
  let resolver: Resolver;

  const queriesFor = (name: string) => dns.queries.filter((query) => query.name === name);

  beforeAll(async () => {
    dns = await startDnsServer(ZONE);
    resolver = createResolver({ servers: [dns.server], timeoutMs: 300, tries: 1 });
  });

  afterAll(async () => {
    await dns.close();
  });

  it('orders MX hosts by preference with IPv4 addresses before IPv6', async () => {
    await expect(resolveMailServers('ordered.test', resolver)).resolves.toEqual({
      status: 'found',
      implicit: false,
      skipped: [],
      servers: [
        { host: 'mx-a.ordered.test', preference: 10, addresses: ['192.0.2.1', '2001:db8::1'] },
        { host: 'mx-b.ordered.test', preference: 20, addresses: ['2001:db8::2'] },
        { host: 'mx-c.ordered.test', preference: 30, addresses: ['192.0.2.3', '192.0.2.4'] },
      ],
    });
  });

  it('keeps the DNS order of equal preferences when the random source says so', async () => {
    const lookup = await resolveMailServers('equal.test', resolver, { random: keepDnsOrder });

    expect(lookup.status === 'found' && lookup.servers.map(({ host }) => host)).toEqual([
      'best.equal.test',
      'first.equal.test',
      'second.equal.test',
      'third.equal.test',
    ]);
  });

  it('shuffles only hosts of equal preference, with the random source given', async () => {
    // One draw per host in each group: "best" alone, then first, second, third.
    const random = sequence(0.5, 0.9, 0.1, 0.5);

    const lookup = await resolveMailServers('equal.test', resolver, { random });

    expect(lookup.status === 'found' && lookup.servers.map(({ host }) => host)).toEqual([
      'best.equal.test',
      'second.equal.test',
      'third.equal.test',
      'first.equal.test',
    ]);
  });

  it('uses the domain itself as an implicit MX when it has only an A record', async () => {
    await expect(resolveMailServers('implicit-a.test', resolver)).resolves.toEqual({
      status: 'found',
      implicit: true,
      skipped: [],
      servers: [{ host: 'implicit-a.test', preference: 0, addresses: ['192.0.2.20'] }],
    });
  });

  it('uses the domain itself as an implicit MX when it has only an AAAA record', async () => {
    await expect(resolveMailServers('implicit-aaaa.test', resolver)).resolves.toEqual({
      status: 'found',
      implicit: true,
      skipped: [],
      servers: [{ host: 'implicit-aaaa.test', preference: 0, addresses: ['2001:db8::20'] }],
    });
  });

  it('returns no_mail_server for a domain with neither MX nor address records', async () => {
    await expect(resolveMailServers('nothing.test', resolver)).resolves.toEqual({
      status: 'no_mail_server',
      detail: 'nothing.test has no MX, A or AAAA records',
    });
  });

  it('returns null_mx for "MX 0 ." without looking up any address', async () => {
    await expect(resolveMailServers('null.test', resolver)).resolves.toEqual({
      status: 'null_mx',
    });
    expect(queriesFor('null.test').map(({ type }) => type)).toEqual(['MX']);
  });

  it('ignores a null MX listed beside real MX records', async () => {
    await expect(resolveMailServers('null-mixed.test', resolver)).resolves.toEqual({
      status: 'found',
      implicit: false,
      skipped: [],
      servers: [{ host: 'mx.null-mixed.test', preference: 10, addresses: ['192.0.2.30'] }],
    });
  });

  it('returns domain_not_found for NXDOMAIN', async () => {
    await expect(resolveMailServers('absent.test', resolver)).resolves.toEqual({
      status: 'domain_not_found',
    });
  });

  it('returns dns_error ESERVFAIL when the MX query gets SERVFAIL', async () => {
    await expect(resolveMailServers('servfail.test', resolver)).resolves.toEqual({
      status: 'dns_error',
      code: 'ESERVFAIL',
      detail: 'queryMx ESERVFAIL servfail.test',
    });
  });

  it('returns dns_error ETIMEOUT when the MX query gets no answer', async () => {
    await expect(resolveMailServers('silent.test', resolver)).resolves.toMatchObject({
      status: 'dns_error',
      code: 'ETIMEOUT',
    });
  });

  it('returns dns_error EREFUSED when the server refuses the MX query', async () => {
    await expect(resolveMailServers('refused.test', resolver)).resolves.toMatchObject({
      status: 'dns_error',
      code: 'EREFUSED',
    });
  });

  it('skips MX hosts without an address and keeps the one that has one', async () => {
    await expect(resolveMailServers('partly.test', resolver)).resolves.toEqual({
      status: 'found',
      implicit: false,
      skipped: [
        { host: 'gone.partly.test', preference: 10 },
        { host: 'nodata.partly.test', preference: 20 },
      ],
      servers: [{ host: 'mx.partly.test', preference: 30, addresses: ['192.0.2.40'] }],
    });
  });

  it('returns no_mail_server when no MX host has an address', async () => {
    await expect(resolveMailServers('dangling.test', resolver)).resolves.toEqual({
      status: 'no_mail_server',
      detail: 'no MX host has an address: gone.dangling.test, nodata.dangling.test',
    });
  });

  it('returns dns_error, not no_mail_server, when an MX host lookup failed', async () => {
    await expect(resolveMailServers('broken-mx.test', resolver)).resolves.toEqual({
      status: 'dns_error',
      code: 'ESERVFAIL',
      detail: 'failing.broken-mx.test: queryA ESERVFAIL failing.broken-mx.test',
    });
  });

  it('uses the hosts that resolved when another MX host lookup failed', async () => {
    await expect(resolveMailServers('one-failing.test', resolver)).resolves.toEqual({
      status: 'found',
      implicit: false,
      skipped: [{ host: 'failing.one-failing.test', preference: 10 }],
      servers: [{ host: 'mx.one-failing.test', preference: 20, addresses: ['192.0.2.50'] }],
    });
  });

  it('takes an IP literal MX exchange as its own address without asking DNS', async () => {
    await expect(resolveMailServers('literal.test', resolver)).resolves.toEqual({
      status: 'found',
      implicit: false,
      skipped: [],
      servers: [
        { host: '192.0.2.60', preference: 10, addresses: ['192.0.2.60'] },
        { host: '2001:db8::60', preference: 20, addresses: ['2001:db8::60'] },
      ],
    });
    expect(dns.queries.filter(({ name }) => name.includes('192.0.2.60'))).toEqual([]);
  });

  it('lists a host once, at its lowest preference, whatever its case or trailing dot', async () => {
    await expect(resolveMailServers('Duplicates.TEST.', resolver)).resolves.toEqual({
      status: 'found',
      implicit: false,
      skipped: [],
      servers: [{ host: 'mx.duplicates.test', preference: 10, addresses: ['192.0.2.70'] }],
    });
  });

  it('looks up at most ten MX hosts by default', async () => {
    const lookup = await resolveMailServers('many.test', resolver);

    expect(lookup.status === 'found' && lookup.servers.map(({ host }) => host)).toEqual(
      TWELVE_HOSTS.slice(0, 10),
    );
    expect(queriesFor('mx10.many.test')).toEqual([]);
    expect(queriesFor('mx11.many.test')).toEqual([]);
  });

  it('looks up only maxMailServers MX hosts', async () => {
    const lookup = await resolveMailServers('ordered.test', resolver, { maxMailServers: 1 });

    expect(lookup.status === 'found' && lookup.servers.map(({ host }) => host)).toEqual([
      'mx-a.ordered.test',
    ]);
  });

  it('looks up MX hosts in parallel, so silent ones cost one timeout, not eight', async () => {
    const startedAt = Date.now();

    const lookup = await resolveMailServers('slow.test', resolver);

    expect(lookup).toMatchObject({ status: 'dns_error', code: 'ETIMEOUT' });
    // One lookup takes 0.3 to 0.6 s; eight in a row would take 2.4 s or more.
    expect(Date.now() - startedAt).toBeLessThan(1_800);
  });

  it('throws for a maxMailServers that is not a positive integer', async () => {
    await expect(
      resolveMailServers('ordered.test', resolver, { maxMailServers: 0 }),
    ).rejects.toThrow('maxMailServers must be a positive integer, got 0');
  });
});

describe('resolveMailServers with the in-memory zone resolver', () => {
  const resolver = createZoneResolver(ZONE);

  it('orders MX hosts by preference', async () => {
    const lookup = await resolveMailServers('ordered.test', resolver);

    expect(lookup.status === 'found' && lookup.servers.map(({ host }) => host)).toEqual([
      'mx-a.ordered.test',
      'mx-b.ordered.test',
      'mx-c.ordered.test',
    ]);
  });

  it('returns null_mx for "MX 0 ."', async () => {
    await expect(resolveMailServers('null.test', resolver)).resolves.toEqual({
      status: 'null_mx',
    });
  });

  it('returns dns_error for an implicit MX only when no address lookup answered', async () => {
    const timingOut: Resolver = {
      ...resolver,
      resolve4: (host) =>
        Promise.reject(Object.assign(new Error(`queryA ETIMEOUT ${host}`), { code: 'ETIMEOUT' })),
    };

    await expect(resolveMailServers('implicit-aaaa.test', timingOut)).resolves.toEqual({
      status: 'found',
      implicit: true,
      skipped: [],
      servers: [{ host: 'implicit-aaaa.test', preference: 0, addresses: ['2001:db8::20'] }],
    });
    await expect(resolveMailServers('nothing.test', timingOut)).resolves.toEqual({
      status: 'dns_error',
      code: 'ETIMEOUT',
      detail: 'queryA ETIMEOUT nothing.test',
    });
  });

  it('reports an error without a code as dns_error EUNKNOWN', async () => {
    const broken: Resolver = { ...resolver, resolveMx: () => Promise.reject(new Error('boom')) };

    await expect(resolveMailServers('ordered.test', broken)).resolves.toEqual({
      status: 'dns_error',
      code: 'EUNKNOWN',
      detail: 'boom',
    });
  });
});
