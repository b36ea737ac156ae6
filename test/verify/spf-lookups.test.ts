import { describe, expect, it } from 'vitest';

import { parseSpfClient, SpfLookups } from '../../src/verify/spf-lookups.js';
import type { Clock, IdentityResolver } from '../../src/verify/types.js';

type DnsErrorCode = 'ENOTFOUND' | 'ENODATA' | 'ESERVFAIL';

function dnsError(code: DnsErrorCode): Error {
  return Object.assign(new Error(`query ${code}`), { code });
}

/** Answers A and TXT from maps; everything else does not exist. */
function createResolver(
  answers: { A?: Record<string, string[]>; TXT?: Record<string, string[][] | DnsErrorCode> },
  reverse: Record<string, string[]> = {},
) {
  const queries: string[] = [];
  const resolver: IdentityResolver = {
    resolve4: async (host) => {
      queries.push(`A ${host}`);
      const records = answers.A?.[host];
      if (records === undefined) throw dnsError('ENOTFOUND');
      return records;
    },
    resolve6: async (host) => {
      queries.push(`AAAA ${host}`);
      throw dnsError('ENODATA');
    },
    resolveMx: async (domain) => {
      queries.push(`MX ${domain}`);
      return [];
    },
    resolveTxt: async (name) => {
      queries.push(`TXT ${name}`);
      const records = answers.TXT?.[name];
      if (records === undefined) throw dnsError('ENOTFOUND');
      if (typeof records === 'string') throw dnsError(records);
      return records;
    },
    reverse: async (ip) => {
      queries.push(`PTR ${ip}`);
      const names = reverse[ip];
      if (names === undefined) throw dnsError('ENOTFOUND');
      return names;
    },
  };
  return { resolver, queries };
}

function fixedClock(start = 0) {
  const time = { now: start };
  const clock: Clock = { now: () => time.now, sleep: async () => {} };
  return { clock, time };
}

function lookupsFor(ip: string, resolver: IdentityResolver, clock = fixedClock().clock) {
  return new SpfLookups(resolver, parseSpfClient(ip), clock, 1_000);
}

describe('SpfLookups: limits of RFC 7208 4.6.4', () => {
  it('allows ten DNS-querying terms and names the eleventh', () => {
    const lookups = lookupsFor('192.0.2.1', createResolver({}).resolver);

    const answers = Array.from({ length: 11 }, () => lookups.spendTerm());

    expect(answers.slice(0, 10)).toEqual(Array(10).fill(null));
    expect(answers[10]).toBe('more than 10 terms query DNS (RFC 7208 4.6.4)');
    expect(lookups.termCount).toBe(11);
  });

  it('allows two answers without records and names the third', () => {
    const lookups = lookupsFor('192.0.2.1', createResolver({}).resolver);

    expect([lookups.countVoid(), lookups.countVoid()]).toEqual([null, null]);
    expect(lookups.countVoid()).toBe('more than 2 DNS lookups found no records (RFC 7208 4.6.4)');
  });

  it('fails every question past the time budget without asking DNS', async () => {
    const { resolver, queries } = createResolver({ TXT: { 'example.com': [['v=spf1 -all']] } });
    const { clock, time } = fixedClock();
    const lookups = lookupsFor('192.0.2.1', resolver, clock);

    time.now = 1_001;

    expect(lookups.hasExpired).toBe(true);
    expect(await lookups.askTxt('example.com')).toEqual({
      kind: 'failed',
      detail: 'the SPF evaluation took longer than 1000 ms (RFC 7208 4.6.4)',
    });
    expect(queries).toEqual([]);
  });
});

describe('SpfLookups: answers', () => {
  it('returns records, or void for NXDOMAIN and for no records', async () => {
    const { resolver } = createResolver({
      TXT: { 'example.com': [['v=spf1 ', '-all']], 'empty.example.com': 'ENODATA' },
    });
    const lookups = lookupsFor('192.0.2.1', resolver);

    expect(await lookups.askTxt('example.com')).toEqual({
      kind: 'records',
      records: [['v=spf1 ', '-all']],
    });
    expect(await lookups.askTxt('empty.example.com')).toEqual({ kind: 'void' });
    expect(await lookups.askTxt('gone.example.com')).toEqual({ kind: 'void' });
  });

  it('reports SERVFAIL as a failure naming the question (RFC 7208 5)', async () => {
    const { resolver } = createResolver({ TXT: { 'example.com': 'ESERVFAIL' } });

    expect(await lookupsFor('192.0.2.1', resolver).askTxt('example.com')).toEqual({
      kind: 'failed',
      detail: 'DNS lookup TXT example.com failed with ESERVFAIL',
    });
  });

  it('asks A for an IPv4 client and AAAA for an IPv6 one', async () => {
    const { resolver, queries } = createResolver({});

    await lookupsFor('192.0.2.1', resolver).askAddresses('mail.example.com');
    await lookupsFor('2001:db8::1', resolver).askAddresses('mail.example.com');

    expect(queries).toEqual(['A mail.example.com', 'AAAA mail.example.com']);
  });
});

describe('SpfLookups: validated reverse names (RFC 7208 5.5, 7.3)', () => {
  const reverse = { '192.0.2.42': ['mx.example.org.', 'Mail.Example.com', 'liar.example.com'] };
  const addresses = {
    'mx.example.org': ['192.0.2.42'],
    'Mail.Example.com': ['192.0.2.42'],
    'liar.example.com': ['198.51.100.1'],
  };

  it('keeps only names that resolve back to the client, asking PTR once', async () => {
    const { resolver, queries } = createResolver({ A: addresses }, reverse);
    const lookups = lookupsFor('192.0.2.42', resolver);

    expect(await lookups.findValidatedNameWithin('example.com')).toBe('mail.example.com');
    expect(await lookups.findValidatedNameWithin('example.net')).toBeUndefined();
    expect(queries.filter((query) => query.startsWith('PTR'))).toEqual(['PTR 192.0.2.42']);
  });

  it('chooses for %{p} the domain itself, then a subdomain, then any name', async () => {
    const { resolver } = createResolver({ A: addresses }, reverse);
    const lookups = lookupsFor('192.0.2.42', resolver);

    expect(await lookups.chooseValidatedName('mx.example.org')).toBe('mx.example.org');
    expect(await lookups.chooseValidatedName('Example.com')).toBe('mail.example.com');
    expect(await lookups.chooseValidatedName('example.net')).toBe('mx.example.org');
  });

  it('gives "unknown" for %{p} when no name is validated', async () => {
    const lookups = lookupsFor('192.0.2.7', createResolver({}).resolver);

    expect(await lookups.chooseValidatedName('example.com')).toBe('unknown');
  });
});

describe('parseSpfClient', () => {
  it('takes an IPv4-mapped IPv6 address for the IPv4 client it is (RFC 7208 5)', () => {
    const client = parseSpfClient('::ffff:192.0.2.1');

    expect(client.text).toBe('192.0.2.1');
    expect(client.address.kind()).toBe('ipv4');
  });

  it('writes an IPv6 client in RFC 5952 form', () => {
    expect(parseSpfClient('2001:DB8:0:0:0:0:0:1').text).toBe('2001:db8::1');
  });

  it.each(['not-an-ip', '192.0.2', 'fe80::1%eth0'])('throws for %j', (ip) => {
    expect(() => parseSpfClient(ip)).toThrow(TypeError);
  });
});
