import { describe, expect, it } from 'vitest';
import { evaluateSpf } from '../../src/verify/evaluate-spf.js';
import type { SpfOptions, SpfResult } from '../../src/verify/evaluate-spf.js';
import type { Clock, IdentityResolver } from '../../src/verify/types.js';

type DnsErrorCode = 'ENOTFOUND' | 'ENODATA' | 'ESERVFAIL' | 'ETIMEOUT';

interface ZoneEntry {
  /** One item per TXT record; an array is a record split into several strings. */
  TXT?: (string | string[])[];
  A?: string[];
  AAAA?: string[];
  MX?: [number, string][];
  /** Every question about this name fails with this code. */
  error?: DnsErrorCode;
}

type Zone = Record<string, ZoneEntry>;

/** Reverse names by client address, or the code the PTR lookup fails with. */
type ReverseZone = Record<string, string[] | DnsErrorCode>;

interface RecordingResolver extends IdentityResolver {
  /** Every question asked, as "TYPE name". */
  queries: string[];
}

/**
 * An in-memory resolver that fails the way Node's does: an Error whose
 * `code` is ENOTFOUND for a name that does not exist, ENODATA for a name
 * without records of the asked type, or the entry's own failure.
 */
function createZoneResolver(
  zone: Zone,
  reverseZone: ReverseZone = {},
  onQuery: () => void = () => {},
): RecordingResolver {
  const queries: string[] = [];
  const entries = new Map(Object.entries(zone).map(([name, entry]) => [name.toLowerCase(), entry]));

  const lookup = async <T>(
    type: string,
    name: string,
    select: (entry: ZoneEntry) => T[] | undefined,
  ): Promise<T[]> => {
    queries.push(`${type} ${name}`);
    onQuery();

    const entry = entries.get(name.toLowerCase());
    if (!entry) throw dnsError(type, 'ENOTFOUND', name);
    if (entry.error) throw dnsError(type, entry.error, name);
    const records = select(entry) ?? [];
    if (records.length === 0) throw dnsError(type, 'ENODATA', name);
    return records;
  };

  return {
    queries,
    resolveTxt: (name) =>
      lookup('TXT', name, (entry) =>
        entry.TXT?.map((record) => (typeof record === 'string' ? [record] : record)),
      ),
    resolve4: (name) => lookup('A', name, (entry) => entry.A),
    resolve6: (name) => lookup('AAAA', name, (entry) => entry.AAAA),
    resolveMx: (name) =>
      lookup('MX', name, (entry) =>
        entry.MX?.map(([priority, exchange]) => ({ priority, exchange })),
      ),
    reverse: async (ip) => {
      queries.push(`PTR ${ip}`);
      onQuery();

      const names = reverseZone[ip];
      if (names === undefined) throw dnsError('getHostByAddr', 'ENOTFOUND', ip);
      if (typeof names === 'string') throw dnsError('getHostByAddr', names, ip);
      return names;
    },
  };
}

function dnsError(syscall: string, code: DnsErrorCode, hostname: string): Error {
  return Object.assign(new Error(`${syscall} ${code} ${hostname}`), { code, syscall, hostname });
}

async function check(
  ip: string,
  zone: Zone,
  options: SpfOptions & { domain?: string; reverseZone?: ReverseZone } = {},
) {
  const resolver = createZoneResolver(zone, options.reverseZone);
  const evaluation = await evaluateSpf(ip, options.domain ?? 'example.com', resolver, options);
  return { ...evaluation, queries: resolver.queries };
}

function spf(record: string, extra: Zone = {}): Zone {
  return { 'example.com': { TXT: [record] }, ...extra };
}

describe('evaluateSpf: record selection (RFC 7208 4.4, 4.5)', () => {
  it('returns none when the domain does not exist', async () => {
    const evaluation = await check('192.0.2.1', {});

    expect(evaluation.result).toBe('none');
    expect(evaluation.record).toBeNull();
    expect(evaluation.lookups).toBe(0);
    expect(evaluation.explanation).toContain('publishes no SPF record');
  });

  it('returns none when no TXT record starts with v=spf1', async () => {
    const zone = { 'example.com': { TXT: ['google-site-verification=abc', 'v=spf10 -all'] } };

    expect((await check('192.0.2.1', zone)).result).toBe('none');
  });

  it('joins the strings of one TXT record without adding spaces', async () => {
    const split = { 'example.com': { TXT: [['v=spf1 ip4:192.0.2.1', ' -all']] } };
    const glued = { 'example.com': { TXT: [['v=spf1', 'ip4:192.0.2.1']] } };

    expect((await check('192.0.2.1', split)).result).toBe('pass');
    expect((await check('192.0.2.1', glued)).result).toBe('none');
  });

  it('reads the version case-insensitively', async () => {
    expect((await check('192.0.2.1', spf('V=SpF1 ~all'))).result).toBe('softfail');
  });

  it('returns permerror when two records start with v=spf1', async () => {
    const zone = { 'example.com': { TXT: ['v=spf1 -all', 'v=spf1 +all', 'other text'] } };

    const evaluation = await check('192.0.2.1', zone);

    expect(evaluation.result).toBe('permerror');
    expect(evaluation.explanation).toContain('2 SPF records');
  });

  it('returns temperror when the TXT lookup fails with SERVFAIL', async () => {
    const evaluation = await check('192.0.2.1', { 'example.com': { error: 'ESERVFAIL' } });

    expect(evaluation.result).toBe('temperror');
    expect(evaluation.explanation).toContain('ESERVFAIL');
  });

  it.each(['localhost', '[192.0.2.1]', `${'a'.repeat(64)}.example.com`, 'a..example.com'])(
    'returns none without asking DNS for the malformed domain %s',
    async (domain) => {
      const evaluation = await check('192.0.2.1', {}, { domain });

      expect(evaluation.result).toBe('none');
      expect(evaluation.queries).toEqual([]);
    },
  );

  it('ignores a trailing dot on the domain', async () => {
    const evaluation = await check('192.0.2.1', spf('v=spf1 +all'), { domain: 'example.com.' });

    expect(evaluation.result).toBe('pass');
  });
});

describe('evaluateSpf: qualifiers and the default result', () => {
  it.each<[string, SpfResult]>([
    ['v=spf1 -all', 'fail'],
    ['v=spf1 ~all', 'softfail'],
    ['v=spf1 ?all', 'neutral'],
    ['v=spf1 +all', 'pass'],
    ['v=spf1 all', 'pass'],
    ['v=spf1 all -all', 'pass'],
  ])('"%s" gives %s', async (record, result) => {
    const evaluation = await check('192.0.2.1', spf(record));

    expect(evaluation.result).toBe(result);
    expect(evaluation.record).toBe(record);
    expect(evaluation.mechanism).toBe(record.split(' ')[1]);
  });

  it('returns neutral with no deciding term when nothing matches (RFC 7208 4.7)', async () => {
    const evaluation = await check('192.0.2.9', spf('v=spf1 ip4:192.0.2.1'));

    expect(evaluation.result).toBe('neutral');
    expect(evaluation.mechanism).toBeNull();
  });

  it('returns neutral for a record without terms', async () => {
    expect((await check('192.0.2.9', spf('v=spf1'))).result).toBe('neutral');
  });
});

describe('evaluateSpf: ip4 and ip6 (RFC 7208 5.6)', () => {
  it('passes an address listed by ip4 without any DNS lookup counted', async () => {
    const evaluation = await check('192.0.2.1', spf('v=spf1 ip4:192.0.2.1 -all'));

    expect(evaluation.result).toBe('pass');
    expect(evaluation.mechanism).toBe('ip4:192.0.2.1');
    expect(evaluation.lookups).toBe(0);
    expect(evaluation.explanation).toContain('192.0.2.1 matches ip4:192.0.2.1');
  });

  it('passes an address inside an ip4 CIDR range and fails one outside', async () => {
    const zone = spf('v=spf1 ip4:192.0.2.0/24 -all');

    expect((await check('192.0.2.77', zone)).result).toBe('pass');
    const outside = await check('198.51.100.1', zone);
    expect(outside.result).toBe('fail');
    expect(outside.mechanism).toBe('-all');
  });

  it('passes an address inside an ip6 range and fails one outside', async () => {
    const zone = spf('v=spf1 ip6:2001:db8::/32 -all');

    const inside = await check('2001:db8:1::5', zone);
    expect(inside.result).toBe('pass');
    expect(inside.mechanism).toBe('ip6:2001:db8::/32');
    expect((await check('2001:db9::1', zone)).result).toBe('fail');
  });

  it('never matches an IPv4 client against ip6, even ::/0', async () => {
    expect((await check('192.0.2.1', spf('v=spf1 ip6:::/0'))).result).toBe('neutral');
  });

  it('never matches an IPv6 client against ip4, even 0.0.0.0/0', async () => {
    expect((await check('2001:db8::1', spf('v=spf1 ip4:0.0.0.0/0'))).result).toBe('neutral');
  });
});

describe('evaluateSpf: a (RFC 7208 5.3)', () => {
  const hosts: Zone = {
    'mail.example.com': { A: ['192.0.2.10'], AAAA: ['2001:db8::10'] },
  };

  it('passes an address of the domain itself', async () => {
    const zone = { 'example.com': { TXT: ['v=spf1 a -all'], A: ['192.0.2.10'] } };

    const evaluation = await check('192.0.2.10', zone);

    expect(evaluation.result).toBe('pass');
    expect(evaluation.mechanism).toBe('a');
    expect(evaluation.lookups).toBe(1);
    expect((await check('192.0.2.11', zone)).result).toBe('fail');
  });

  it('asks for AAAA records for an IPv6 client', async () => {
    const evaluation = await check('2001:db8::10', spf('v=spf1 a:mail.example.com -all', hosts));

    expect(evaluation.result).toBe('pass');
    expect(evaluation.queries).toContain('AAAA mail.example.com');
  });

  it.each<[string, SpfResult]>([
    ['192.0.2.200', 'pass'],
    ['198.51.100.1', 'fail'],
    ['2001:db8::ffff', 'pass'],
    ['2001:db8:0:1::1', 'fail'],
  ])('applies a:host/24//64 to %s: %s', async (ip, result) => {
    const zone = spf('v=spf1 a:mail.example.com/24//64 -all', hosts);

    expect((await check(ip, zone)).result).toBe(result);
  });

  it('matches any of several addresses and has no limit on their number', async () => {
    const many = Array.from({ length: 20 }, (_, index) => `192.0.2.${index + 1}`);
    const zone = spf('v=spf1 a:pool.example.com -all', { 'pool.example.com': { A: many } });

    expect((await check('192.0.2.20', zone)).result).toBe('pass');
  });
});

describe('evaluateSpf: mx (RFC 7208 5.4)', () => {
  const zone: Zone = {
    'example.com': {
      TXT: ['v=spf1 mx -all'],
      MX: [
        [10, 'mail-a.example.com'],
        [20, 'mail-b.example.com'],
      ],
    },
    'mail-a.example.com': { A: ['192.0.2.129'] },
    'mail-b.example.com': { A: ['192.0.2.130'] },
  };

  it('passes an address of any MX host', async () => {
    const evaluation = await check('192.0.2.130', zone);

    expect(evaluation.result).toBe('pass');
    expect(evaluation.mechanism).toBe('mx');
    expect(evaluation.explanation).toContain('through MX host mail-b.example.com');
    expect(evaluation.lookups).toBe(1);
  });

  it('fails an address no MX host has', async () => {
    expect((await check('192.0.2.131', zone)).result).toBe('fail');
  });

  it('does not treat the domain as its own MX when it has none', async () => {
    const noMx = { 'example.com': { TXT: ['v=spf1 mx'], A: ['192.0.2.10'] } };

    expect((await check('192.0.2.10', noMx)).result).toBe('neutral');
  });

  it('skips a null MX', async () => {
    const nullMx: Zone = { 'example.com': { TXT: ['v=spf1 mx'], MX: [[0, '']] } };

    const evaluation = await check('192.0.2.10', nullMx);

    expect(evaluation.result).toBe('neutral');
    expect(evaluation.queries).toEqual(['TXT example.com', 'MX example.com']);
  });

  it('returns permerror when the domain has more than 10 MX hosts (RFC 7208 4.6.4)', async () => {
    const mx = Array.from({ length: 11 }, (_, index): [number, string] => [
      index,
      `mx${index}.example.com`,
    ]);
    const crowded: Zone = { 'example.com': { TXT: ['v=spf1 mx -all'], MX: mx } };

    const evaluation = await check('192.0.2.10', crowded);

    expect(evaluation.result).toBe('permerror');
    expect(evaluation.mechanism).toBe('mx');
    expect(evaluation.queries.filter((query) => query.startsWith('A '))).toEqual([]);
  });

  it('returns temperror when an MX host address lookup fails with SERVFAIL', async () => {
    const broken: Zone = {
      'example.com': { TXT: ['v=spf1 mx -all'], MX: [[10, 'mail.example.com']] },
      'mail.example.com': { error: 'ESERVFAIL' },
    };

    expect((await check('192.0.2.10', broken)).result).toBe('temperror');
  });
});

describe('evaluateSpf: ptr (RFC 7208 5.5)', () => {
  const zone = spf('v=spf1 ptr -all', {
    'amy.example.com': { A: ['192.0.2.65'] },
    'bob.example.com': { A: ['192.0.2.66'] },
    'mail-c.example.org': { A: ['192.0.2.140'] },
  });
  const reverseZone: ReverseZone = {
    '192.0.2.65': ['amy.example.com'],
    '192.0.2.140': ['mail-c.example.org'],
    '10.0.0.4': ['bob.example.com'],
    '192.0.2.99': 'ESERVFAIL',
  };

  it('passes a client whose validated reverse name is in the domain', async () => {
    const evaluation = await check('192.0.2.65', zone, { reverseZone });

    expect(evaluation.result).toBe('pass');
    expect(evaluation.explanation).toContain('reverse name amy.example.com');
  });

  it('fails a client whose reverse name is in another domain', async () => {
    expect((await check('192.0.2.140', zone, { reverseZone })).result).toBe('fail');
  });

  it('fails a client whose reverse name does not resolve back to it', async () => {
    expect((await check('10.0.0.4', zone, { reverseZone })).result).toBe('fail');
  });

  it('does not match, rather than temperror, when the PTR lookup fails', async () => {
    expect((await check('192.0.2.99', zone, { reverseZone })).result).toBe('fail');
  });

  it('checks only the first 10 reverse names (RFC 7208 4.6.4)', async () => {
    const names = Array.from({ length: 11 }, (_, index) => `host${index}.example.com`);
    const hosts = Object.fromEntries(names.map((name) => [name, { A: ['192.0.2.50'] }]));
    const onlyLastValid = {
      ...spf('v=spf1 ptr -all', hosts),
      ...Object.fromEntries(names.slice(0, 10).map((name) => [name, { A: ['192.0.2.51'] }])),
    };

    const evaluation = await check('192.0.2.50', onlyLastValid, {
      reverseZone: { '192.0.2.50': names },
    });

    expect(evaluation.result).toBe('fail');
    expect(evaluation.queries).not.toContain('A host10.example.com');
  });
});

describe('evaluateSpf: exists (RFC 7208 5.7)', () => {
  const zone = spf('v=spf1 exists:allowed.example.com -all', {
    'allowed.example.com': { A: ['127.0.0.2'] },
  });

  it('matches when the name has an A record, for an IPv4 client', async () => {
    expect((await check('192.0.2.1', zone)).result).toBe('pass');
  });

  it('asks for an A record even for an IPv6 client', async () => {
    const evaluation = await check('2001:db8::1', zone);

    expect(evaluation.result).toBe('pass');
    expect(evaluation.queries).toContain('A allowed.example.com');
  });
});

describe('evaluateSpf: include (RFC 7208 5.2)', () => {
  const provider: Zone = {
    '_spf.example.net': { TXT: ['v=spf1 ip4:198.51.100.0/24 -all'] },
    'soft.example.net': { TXT: ['v=spf1 ip4:198.51.100.0/24 ~all'] },
    'open.example.net': { TXT: ['v=spf1 ?all'] },
  };

  it('passes when the included record passes', async () => {
    const evaluation = await check(
      '198.51.100.7',
      spf('v=spf1 include:_spf.example.net -all', provider),
    );

    expect(evaluation.result).toBe('pass');
    expect(evaluation.mechanism).toBe('include:_spf.example.net');
    expect(evaluation.explanation).toContain('ip4:198.51.100.0/24');
    expect(evaluation.lookups).toBe(1);
  });

  it('does not match when the included record fails, so -all decides', async () => {
    const evaluation = await check(
      '203.0.113.5',
      spf('v=spf1 include:_spf.example.net -all', provider),
    );

    expect(evaluation.result).toBe('fail');
    expect(evaluation.mechanism).toBe('-all');
  });

  it('does not match when the included record softfails or is neutral', async () => {
    const record = 'v=spf1 include:soft.example.net include:open.example.net ~all';

    const evaluation = await check('203.0.113.5', spf(record, provider));

    expect(evaluation.result).toBe('softfail');
    expect(evaluation.mechanism).toBe('~all');
  });

  it('applies the qualifier of the include when it matches', async () => {
    const record = 'v=spf1 ~include:_spf.example.net +all';

    expect((await check('198.51.100.7', spf(record, provider))).result).toBe('softfail');
  });

  it('returns permerror when the included domain has no record', async () => {
    const evaluation = await check('192.0.2.1', spf('v=spf1 include:nothing.example.net -all'));

    expect(evaluation.result).toBe('permerror');
    expect(evaluation.mechanism).toBe('include:nothing.example.net');
  });

  it('returns permerror when the included record is invalid', async () => {
    const zone = spf('v=spf1 include:bad.example.net -all', {
      'bad.example.net': { TXT: ['v=spf1 ip4:192.0.2.300 -all'] },
    });

    expect((await check('192.0.2.1', zone)).result).toBe('permerror');
  });

  it('returns temperror when the included record cannot be fetched', async () => {
    const zone = spf('v=spf1 include:down.example.net -all', {
      'down.example.net': { error: 'ETIMEOUT' },
    });

    const evaluation = await check('192.0.2.1', zone);

    expect(evaluation.result).toBe('temperror');
    expect(evaluation.explanation).toContain('ETIMEOUT');
  });

  it('stops an include loop with permerror after asking once per domain', async () => {
    const zone = spf('v=spf1 include:loop.example.net -all', {
      'loop.example.net': { TXT: ['v=spf1 include:example.com -all'] },
    });

    const evaluation = await check('192.0.2.1', zone);

    expect(evaluation.result).toBe('permerror');
    expect(evaluation.explanation).toContain('loop');
    expect(evaluation.queries).toEqual(['TXT example.com', 'TXT loop.example.net']);
  });

  it('stops an include chain that makes up new names at the lookup limit', async () => {
    const zone: Zone = {};
    let name = 'example.com';
    for (let depth = 0; depth < 15; depth += 1) {
      zone[name] = { TXT: ['v=spf1 include:x.%{d} -all'] };
      name = `x.${name}`;
    }

    const evaluation = await check('192.0.2.1', zone);

    expect(evaluation.result).toBe('permerror');
    expect(evaluation.lookups).toBe(11);
    expect(evaluation.queries).toHaveLength(11);
  });
});

describe('evaluateSpf: redirect (RFC 7208 6.1)', () => {
  const shared: Zone = {
    '_spf.example.com': { TXT: ['v=spf1 ip4:198.51.100.0/24 -all exp=why.example.com'] },
    'why.example.com': { TXT: ['shared policy refuses %{i}'] },
  };

  it('hands the decision to the redirect target when nothing matched', async () => {
    const record = 'v=spf1 ip4:192.0.2.1 redirect=_spf.example.com';

    const evaluation = await check('198.51.100.5', spf(record, shared));

    expect(evaluation.result).toBe('pass');
    expect(evaluation.record).toBe(record);
    expect(evaluation.mechanism).toBe('ip4:198.51.100.0/24');
    expect(evaluation.explanation).toContain('reached by redirect=_spf.example.com');
    expect(evaluation.lookups).toBe(1);
  });

  it("uses the target's exp=, not the original's, after a fail (RFC 7208 6.2)", async () => {
    const record = 'v=spf1 redirect=_spf.example.com exp=local.example.com';
    const zone = spf(record, { ...shared, 'local.example.com': { TXT: ['not this one'] } });

    const evaluation = await check('203.0.113.1', zone);

    expect(evaluation.result).toBe('fail');
    expect(evaluation.explanation).toContain('"shared policy refuses 203.0.113.1"');
    expect(evaluation.explanation).not.toContain('not this one');
  });

  it('is ignored when a mechanism matched, wherever it stands', async () => {
    const evaluation = await check(
      '192.0.2.1',
      spf('v=spf1 redirect=_spf.example.com ~all', shared),
    );

    expect(evaluation.result).toBe('softfail');
  });

  it('returns permerror when the target has no record', async () => {
    const evaluation = await check('192.0.2.1', spf('v=spf1 redirect=nothing.example.net'));

    expect(evaluation.result).toBe('permerror');
    expect(evaluation.mechanism).toBe('redirect=nothing.example.net');
  });

  it('returns permerror when the record redirects to itself', async () => {
    const evaluation = await check('192.0.2.9', spf('v=spf1 ip4:192.0.2.1 redirect=example.com'));

    expect(evaluation.result).toBe('permerror');
    expect(evaluation.queries).toEqual(['TXT example.com']);
  });
});

describe('evaluateSpf: processing limits (RFC 7208 4.6.4)', () => {
  function addressTerms(count: number): { record: string; hosts: Zone } {
    const names = Array.from({ length: count }, (_, index) => `h${index}.example.com`);
    const hosts = Object.fromEntries(names.map((name) => [name, { A: ['198.51.100.1'] }]));
    const terms = names.map((name) => `a:${name}`).join(' ');
    return { record: `v=spf1 ${terms} ip4:192.0.2.1 -all`, hosts };
  }

  it('allows 10 terms that query DNS', async () => {
    const { record, hosts } = addressTerms(10);

    const evaluation = await check('192.0.2.1', spf(record, hosts));

    expect(evaluation.result).toBe('pass');
    expect(evaluation.lookups).toBe(10);
  });

  it('returns permerror at the 11th term that queries DNS', async () => {
    const { record, hosts } = addressTerms(11);

    const evaluation = await check('192.0.2.1', spf(record, hosts));

    expect(evaluation.result).toBe('permerror');
    expect(evaluation.mechanism).toBe('a:h10.example.com');
    expect(evaluation.lookups).toBe(11);
    expect(evaluation.queries).not.toContain('A h10.example.com');
  });

  it('counts the terms of included records against the same limit', async () => {
    const zone: Zone = {
      'example.com': {
        TXT: ['v=spf1 a include:inc.example.com a ip4:192.0.2.1 -all'],
        A: ['198.51.100.1'],
      },
      'inc.example.com': { TXT: ['v=spf1 a a a a a a a a'], A: ['198.51.100.2'] },
    };

    const evaluation = await check('192.0.2.1', zone);

    expect(evaluation.result).toBe('permerror');
    expect(evaluation.lookups).toBe(11);
  });

  it('allows two lookups that find nothing', async () => {
    const record = 'v=spf1 a:gone1.example.com mx:gone2.example.com ?all';

    expect((await check('192.0.2.1', spf(record))).result).toBe('neutral');
  });

  it('returns permerror at the third lookup that finds nothing', async () => {
    const record = 'v=spf1 a:gone1.example.com exists:gone2.example.com a:v6only.example.com ?all';
    const zone = spf(record, { 'v6only.example.com': { AAAA: ['2001:db8::1'] } });

    const evaluation = await check('192.0.2.1', zone);

    expect(evaluation.result).toBe('permerror');
    expect(evaluation.mechanism).toBe('a:v6only.example.com');
    expect(evaluation.explanation).toContain('found no records');
  });

  it('stops asking DNS in the middle of a term once the time budget is spent', async () => {
    let now = 0;
    const clock: Clock = { now: () => now, sleep: async () => {} };
    const zone: Zone = {
      'example.com': {
        TXT: ['v=spf1 mx -all'],
        MX: [
          [10, 'mail-a.example.com'],
          [20, 'mail-b.example.com'],
        ],
      },
      'mail-a.example.com': { A: ['198.51.100.1'] },
      'mail-b.example.com': { A: ['198.51.100.2'] },
    };
    const slowResolver = createZoneResolver(zone, {}, () => {
      now += 15_000;
    });

    const evaluation = await evaluateSpf('192.0.2.1', 'example.com', slowResolver, {
      clock,
      timeoutMs: 20_000,
    });

    expect(evaluation.result).toBe('temperror');
    expect(evaluation.mechanism).toBe('mx');
    expect(slowResolver.queries).toEqual(['TXT example.com', 'MX example.com']);
  });

  it('returns temperror once the time budget is spent', async () => {
    let now = 0;
    const clock: Clock = { now: () => now, sleep: async () => {} };
    const zone = spf('v=spf1 a:one.example.com a:two.example.com -all', {
      'one.example.com': { A: ['198.51.100.1'] },
      'two.example.com': { A: ['192.0.2.1'] },
    });
    const slowResolver = createZoneResolver(zone, {}, () => {
      now += 15_000;
    });

    const evaluation = await evaluateSpf('192.0.2.1', 'example.com', slowResolver, {
      clock,
      timeoutMs: 20_000,
    });

    expect(evaluation.result).toBe('temperror');
    expect(evaluation.mechanism).toBe('a:two.example.com');
    expect(slowResolver.queries).not.toContain('A two.example.com');
  });
});

describe('evaluateSpf: DNS errors in mechanisms (RFC 7208 5)', () => {
  it('returns temperror when an a lookup fails with SERVFAIL', async () => {
    const zone = spf('v=spf1 a:broken.example.com -all', {
      'broken.example.com': { error: 'ESERVFAIL' },
    });

    const evaluation = await check('192.0.2.1', zone);

    expect(evaluation.result).toBe('temperror');
    expect(evaluation.mechanism).toBe('a:broken.example.com');
    expect(evaluation.explanation).toContain('A broken.example.com failed with ESERVFAIL');
  });

  it('returns temperror when an exists lookup times out', async () => {
    const zone = spf('v=spf1 exists:slow.example.com -all', {
      'slow.example.com': { error: 'ETIMEOUT' },
    });

    expect((await check('192.0.2.1', zone)).result).toBe('temperror');
  });

  it('treats a name that does not exist as no match and goes on', async () => {
    const record = 'v=spf1 a:gone.example.com ip4:192.0.2.1 -all';

    expect((await check('192.0.2.1', spf(record))).result).toBe('pass');
  });
});

describe('evaluateSpf: macros (RFC 7208 7)', () => {
  it('expands %{i} in exists', async () => {
    const zone = spf('v=spf1 exists:%{i}.allow.example.com -all', {
      '192.0.2.1.allow.example.com': { A: ['127.0.0.2'] },
    });

    const allowed = await check('192.0.2.1', zone);

    expect(allowed.result).toBe('pass');
    expect(allowed.queries).toContain('A 192.0.2.1.allow.example.com');
    expect((await check('192.0.2.2', zone)).result).toBe('fail');
  });

  it('expands %{ir}.%{v}._spf.%{d} for an IPv4 client', async () => {
    const zone = spf('v=spf1 exists:%{ir}.%{v}._spf.%{d} -all', {
      '3.2.0.192.in-addr._spf.example.com': { A: ['127.0.0.2'] },
    });

    expect((await check('192.0.2.3', zone)).result).toBe('pass');
  });

  it('expands %{ir}.%{v}._spf.%{d} for an IPv6 client as reversed nibbles', async () => {
    const nibbles = '1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2';
    const zone = spf('v=spf1 exists:%{ir}.%{v}._spf.%{d} -all', {
      [`${nibbles}.ip6._spf.example.com`]: { A: ['127.0.0.2'] },
    });

    expect((await check('2001:db8::cb01', zone)).result).toBe('pass');
  });

  it('splits on the given delimiters, reverses and keeps the rightmost parts', async () => {
    const zone: Zone = {
      'mail.example.com': { TXT: ['v=spf1 exists:%{l2r+-}.user.%{d2} -all'] },
      'middle.first.user.example.com': { A: ['127.0.0.2'] },
    };

    const evaluation = await check('192.0.2.1', zone, {
      domain: 'mail.example.com',
      sender: 'first-middle+last@mail.example.com',
    });

    expect(evaluation.result).toBe('pass');
  });

  it('expands %{s}, %{o} and %{h} from the sender and the HELO name', async () => {
    const zone = spf('v=spf1 exists:%{l}.at.%{o}.via.%{h} -all', {
      'bounce.at.example.com.via.mta.example.net': { A: ['127.0.0.2'] },
    });

    const evaluation = await check('192.0.2.1', zone, {
      sender: 'bounce@example.com',
      heloName: 'mta.example.net',
    });

    expect(evaluation.result).toBe('pass');
  });

  it('uses postmaster as the local part when the sender has none (RFC 7208 4.3)', async () => {
    const zone = spf('v=spf1 exists:%{l}.users.example.com -all', {
      'postmaster.users.example.com': { A: ['127.0.0.2'] },
    });

    expect((await check('192.0.2.1', zone)).result).toBe('pass');
    expect((await check('192.0.2.1', zone, { sender: '@example.com' })).result).toBe('pass');
  });

  it('expands %%, %_ and %-', async () => {
    const zone = spf('v=spf1 a:macro%%percent%_space%-url.example.com -all', {
      'macro%percent space%20url.example.com': { A: ['192.0.2.1'] },
    });

    expect((await check('192.0.2.1', zone)).result).toBe('pass');
  });

  it('URL-escapes upper-case macros', async () => {
    const zone = spf('v=spf1 -all exp=why.example.com', {
      'why.example.com': { TXT: ['see https://example.com/why?s=%{S}'] },
    });

    const evaluation = await check('192.0.2.1', zone, { sender: 'jack&jill=up@example.com' });

    expect(evaluation.explanation).toContain('why?s=jack%26jill%3Dup%40example.com');
  });

  it('drops labels from the left of an expanded name longer than 253 characters', async () => {
    const local = 'x'.repeat(60);
    const record = 'v=spf1 exists:%{l}.%{l}.%{l}.%{l}.%{l}.example.com -all';

    const evaluation = await check('192.0.2.1', spf(record), { sender: `${local}@example.com` });

    expect(evaluation.queries).toContain(`A ${local}.${local}.${local}.example.com`);
  });

  it('expands %{p} to the validated reverse name within the domain', async () => {
    const zone = spf('v=spf1 exists:%{p}.ok.example.com -all', {
      'mx.example.org': { A: ['192.0.2.42'] },
      'mx.example.com': { A: ['192.0.2.42'] },
      'mx.example.com.ok.example.com': { A: ['127.0.0.2'] },
    });
    const reverseZone = { '192.0.2.42': ['mx.example.org', 'mx.example.com'] };

    expect((await check('192.0.2.42', zone, { reverseZone })).result).toBe('pass');
  });

  it.each([
    ['an unknown letter', 'v=spf1 exists:%{z}.example.com -all'],
    ['%{c} outside exp text', 'v=spf1 exists:%{c}.example.com -all'],
    ['%{t} outside exp text', 'v=spf1 a:%{t}.example.com -all'],
    ['a zero digit transformer', 'v=spf1 exists:%{d0}.example.com -all'],
    ['a stray percent', 'v=spf1 exists:foo%.example.com -all'],
    ['a parenthesized macro', 'v=spf1 exists:%(i).example.com -all'],
    ['an unclosed macro', 'v=spf1 exists:%{i.example.com -all'],
  ])('returns permerror for %s', async (_, record) => {
    const evaluation = await check('192.0.2.1', spf(record));

    expect(evaluation.result).toBe('permerror');
    expect(evaluation.queries).toEqual(['TXT example.com']);
  });
});

describe('evaluateSpf: IPv4-mapped IPv6 clients (RFC 7208 5)', () => {
  it('matches an IPv4-mapped client against ip4', async () => {
    const evaluation = await check('::ffff:192.0.2.1', spf('v=spf1 ip4:192.0.2.0/24 -all'));

    expect(evaluation.result).toBe('pass');
    expect(evaluation.explanation).toContain('192.0.2.1 matches');
  });

  it('does not match an IPv4-mapped client against ip6', async () => {
    expect((await check('::FFFF:192.0.2.1', spf('v=spf1 ip6:::/0 -all'))).result).toBe('fail');
  });

  it('asks for A records and expands %{i} as a dotted quad', async () => {
    const zone = spf('v=spf1 a:mail.example.com exists:%{i}.bl.example.com -all', {
      'mail.example.com': { A: ['198.51.100.1'] },
      '192.0.2.1.bl.example.com': { A: ['127.0.0.2'] },
    });

    const evaluation = await check('::ffff:192.0.2.1', zone);

    expect(evaluation.result).toBe('pass');
    expect(evaluation.queries).toContain('A mail.example.com');
  });
});

describe('evaluateSpf: syntax errors (RFC 7208 4.6, 5, 6, 7.1)', () => {
  it.each([
    ['v=spf1 -all.', '-all.'],
    ['v=spf1 -all:foo', '-all:foo'],
    ['v=spf1 -all/8', '-all/8'],
    ['v=spf1 ip4:192.0.2', 'ip4:192.0.2'],
    ['v=spf1 ip4:192.0.2.300', 'ip4:192.0.2.300'],
    ['v=spf1 ip4:192.0.2.1/33', 'ip4:192.0.2.1/33'],
    ['v=spf1 ip4:192.0.2.1/032', 'ip4:192.0.2.1/032'],
    ['v=spf1 ip4:192.0.2.1//32', 'ip4:192.0.2.1//32'],
    ['v=spf1 ip4:192.0.2.1:25', 'ip4:192.0.2.1:25'],
    ['v=spf1 ip4', 'ip4'],
    ['v=spf1 ip6:2001:db8::/129', 'ip6:2001:db8::/129'],
    ['v=spf1 ip6::db8::1', 'ip6::db8::1'],
    ['v=spf1 a:museum', 'a:museum'],
    ['v=spf1 a:museum.', 'a:museum.'],
    ['v=spf1 a:example.123', 'a:example.123'],
    ['v=spf1 a:example.-com', 'a:example.-com'],
    ['v=spf1 a:example.com:8080', 'a:example.com:8080'],
    ['v=spf1 a/24/16', 'a/24/16'],
    ['v=spf1 a/abc', 'a/abc'],
    ['v=spf1 a//129', 'a//129'],
    ['v=spf1 a:', 'a:'],
    ['v=spf1 mx/33', 'mx/33'],
    ['v=spf1 include:', 'include:'],
    ['v=spf1 include:example.net/24', 'include:example.net/24'],
    ['v=spf1 exists', 'exists'],
    ['v=spf1 ptr/0', 'ptr/0'],
    ['v=spf1 redirect:example.net', 'redirect:example.net'],
    ['v=spf1 redirect=', 'redirect='],
    ['v=spf1 exp=-all', 'exp=-all'],
    ['v=spf1 =all', '=all'],
    ['v=spf1 1up=foo', '1up=foo'],
    ['v=spf1 foo=%abc', 'foo=%abc'],
    ['v=spf1 moo.cow/far_out=man:dog/cat', 'moo.cow/far_out=man:dog/cat'],
    ['v=spf1 redirect=a.example.net redirect=b.example.net', 'redirect=b.example.net'],
    ['v=spf1 exp=a.example.net -all exp=b.example.net', 'exp=b.example.net'],
  ])('returns permerror for "%s", naming %s', async (record, term) => {
    const evaluation = await check('192.0.2.1', spf(record));

    expect(evaluation.result).toBe('permerror');
    expect(evaluation.mechanism).toBe(term);
    expect(evaluation.record).toBe(record);
  });

  it('returns permerror for two redirects even when both targets pass', async () => {
    const record = 'v=spf1 redirect=a.example.net redirect=b.example.net';
    const zone = spf(record, {
      'a.example.net': { TXT: ['v=spf1 +all'] },
      'b.example.net': { TXT: ['v=spf1 +all'] },
    });

    const evaluation = await check('192.0.2.1', zone);

    expect(evaluation.result).toBe('permerror');
    expect(evaluation.queries).toEqual(['TXT example.com']);
  });

  it('detects a syntax error after a term that would match', async () => {
    const evaluation = await check('192.0.2.1', spf('v=spf1 ip4:192.0.2.1 -all moo'));

    expect(evaluation.result).toBe('permerror');
    expect(evaluation.mechanism).toBe('moo');
  });

  it.each(['v=spf1 ip4:192.0.2.1\t-all', 'v=spf1 a:b\u00fccher.example.com'])(
    'returns permerror for a record with a tab or a non-ASCII character: %j',
    async (record) => {
      expect((await check('192.0.2.1', spf(record))).result).toBe('permerror');
    },
  );

  it('ignores unknown modifiers with valid syntax', async () => {
    const record = 'v=spf1 moo.cow-far_out=man:dog/cat ip4:192.0.2.1 default=pass -all';

    expect((await check('192.0.2.1', spf(record))).result).toBe('pass');
  });

  it('accepts a top-level label with hyphens and a domain ending in a macro', async () => {
    const record = 'v=spf1 a:foo.example.xn--zckzah a:%{d} -all';
    const zone = spf(record, { 'foo.example.xn--zckzah': { A: ['192.0.2.1'] } });

    expect((await check('192.0.2.1', zone)).result).toBe('pass');
  });
});

describe('evaluateSpf: exp= explanations (RFC 7208 6.2)', () => {
  it('adds the expanded text of the domain to a fail', async () => {
    const zone = spf('v=spf1 -all exp=explain.example.com', {
      'explain.example.com': { TXT: ['%{c} may not send for %{d}; time %{t}, checked by %{r}'] },
    });
    const clock: Clock = { now: () => 1_700_000_000_500, sleep: async () => {} };

    const evaluation = await check('2001:db8::1', zone, { clock });

    expect(evaluation.result).toBe('fail');
    expect(evaluation.explanation).toContain(
      '"2001:db8::1 may not send for example.com; time 1700000000, checked by unknown"',
    );
    expect(evaluation.lookups).toBe(0);
  });

  it.each<[string, ZoneEntry]>([
    ['has two TXT records', { TXT: ['one', 'two'] }],
    ['fails with SERVFAIL', { error: 'ESERVFAIL' }],
    ['holds an invalid macro', { TXT: ['The %{x}-files'] }],
  ])('is left out when the explanation domain %s', async (_, entry) => {
    const zone = spf('v=spf1 -all exp=explain.example.com', { 'explain.example.com': entry });

    const evaluation = await check('192.0.2.1', zone);

    expect(evaluation.result).toBe('fail');
    expect(evaluation.explanation).not.toContain('explains');
  });

  it('is not even looked up for a fail inside an included record', async () => {
    const zone = spf('v=spf1 include:blocked.example.net -all exp=outer.example.com', {
      'blocked.example.net': { TXT: ['v=spf1 -all exp=inner.example.net'] },
      'inner.example.net': { TXT: ['inner text'] },
      'outer.example.com': { TXT: ['outer text'] },
    });

    const evaluation = await check('192.0.2.1', zone);

    expect(evaluation.result).toBe('fail');
    expect(evaluation.explanation).toContain('"outer text"');
    expect(evaluation.queries).not.toContain('TXT inner.example.net');
  });

  it('does not count its lookup against the void lookup limit', async () => {
    const record = 'v=spf1 a:gone1.example.com a:gone2.example.com -all exp=gone3.example.com';

    expect((await check('192.0.2.1', spf(record))).result).toBe('fail');
  });
});

describe('evaluateSpf: its own input', () => {
  it.each(['not-an-ip', '192.0.2', 'fe80::1%eth0', ''])('throws for the client %j', async (ip) => {
    await expect(evaluateSpf(ip, 'example.com', createZoneResolver({}))).rejects.toThrow(TypeError);
  });
});

/**
 * RFC 7208 Appendix A. The zone of A.1, shared by every example.
 */
const APPENDIX_ZONE: Zone = {
  'example.com': {
    MX: [
      [10, 'mail-a.example.com'],
      [20, 'mail-b.example.com'],
    ],
    A: ['192.0.2.10', '192.0.2.11'],
  },
  'amy.example.com': { A: ['192.0.2.65'] },
  'bob.example.com': { A: ['192.0.2.66'] },
  'mail-a.example.com': { A: ['192.0.2.129'] },
  'mail-b.example.com': { A: ['192.0.2.130'] },
  'www.example.com': { A: ['192.0.2.10', '192.0.2.11'] },
  'example.org': { MX: [[10, 'mail-c.example.org']] },
  'mail-c.example.org': { A: ['192.0.2.140'] },
};

const APPENDIX_REVERSE_ZONE: ReverseZone = {
  '192.0.2.10': ['example.com'],
  '192.0.2.11': ['example.com'],
  '192.0.2.65': ['amy.example.com'],
  '192.0.2.66': ['bob.example.com'],
  '192.0.2.129': ['mail-a.example.com'],
  '192.0.2.130': ['mail-b.example.com'],
  '192.0.2.140': ['mail-c.example.org'],
  '10.0.0.4': ['bob.example.com'],
};

function withRecords(records: Record<string, string>): Zone {
  const zone: Zone = { ...APPENDIX_ZONE };
  for (const [name, record] of Object.entries(records)) {
    zone[name] = { ...zone[name], TXT: [record] };
  }
  return zone;
}

async function checkAppendix(ip: string, zone: Zone, sender = 'joe@example.com') {
  const domain = sender.slice(sender.lastIndexOf('@') + 1);
  const reverseZone = APPENDIX_REVERSE_ZONE;
  return (await check(ip, zone, { domain, sender, reverseZone })).result;
}

describe('evaluateSpf: RFC 7208 A.1, simple examples', () => {
  const probes = [
    '192.0.2.10',
    '192.0.2.11',
    '192.0.2.65',
    '192.0.2.66',
    '192.0.2.129',
    '192.0.2.130',
    '192.0.2.131',
    '192.0.2.140',
    '192.0.2.143',
    '10.0.0.4',
    '203.0.113.1',
  ];
  const examples: [string, string[]][] = [
    ['v=spf1 +all', probes],
    ['v=spf1 a -all', ['192.0.2.10', '192.0.2.11']],
    ['v=spf1 a:example.org -all', []],
    ['v=spf1 mx -all', ['192.0.2.129', '192.0.2.130']],
    ['v=spf1 mx:example.org -all', ['192.0.2.140']],
    ['v=spf1 mx mx:example.org -all', ['192.0.2.129', '192.0.2.130', '192.0.2.140']],
    [
      'v=spf1 mx/30 mx:example.org/30 -all',
      ['192.0.2.129', '192.0.2.130', '192.0.2.131', '192.0.2.140', '192.0.2.143'],
    ],
    [
      'v=spf1 ptr -all',
      ['192.0.2.10', '192.0.2.11', '192.0.2.65', '192.0.2.66', '192.0.2.129', '192.0.2.130'],
    ],
    [
      'v=spf1 ip4:192.0.2.128/28 -all',
      ['192.0.2.129', '192.0.2.130', '192.0.2.131', '192.0.2.140', '192.0.2.143'],
    ],
  ];

  it.each(examples)('"%s" passes exactly %j', async (record, passing) => {
    const zone = withRecords({ 'example.com': record });

    const results = await Promise.all(probes.map((ip) => checkAppendix(ip, zone)));

    const expected = probes.map((ip) => (passing.includes(ip) ? 'pass' : 'fail'));
    expect(results).toEqual(expected);
  });
});

describe('evaluateSpf: RFC 7208 A.2, multiple domains', () => {
  const zone = withRecords({
    'example.org': 'v=spf1 include:example.com include:example.net -all',
    'la.example.org': 'v=spf1 redirect=example.org',
    'example.com': 'v=spf1 mx -all',
    'example.net': 'v=spf1 ip4:198.51.100.0/24 -all',
  });

  it.each<[string, string, SpfResult]>([
    ['192.0.2.129', 'whatever@example.org', 'pass'],
    ['198.51.100.9', 'whatever@example.org', 'pass'],
    ['203.0.113.9', 'whatever@example.org', 'fail'],
    ['192.0.2.130', 'whatever@la.example.org', 'pass'],
    ['203.0.113.9', 'whatever@la.example.org', 'fail'],
  ])('%s sending as %s: %s', async (ip, sender, result) => {
    expect(await checkAppendix(ip, zone, sender)).toBe(result);
  });
});

describe('evaluateSpf: RFC 7208 A.3, DNSBL-style', () => {
  const zone: Zone = {
    ...withRecords({
      'example.com': 'v=spf1 mx include:mobile-users._spf.%{d} include:remote-users._spf.%{d} -all',
      'mobile-users._spf.example.com': 'v=spf1 exists:%{l1r+}.%{d}',
      'remote-users._spf.example.com': 'v=spf1 exists:%{ir}.%{l1r+}.%{d}',
    }),
    'mary.mobile-users._spf.example.com': { A: ['127.0.0.2'] },
    'fred.mobile-users._spf.example.com': { A: ['127.0.0.2'] },
    '15.15.168.192.joel.remote-users._spf.example.com': { A: ['127.0.0.2'] },
    '16.15.168.192.joel.remote-users._spf.example.com': { A: ['127.0.0.2'] },
  };

  it.each<[string, string, SpfResult]>([
    ['203.0.113.50', 'mary@example.com', 'pass'],
    ['203.0.113.50', 'fred+news@example.com', 'pass'],
    ['192.168.15.15', 'joel@example.com', 'pass'],
    ['192.168.15.16', 'joel@example.com', 'pass'],
    ['192.168.15.17', 'joel@example.com', 'fail'],
    ['203.0.113.50', 'eve@example.com', 'fail'],
    ['192.0.2.129', 'eve@example.com', 'pass'],
  ])('%s sending as %s: %s', async (ip, sender, result) => {
    expect(await checkAppendix(ip, zone, sender)).toBe(result);
  });
});

describe('evaluateSpf: RFC 7208 A.4, multiple requirements', () => {
  // As corrected by erratum 6216: the printed "-ptr" would test names
  // under ptr._spf.example.com, so every host would fail.
  const zone = withRecords({
    'example.com': 'v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all',
    'ip4._spf.example.com': 'v=spf1 -ip4:192.0.2.0/24 +all',
    'ptr._spf.example.com': 'v=spf1 -ptr:example.com +all',
  });

  it.each<[string, SpfResult]>([
    ['192.0.2.65', 'pass'],
    ['192.0.2.129', 'pass'],
    ['192.0.2.140', 'fail'],
    ['10.0.0.4', 'fail'],
  ])('%s: %s', async (ip, result) => {
    expect(await checkAppendix(ip, zone)).toBe(result);
  });
});
