import { describe, expect, it } from 'vitest';

import { matchMechanism } from '../../src/verify/match-spf-mechanism.js';
import type { TermScope } from '../../src/verify/match-spf-mechanism.js';
import { parseSpfRecord } from '../../src/verify/parse-spf-record.js';
import type { Mechanism } from '../../src/verify/parse-spf-record.js';
import { parseSpfClient, SpfLookups } from '../../src/verify/spf-lookups.js';
import type { IdentityResolver } from '../../src/verify/types.js';

interface ZoneEntry {
  A?: string[];
  MX?: string[];
}

function createResolver(zone: Record<string, ZoneEntry>, reverse: Record<string, string[]> = {}) {
  const absent = (code: string) => Object.assign(new Error(code), { code });
  const entry = (name: string) => {
    const found = zone[name];
    if (found === undefined) throw absent('ENOTFOUND');
    return found;
  };
  const resolver: IdentityResolver = {
    resolve4: async (host) => entry(host).A ?? [],
    resolve6: async () => {
      throw absent('ENODATA');
    },
    resolveMx: async (domain) =>
      (entry(domain).MX ?? []).map((exchange, index) => ({ exchange, priority: index })),
    resolveTxt: async () => {
      throw absent('ENODATA');
    },
    reverse: async (ip) => reverse[ip] ?? [],
  };
  return resolver;
}

/** The mechanism of a one-term record, parsed as the evaluation would. */
function mechanismOf(term: string): Exclude<Mechanism, { kind: 'include' }> {
  const parsed = parseSpfRecord(`v=spf1 ${term}`);
  const mechanism = parsed.ok ? parsed.record.directives[0]?.mechanism : undefined;
  if (mechanism === undefined || mechanism.kind === 'include') throw new Error(term);
  return mechanism;
}

function scopeFor(ip: string, resolver: IdentityResolver): TermScope {
  return {
    lookups: new SpfLookups(
      resolver,
      parseSpfClient(ip),
      { now: () => 0, sleep: async () => {} },
      1_000,
    ),
    domain: 'example.com',
    expand: async (spec) => spec.map((token) => ('text' in token ? token.text : '')).join(''),
  };
}

describe('matchMechanism', () => {
  const zone: Record<string, ZoneEntry> = {
    'example.com': { A: ['192.0.2.10'], MX: ['mail-a.example.com', 'mail-b.example.com'] },
    'mail-a.example.com': { A: ['192.0.2.129'] },
    'mail-b.example.com': { A: ['192.0.2.130'] },
    'many.example.com': {
      MX: Array.from({ length: 11 }, (_, index) => `mx${index}.example.com`),
    },
  };

  it.each([
    ['all', '192.0.2.1', 'match'],
    ['ip4:192.0.2.0/24', '192.0.2.77', 'match'],
    ['ip4:192.0.2.0/24', '198.51.100.1', 'no-match'],
    ['ip6:::/0', '192.0.2.1', 'no-match'],
    ['a', '192.0.2.10', 'match'],
    ['a/24', '192.0.2.200', 'match'],
    ['a', '192.0.2.11', 'no-match'],
    ['mx', '192.0.2.130', 'match'],
    ['mx:example.com/31', '192.0.2.131', 'match'],
    ['exists:mail-a.example.com', '198.51.100.1', 'match'],
  ])('%s against %s is a %s', async (term, ip, kind) => {
    const outcome = await matchMechanism(mechanismOf(term), scopeFor(ip, createResolver(zone)));

    expect(outcome.kind).toBe(kind);
  });

  it('says which MX host matched', async () => {
    const outcome = await matchMechanism(
      mechanismOf('mx'),
      scopeFor('192.0.2.129', createResolver(zone)),
    );

    expect(outcome).toEqual({ kind: 'match', detail: 'through MX host mail-a.example.com' });
  });

  it('returns permerror for an mx term with more than ten MX hosts (RFC 7208 4.6.4)', async () => {
    const outcome = await matchMechanism(
      mechanismOf('mx:many.example.com'),
      scopeFor('192.0.2.1', createResolver(zone)),
    );

    expect(outcome).toMatchObject({ kind: 'error', result: 'permerror' });
  });

  it('matches ptr through a reverse name that resolves back, within the domain', async () => {
    const resolver = createResolver(zone, { '192.0.2.129': ['mail-a.example.com'] });

    const outcome = await matchMechanism(mechanismOf('ptr'), scopeFor('192.0.2.129', resolver));

    expect(outcome).toEqual({ kind: 'match', detail: 'through reverse name mail-a.example.com' });
  });

  it('turns the third lookup without records into permerror', async () => {
    const scope = scopeFor('192.0.2.1', createResolver(zone));
    const gone = mechanismOf('a:gone.example.com');

    const outcomes = [
      await matchMechanism(gone, scope),
      await matchMechanism(gone, scope),
      await matchMechanism(gone, scope),
    ];

    expect(outcomes.map((outcome) => outcome.kind)).toEqual(['no-match', 'no-match', 'error']);
  });

  it('turns the eleventh DNS-querying term into permerror without asking DNS', async () => {
    const scope = scopeFor('192.0.2.10', createResolver(zone));
    for (let count = 0; count < 10; count += 1) {
      await matchMechanism(mechanismOf('a'), scope);
    }

    const outcome = await matchMechanism(mechanismOf('a'), scope);

    expect(outcome).toEqual({
      kind: 'error',
      result: 'permerror',
      detail: 'more than 10 terms query DNS (RFC 7208 4.6.4)',
    });
  });
});
