import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';

import { expandDomainSpec, expandSpfMacros } from '../../src/verify/expand-spf-macros.js';
import type { MacroContext } from '../../src/verify/expand-spf-macros.js';
import { parseSpfExplanation } from '../../src/verify/parse-spf-record.js';
import type { MacroToken } from '../../src/verify/parse-spf-record.js';

/** The context of RFC 7208 7.4's examples. */
function exampleContext(ip = '192.0.2.3', overrides: Partial<MacroContext> = {}): MacroContext {
  const address = ipaddr.parse(ip);
  const text = address.kind() === 'ipv6' ? (address as ipaddr.IPv6).toRFC5952String() : ip;
  return {
    client: { address, text },
    senderLocal: 'strong-bad',
    senderDomain: 'email.example.com',
    heloName: 'mx.example.org',
    domain: 'email.example.com',
    clock: { now: () => 1_700_000_000_999, sleep: async () => {} },
    findValidatedName: async () => 'mx.example.org',
    ...overrides,
  };
}

function tokens(text: string): MacroToken[] {
  const parsed = parseSpfExplanation(text);
  if (parsed === null) throw new Error(`not a macro string: ${text}`);
  return parsed;
}

function expand(text: string, context = exampleContext()): Promise<string> {
  return expandSpfMacros(tokens(text), context);
}

describe('expandSpfMacros: RFC 7208 7.4 examples', () => {
  it.each([
    ['%{s}', 'strong-bad@email.example.com'],
    ['%{o}', 'email.example.com'],
    ['%{d}', 'email.example.com'],
    ['%{d4}', 'email.example.com'],
    ['%{d3}', 'email.example.com'],
    ['%{d2}', 'example.com'],
    ['%{d1}', 'com'],
    ['%{dr}', 'com.example.email'],
    ['%{d2r}', 'example.email'],
    ['%{l}', 'strong-bad'],
    ['%{l-}', 'strong.bad'],
    ['%{lr}', 'strong-bad'],
    ['%{lr-}', 'bad.strong'],
    ['%{l1r-}', 'strong'],
    ['%{ir}.%{v}._spf.%{d2}', '3.2.0.192.in-addr._spf.example.com'],
    ['%{lr-}.lp._spf.%{d2}', 'bad.strong.lp._spf.example.com'],
    ['%{lr-}.lp.%{ir}.%{v}._spf.%{d2}', 'bad.strong.lp.3.2.0.192.in-addr._spf.example.com'],
    ['%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}', '3.2.0.192.in-addr.strong.lp._spf.example.com'],
    ['%{d2}.trusted-domains.example.net', 'example.com.trusted-domains.example.net'],
  ])('expands %s to %s', async (text, expected) => {
    expect(await expand(text)).toBe(expected);
  });

  it('expands %{ir}.%{v}._spf.%{d2} for an IPv6 client as reversed nibbles', async () => {
    const nibbles = '1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2';

    expect(await expand('%{ir}.%{v}._spf.%{d2}', exampleContext('2001:db8::cb01'))).toBe(
      `${nibbles}.ip6._spf.example.com`,
    );
  });
});

describe('expandSpfMacros', () => {
  it('expands %%, %_ and %-', async () => {
    expect(await expand('100%% %_%-')).toBe('100%  %20');
  });

  it('URL-escapes upper-case macros, keeping RFC 3986 unreserved characters', async () => {
    const context = exampleContext('192.0.2.3', { senderLocal: 'jack&jill=up~' });

    expect(await expand('%{L}', context)).toBe('jack%26jill%3Dup~');
  });

  it('expands %{c}, %{r} and %{t} in explanation text', async () => {
    expect(await expand('%{c} %{r} %{t}', exampleContext('2001:db8::cb01'))).toBe(
      '2001:db8::cb01 unknown 1700000000',
    );
  });

  it('asks for the validated name only when %{p} is used', async () => {
    let asked = 0;
    const context = exampleContext('192.0.2.3', {
      findValidatedName: async () => {
        asked += 1;
        return 'mx.example.org';
      },
    });

    expect(await expand('%{d}', context)).toBe('email.example.com');
    expect(asked).toBe(0);
    expect(await expand('%{p2}', context)).toBe('example.org');
    expect(asked).toBe(1);
  });
});

describe('expandDomainSpec (RFC 7208 4.8)', () => {
  it('drops labels from the left of a name longer than 253 characters', async () => {
    const local = 'x'.repeat(60);
    const context = exampleContext('192.0.2.3', { senderLocal: local });

    const name = await expandDomainSpec(tokens('%{l}.%{l}.%{l}.%{l}.%{l}.example.com'), context);

    expect(name).toBe(`${local}.${local}.${local}.example.com`);
  });

  it('drops a trailing dot', async () => {
    expect(await expandDomainSpec(tokens('%{d}.'), exampleContext())).toBe('email.example.com');
  });

  it('gives null for a name DNS cannot carry: an empty or overlong label', async () => {
    const longLabel = exampleContext('192.0.2.3', { senderLocal: 'y'.repeat(64) });

    expect(await expandDomainSpec(tokens('%{l}.example.com'), longLabel)).toBeNull();
    expect(await expandDomainSpec(tokens('a..example.com'), exampleContext())).toBeNull();
  });
});
