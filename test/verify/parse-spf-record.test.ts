import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';

import {
  isSpfRecord,
  parseSpfExplanation,
  parseSpfRecord,
} from '../../src/verify/parse-spf-record.js';
import type { SpfRecord } from '../../src/verify/parse-spf-record.js';

function parseOrFail(text: string): SpfRecord {
  const parsed = parseSpfRecord(text);
  if (!parsed.ok) throw new Error(`did not parse: ${parsed.reason}`);
  return parsed.record;
}

describe('isSpfRecord (RFC 7208 4.5)', () => {
  it.each(['v=spf1', 'v=spf1 -all', 'V=SPF1 ip4:192.0.2.1'])('takes %j', (text) => {
    expect(isSpfRecord(text)).toBe(true);
  });

  it.each(['v=spf10 -all', 'v=spf1-all', ' v=spf1 -all', 'spf2.0/pra -all', ''])(
    'leaves out %j',
    (text) => {
      expect(isSpfRecord(text)).toBe(false);
    },
  );
});

describe('parseSpfRecord', () => {
  it('reads qualifiers, defaulting to "+"', () => {
    const record = parseOrFail('v=spf1 all -all ~all ?all +all');

    expect(record.directives.map((directive) => directive.qualifier)).toEqual([
      '+',
      '-',
      '~',
      '?',
      '+',
    ]);
    expect(record.directives.map((directive) => directive.term)).toEqual([
      'all',
      '-all',
      '~all',
      '?all',
      '+all',
    ]);
  });

  it('reads ip4 and ip6 networks with their prefix lengths', () => {
    const record = parseOrFail('v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ip4:198.51.100.7');

    expect(record.directives.map(({ mechanism }) => mechanism)).toEqual([
      { kind: 'ip', network: ipaddr.parse('192.0.2.0'), prefix: 24 },
      { kind: 'ip', network: ipaddr.parse('2001:db8::'), prefix: 32 },
      { kind: 'ip', network: ipaddr.parse('198.51.100.7'), prefix: 32 },
    ]);
  });

  it('reads a and mx with dual CIDR lengths (RFC 7208 5.3, 5.4)', () => {
    const record = parseOrFail('v=spf1 a mx/24 a:mail.example.com//64 mx:example.org/28//48');

    expect(record.directives.map(({ mechanism }) => mechanism)).toEqual([
      { kind: 'a', target: null, cidr: { ipv4: 32, ipv6: 128 } },
      { kind: 'mx', target: null, cidr: { ipv4: 24, ipv6: 128 } },
      {
        kind: 'a',
        target: [{ kind: 'literal', text: 'mail.example.com' }],
        cidr: { ipv4: 32, ipv6: 64 },
      },
      {
        kind: 'mx',
        target: [{ kind: 'literal', text: 'example.org' }],
        cidr: { ipv4: 28, ipv6: 48 },
      },
    ]);
  });

  it('keeps domain-specs as macro strings, unexpanded', () => {
    const record = parseOrFail('v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d}');

    expect(record.directives[0]?.mechanism).toEqual({
      kind: 'exists',
      target: [
        {
          kind: 'macro',
          letter: 'i',
          isUpper: false,
          keep: null,
          isReversed: true,
          delimiters: '',
        },
        { kind: 'literal', text: '.' },
        { kind: 'macro', letter: 'l', isUpper: false, keep: 1, isReversed: true, delimiters: '+-' },
        { kind: 'literal', text: '._spf.' },
        {
          kind: 'macro',
          letter: 'd',
          isUpper: false,
          keep: null,
          isReversed: false,
          delimiters: '',
        },
      ],
    });
  });

  it('reads redirect and exp apart from the directives, and ignores unknown modifiers', () => {
    const record = parseOrFail(
      'v=spf1 include:_spf.example.net redirect=_spf.example.com exp=why.%{d} moo=cow',
    );

    expect(record.directives.map((directive) => directive.mechanism.kind)).toEqual(['include']);
    expect(record.redirect).toEqual({
      term: 'redirect=_spf.example.com',
      target: [{ kind: 'literal', text: '_spf.example.com' }],
    });
    expect(record.explanation?.at(-1)).toMatchObject({ kind: 'macro', letter: 'd' });
  });

  it('reads a name ending in a trailing dot or a hyphenated top-level label', () => {
    expect(parseSpfRecord('v=spf1 a:mail.example.com. a:foo.xn--zckzah').ok).toBe(true);
  });

  it.each([
    ['v=spf1 ip4:192.0.2.300', 'ip4:192.0.2.300'],
    ['v=spf1 a:museum', 'a:museum'],
    ['v=spf1 exists:%{c}.example.com', 'exists:%{c}.example.com'],
    ['v=spf1 redirect=a.example.net redirect=b.example.net', 'redirect=b.example.net'],
    ['v=spf1 -all moo', 'moo'],
  ])('names the term at fault in %j', (text, term) => {
    expect(parseSpfRecord(text)).toMatchObject({ ok: false, term });
  });

  it('quotes the malformed term in the reason', () => {
    const parsed = parseSpfRecord('v=spf1 ip4:192.0.2.300 -all');

    expect(parsed.ok ? '' : parsed.reason).toBe(
      '"ip4:192.0.2.300": it does not hold a valid ip4 network',
    );
  });

  it('refuses a record with characters outside printable US-ASCII (RFC 7208 3.1)', () => {
    expect(parseSpfRecord('v=spf1 ip4:192.0.2.1\t-all')).toMatchObject({ ok: false, term: null });
  });

  it('shortens a hostile term when quoting it', () => {
    const term = `a:${'x'.repeat(300)}`;
    const parsed = parseSpfRecord(`v=spf1 ${term}`);

    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? '' : parsed.reason).toContain('..."');
    expect((parsed.ok ? '' : parsed.reason).length).toBeLessThan(200);
  });
});

describe('parseSpfExplanation (RFC 7208 6.2)', () => {
  it('allows the explanation-only macros c, r and t', () => {
    expect(parseSpfExplanation('%{c} is not one of %{d} mail servers (%{r}, %{t})')).not.toBeNull();
  });

  it.each(['The %{x}-files', 'caf\u00e9 only', 'stray % sign'])('gives null for %j', (text) => {
    expect(parseSpfExplanation(text)).toBeNull();
  });
});
