import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/verify/parse-address.js';
import type { AddressProblem, ParsedAddress } from '../../src/verify/parse-address.js';

function parsed(input: string): ParsedAddress {
  const outcome = parseAddress(input);
  if (!outcome.ok) {
    throw new Error(`expected ${JSON.stringify(input)} to parse: ${outcome.detail}`);
  }
  return outcome.address;
}

function problemOf(input: string): AddressProblem | null {
  const outcome = parseAddress(input);
  return outcome.ok ? null : outcome.problem;
}

describe('parseAddress', () => {
  describe('dot-atom local parts', () => {
    it('accepts a plain address and splits it', () => {
      expect(parsed('john.doe@example.com')).toEqual({
        localPart: 'john.doe',
        domain: 'example.com',
        unicodeDomain: 'example.com',
        normalized: 'john.doe@example.com',
        needsSmtpUtf8: false,
      });
    });

    it('accepts every atext character of RFC 5322 3.2.3', () => {
      const local = "a!#$%&'*+-/=?^_`{|}~z";
      expect(parsed(`${local}@example.com`).localPart).toBe(local);
    });

    it('keeps a plus tag in the local part', () => {
      expect(parsed('jane+newsletter@example.com').localPart).toBe('jane+newsletter');
    });

    it('keeps the case of the local part and lowers the domain', () => {
      const address = parsed('John.Doe@EXAMPLE.Com');
      expect(address.localPart).toBe('John.Doe');
      expect(address.normalized).toBe('John.Doe@example.com');
    });

    it.each([
      ['.john@example.com', /starts with a dot/],
      ['john.@example.com', /ends with a dot/],
      ['jo..hn@example.com', /two dots/],
    ])('rejects %s as invalid_local_part', (input, detail) => {
      const outcome = parseAddress(input);
      expect(outcome).toMatchObject({ ok: false, problem: 'invalid_local_part' });
      expect(outcome.ok ? '' : outcome.detail).toMatch(detail);
    });

    it.each([
      'john doe@example.com',
      'john<doe@example.com',
      'John <john@example.com>',
      'jo"hn@example.com',
      'jo(hn)@example.com',
      'jo,hn@example.com',
      'jo\\hn@example.com',
      'jo[hn]@example.com',
      '@example.com',
    ])('rejects %s as invalid_local_part', (input) => {
      expect(problemOf(input)).toBe('invalid_local_part');
    });

    it('rejects a non-breaking space and a zero-width space inside the local part', () => {
      expect(problemOf('john\u00a0doe@example.com')).toBe('invalid_local_part');
      expect(problemOf('john\u200bdoe@example.com')).toBe('invalid_local_part');
    });

    it('rejects a bidi override and a lone surrogate in the local part', () => {
      expect(problemOf('john\u202edoe@example.com')).toBe('invalid_local_part');
      expect(problemOf('john\ud800@example.com')).toBe('invalid_local_part');
    });
  });

  describe('quoted local parts', () => {
    it('accepts a space inside quotes and keeps the quotes', () => {
      const address = parsed('"john doe"@example.com');
      expect(address.localPart).toBe('"john doe"');
      expect(address.normalized).toBe('"john doe"@example.com');
    });

    it('accepts an escaped quote inside quotes', () => {
      expect(parsed('"a\\"b"@example.com').localPart).toBe('"a\\"b"');
    });

    it('accepts an escaped backslash inside quotes', () => {
      expect(parsed('"a\\\\b"@example.com').localPart).toBe('"a\\\\b"');
    });

    it('splits on the last @ so an @ inside quotes stays in the local part', () => {
      const address = parsed('"a@b"@example.com');
      expect(address.localPart).toBe('"a@b"');
      expect(address.domain).toBe('example.com');
    });

    it('accepts angle brackets inside quotes', () => {
      expect(parsed('"<a>"@example.com').localPart).toBe('"<a>"');
    });

    it.each([
      ['"john@example.com', /no closing quote/],
      ['"john"doe@example.com', /after the closing quote/],
      ['"a"b"@example.com', /after the closing quote/],
      ['"john\\"@example.com', /no closing quote/],
      ['"jöhn"@example.com', /only printable ASCII/],
      ['"a\\é"@example.com', /backslash/],
    ])('rejects %s as invalid_local_part', (input, detail) => {
      const outcome = parseAddress(input);
      expect(outcome).toMatchObject({ ok: false, problem: 'invalid_local_part' });
      expect(outcome.ok ? '' : outcome.detail).toMatch(detail);
    });

    it('rejects a quoted local part with a backslash-escaped control character', () => {
      expect(problemOf('"a\\\rb"@example.com')).toBe('control_character');
      expect(problemOf('"a\\\u0000b"@example.com')).toBe('control_character');
    });
  });

  describe('control characters', () => {
    it.each([
      ['CR', '\r'],
      ['LF', '\n'],
      ['NUL', '\u0000'],
      ['DEL', '\u007f'],
      ['U+0085 (NEL)', '\u0085'],
      ['U+009F', '\u009f'],
      ['ESC', '\u001b'],
      ['TAB inside', '\t'],
    ])('rejects %s in the local part', (_name, character) => {
      expect(problemOf(`jo${character}hn@example.com`)).toBe('control_character');
    });

    it.each([
      ['CR', '\r'],
      ['LF', '\n'],
      ['NUL', '\u0000'],
      ['DEL', '\u007f'],
      ['U+0085 (NEL)', '\u0085'],
    ])('rejects %s in the domain', (_name, character) => {
      expect(problemOf(`john@exa${character}mple.com`)).toBe('control_character');
    });

    it('rejects a trailing CRLF instead of trimming it', () => {
      expect(problemOf('john@example.com\r\n')).toBe('control_character');
    });

    it('rejects an SMTP command smuggled after the address', () => {
      expect(problemOf('john@example.com>\r\nDATA')).toBe('control_character');
    });

    it('checks control characters before anything else', () => {
      expect(problemOf('\u0000')).toBe('control_character');
      expect(problemOf(`${'a'.repeat(70)}\r@example.com`)).toBe('control_character');
    });

    it('names the control character in the detail without echoing it', () => {
      const outcome = parseAddress('jo\rhn@example.com');
      expect(outcome.ok ? '' : outcome.detail).toContain('U+000D');
      expect(outcome.ok ? '' : outcome.detail).not.toContain('\r');
    });
  });

  describe('surrounding whitespace', () => {
    it('trims spaces, tabs and non-breaking spaces around the address', () => {
      expect(parsed(' \t\u00a0john@example.com\t ').normalized).toBe('john@example.com');
    });

    it('trims a byte order mark left by a spreadsheet export', () => {
      expect(parsed('\ufeffjohn@example.com').normalized).toBe('john@example.com');
    });

    it('reports empty for an empty or blank input', () => {
      expect(problemOf('')).toBe('empty');
      expect(problemOf('  \t ')).toBe('empty');
    });
  });

  describe('the @', () => {
    it('reports missing_at when there is none', () => {
      expect(problemOf('john.example.com')).toBe('missing_at');
    });

    it('rejects an @ in an unquoted local part', () => {
      expect(problemOf('a@b@example.com')).toBe('invalid_local_part');
    });

    it('reports invalid_domain when nothing follows the @', () => {
      expect(problemOf('john@')).toBe('invalid_domain');
    });
  });

  describe('length limits', () => {
    it('accepts a local part of exactly 64 octets', () => {
      expect(parsed(`${'a'.repeat(64)}@example.com`).localPart).toHaveLength(64);
    });

    it('rejects a local part of 65 octets', () => {
      expect(problemOf(`${'a'.repeat(65)}@example.com`)).toBe('local_part_too_long');
    });

    it('counts UTF-8 octets, not characters, in the local part', () => {
      // é is two octets: 31 of them plus two ASCII letters make 64, one more makes 65.
      expect(parsed(`${'é'.repeat(31)}ab@example.com`).needsSmtpUtf8).toBe(true);
      expect(problemOf(`${'é'.repeat(31)}abc@example.com`)).toBe('local_part_too_long');
      expect(problemOf(`${'é'.repeat(33)}@example.com`)).toBe('local_part_too_long');
    });

    it('counts the quotes of a quoted local part', () => {
      expect(parsed(`"${'a'.repeat(62)}"@example.com`).localPart).toHaveLength(64);
      expect(problemOf(`"${'a'.repeat(63)}"@example.com`)).toBe('local_part_too_long');
    });

    it('accepts an address of exactly 254 octets', () => {
      const address = `${'a'.repeat(64)}@${domainOfLength(189)}`;
      expect(address).toHaveLength(254);
      expect(parsed(address).normalized).toBe(address);
    });

    it('rejects an address of 255 octets', () => {
      const address = `${'a'.repeat(64)}@${domainOfLength(190)}`;
      expect(problemOf(address)).toBe('address_too_long');
    });

    it('measures the address after A-label conversion', () => {
      // ü is 2 octets as given and 7 sent (xn--tda); üü is 4 and 8 (xn--tdaa).
      const local = 'a'.repeat(64);
      const rest = domainOfLength(181);
      expect(parsed(`${local}@ü.${rest}`).normalized).toHaveLength(254);
      expect(problemOf(`${local}@üü.${rest}`)).toBe('address_too_long');
    });

    it('accepts a 63-octet label and rejects a 64-octet one', () => {
      expect(parsed(`john@${'a'.repeat(63)}.com`).domain).toHaveLength(67);
      expect(problemOf(`john@${'a'.repeat(64)}.com`)).toBe('invalid_domain');
    });

    it('rejects a domain of 254 octets before the address limit', () => {
      expect(problemOf(`j@${domainOfLength(254)}`)).toBe('invalid_domain');
    });

    it('rejects a huge input without further work', () => {
      expect(problemOf(`john@${'a.'.repeat(50_000)}com`)).toBe('address_too_long');
    });
  });

  describe('domains', () => {
    it('converts an IDN domain to its A-label and keeps the U-label for display', () => {
      const address = parsed('user@bücher.de');
      expect(address.domain).toBe('xn--bcher-kva.de');
      expect(address.unicodeDomain).toBe('bücher.de');
      expect(address.normalized).toBe('user@xn--bcher-kva.de');
      expect(address.needsSmtpUtf8).toBe(false);
    });

    it('accepts a domain already in A-label form', () => {
      expect(parsed('user@XN--BCHER-KVA.de').unicodeDomain).toBe('bücher.de');
    });

    it('strips one trailing dot from the domain', () => {
      expect(parsed('john@example.com.').domain).toBe('example.com');
      expect(problemOf('john@example.com..')).toBe('invalid_domain');
    });

    it('lower-cases an upper-case domain', () => {
      expect(parsed('john@MAIL.EXAMPLE.ORG').domain).toBe('mail.example.org');
    });

    it.each([
      ['a bare TLD', 'user@localhost'],
      ['a leading dot', 'john@.example.com'],
      ['two dots in a row', 'john@example..com'],
      ['a leading hyphen', 'john@-example.com'],
      ['a trailing hyphen', 'john@example-.com'],
      ['an underscore', 'john@ex_ample.com'],
      ['a percent escape', 'john@ex%61mple.com'],
      ['an all-numeric TLD', 'john@example.123'],
      ['a dotted quad', 'john@192.0.2.1'],
      ['a hexadecimal IPv4 form', 'john@0x7f.1'],
      ['a malformed A-label', 'john@xn--abc-.com'],
      ['invalid Punycode', 'john@xn--zz.com'],
      ['a closing angle bracket', 'john@example.com>'],
      ['a space', 'john@exam ple.com'],
      ['a zero-width space', 'john@exa\u200bmple.com'],
    ])('rejects %s as invalid_domain', (_name, input) => {
      expect(problemOf(input)).toBe('invalid_domain');
    });

    it('accepts digits and inner hyphens in labels', () => {
      expect(parsed('john@mail-1.123example.co.uk').domain).toBe('mail-1.123example.co.uk');
    });

    it.each(['user@[192.0.2.1]', 'user@[IPv6:2001:db8::1]'])(
      'rejects the address literal %s as domain_literal',
      (input) => {
        expect(problemOf(input)).toBe('domain_literal');
      },
    );
  });

  describe('internationalized local parts', () => {
    it('accepts a non-ASCII local part and flags SMTPUTF8', () => {
      const address = parsed('用户@例子.广告');
      expect(address.localPart).toBe('用户');
      expect(address.domain).toBe('xn--fsqu00a.xn--4rr70v');
      expect(address.needsSmtpUtf8).toBe(true);
    });

    it('does not flag SMTPUTF8 for an ASCII local part at an IDN domain', () => {
      expect(parsed('info@münchen.de').needsSmtpUtf8).toBe(false);
    });

    it('keeps joiners, which some scripts need', () => {
      expect(parsed('क्\u200dष@example.com').needsSmtpUtf8).toBe(true);
    });
  });

  describe('any input', () => {
    // Mostly plausible pieces with hostile ones mixed in, so that a good share
    // of inputs parse and the property is tested on accepted addresses too.
    const letters = fc.constantFrom('a', 'Z', '0', 'é', 'ü', '用');
    const separators = fc.constantFrom('.', '-', '+', 'xn--');
    const hostile = fc.constantFrom(
      ...['@', '"', '\\', ' ', '\t', '<', '>', '[', ']', '%41', '_', '。'],
      ...['\r', '\n', '\u0000', '\u007f', '\u0085', '\u00a0', '\u200b', '\ufeff', '\ud800'],
    );
    const piece = fc.oneof(
      { arbitrary: letters, weight: 16 },
      { arbitrary: separators, weight: 2 },
      { arbitrary: hostile, weight: 1 },
    );
    const text = fc.string({ unit: piece, minLength: 1, maxLength: 10 });
    const asciiText = fc.string({ unit: fc.constantFrom('a', 'Z', ' ', '@', '<'), minLength: 1 });
    const localPart = fc.oneof(
      { arbitrary: text, weight: 4 },
      { arbitrary: fc.oneof(text, asciiText).map((inner) => `"${inner}"`), weight: 1 },
    );
    const domainPart = fc
      .tuple(fc.array(text, { minLength: 1, maxLength: 3 }), fc.constantFrom('com', 'de', '123'))
      .map(([labels, top]) => [...labels, top].join('.'));
    const rarely = (common: string, ...others: string[]) =>
      fc.oneof(
        { arbitrary: fc.constant(common), weight: 6 },
        { arbitrary: fc.constantFrom(...others), weight: 1 },
      );
    const addressLike = fc
      .tuple(localPart, rarely('@', '@@'), domainPart, rarely('', '.', ' ', '\r\n'))
      .map((parts) => parts.join(''));
    const anyInput = fc.oneof(fc.string({ unit: 'binary' }), addressLike);

    it('never throws nor returns an address that could break an SMTP command', () => {
      let accepted = 0;

      fc.assert(
        fc.property(anyInput, (input) => {
          const outcome = parseAddress(input);
          if (!outcome.ok) {
            return;
          }
          accepted += 1;

          const { normalized, domain } = outcome.address;
          expect(hasControlCharacter(normalized)).toBe(false);
          expect(withoutQuotedLocalPart(normalized)).not.toMatch(/[<> ]/);
          expect(domain).toMatch(/^[a-z0-9.-]+$/);
          expect(normalized.endsWith(`@${domain}`)).toBe(true);
        }),
        { numRuns: 3000 },
      );

      // The property says nothing unless some inputs get through.
      expect(accepted).toBeGreaterThan(50);
    });
  });
});

/** A valid domain of exactly `length` characters: 63-character labels then a .com tail. */
function domainOfLength(length: number): string {
  const labels: string[] = [];
  let remaining = length - 'com'.length;

  while (remaining > 0) {
    const size = Math.min(63, remaining - 1);
    if (size < 1) {
      throw new Error(`cannot build a domain of ${length} characters`);
    }
    labels.push('a'.repeat(size));
    remaining -= size + 1;
  }

  return [...labels, 'com'].join('.');
}

function hasControlCharacter(text: string): boolean {
  return [...text].some((character) => {
    const code = character.codePointAt(0) ?? 0;
    return code < 0x20 || (code >= 0x7f && code <= 0x9f);
  });
}

function withoutQuotedLocalPart(address: string): string {
  return address.replace(/^"(?:[^"\\]|\\.)*"/, '');
}
