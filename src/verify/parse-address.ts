/**
 * Address syntax: the RFC 5321 4.1.2 Mailbox grammar, widened by RFC 6531 for
 * UTF-8 local parts, with the RFC 5321 4.5.3.1 length limits and IDN domains
 * turned into A-labels. Whatever passes here is safe to place in an SMTP
 * command: no control byte, no line break, no angle bracket outside quotes.
 */
import { domainToASCII, domainToUnicode } from 'node:url';

export interface ParsedAddress {
  /** As given; a quoted local part keeps its quotes and escapes. */
  localPart: string;
  /** A-label (punycode) form, lower-cased, without a trailing dot. */
  domain: string;
  /** U-label form, for display. */
  unicodeDomain: string;
  /** `${localPart}@${domain}` */
  normalized: string;
  /** Non-ASCII local part: RCPT TO needs SMTPUTF8 (RFC 6531). */
  needsSmtpUtf8: boolean;
}

export type AddressProblem =
  | 'empty'
  | 'control_character'
  | 'missing_at'
  | 'local_part_too_long'
  | 'address_too_long'
  | 'invalid_local_part'
  | 'invalid_domain'
  | 'domain_literal';

export interface ParseFailure {
  ok: false;
  problem: AddressProblem;
  /** One line for people; never echoes a control character. */
  detail: string;
}

export type ParseOutcome = { ok: true; address: ParsedAddress } | ParseFailure;

/** RFC 5321 4.5.3.1.1. */
const MAX_LOCAL_PART_OCTETS = 64;

/** RFC 5321 4.5.3.1.3 allows 256 octets for the path, angle brackets included. */
const MAX_ADDRESS_OCTETS = 254;

/** 255 octets on the wire (RFC 1035 2.3.4) less the length bytes and the root. */
const MAX_DOMAIN_OCTETS = 253;

/** RFC 1035 2.3.4. */
const MAX_LABEL_OCTETS = 63;

/**
 * Far above anything that can pass the 254-octet limit, even with UTS #46
 * mapping shrinking the domain; it bounds the Punycode and mapping work a
 * hostile input can ask for.
 */
const MAX_INPUT_LENGTH = 1024;

/** RFC 5322 3.2.3 atext, ASCII part; RFC 6531 3.3 adds UTF8-non-ascii. */
const ASCII_ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]$/;

const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

const DOMAIN_ASCII_CHARACTER = /^[A-Za-z0-9.-]$/;

const SURROUNDING_SPACE = /^[\t\p{Z}\uFEFF]$/u;

/**
 * Separators, lone surrogates (not encodable as UTF-8, RFC 3629) and
 * invisible format characters such as U+200B or the bidi overrides: a
 * zero-width space is a copy-and-paste accident, a bidi override a spoof.
 * The joiners U+200C and U+200D stay; several scripts need them.
 */
const INVISIBLE_CHARACTER = /^(?![\u200C\u200D])[\p{Z}\p{Cf}\p{Cs}]$/u;

export function parseAddress(input: string): ParseOutcome {
  const trimmed = trimSurroundingSpace(input);

  // First, so that no later step ever sees a byte that could end an SMTP
  // command line (RFC 5321 2.3.8) or confuse a log reader.
  const control = findControlCharacter(trimmed);
  if (control !== null) {
    return fail('control_character', `control character ${describe(control)}`);
  }

  if (trimmed === '') {
    return fail('empty', 'no address given');
  }
  if (trimmed.length > MAX_INPUT_LENGTH) {
    return fail('address_too_long', `${trimmed.length} characters, far beyond 254 octets`);
  }

  // The domain can never hold an @, while a quoted local part can ("a@b").
  const at = trimmed.lastIndexOf('@');
  if (at === -1) {
    return fail('missing_at', 'no @ between local part and domain');
  }
  const localPart = trimmed.slice(0, at);

  const localProblem = checkLocalPart(localPart);
  if (localProblem !== null) {
    return localProblem;
  }

  const domain = toAsciiDomain(trimmed.slice(at + 1));
  if (typeof domain !== 'string') {
    return domain;
  }

  const normalized = `${localPart}@${domain}`;
  const addressOctets = countOctets(normalized);
  if (addressOctets > MAX_ADDRESS_OCTETS) {
    return fail('address_too_long', `${addressOctets} octets; the limit is 254`);
  }

  return {
    ok: true,
    address: {
      localPart,
      domain,
      unicodeDomain: domainToUnicode(domain),
      normalized,
      needsSmtpUtf8: hasNonAscii(localPart),
    },
  };
}

function checkLocalPart(localPart: string): ParseFailure | null {
  if (localPart === '') {
    return fail('invalid_local_part', 'nothing before the @');
  }

  const octets = countOctets(localPart);
  if (octets > MAX_LOCAL_PART_OCTETS) {
    return fail('local_part_too_long', `${octets} octets; the limit is 64`);
  }

  const problem = localPart.startsWith('"')
    ? findQuotedStringProblem(localPart)
    : findDotStringProblem(localPart);
  return problem === null ? null : fail('invalid_local_part', problem);
}

/**
 * RFC 5321 4.1.2: Quoted-string = DQUOTE *QcontentSMTP DQUOTE, where
 * qtextSMTP is printable ASCII but `"` and `\`, and quoted-pairSMTP is `\`
 * before any printable ASCII or space. RFC 6531 3.3 would also admit UTF-8
 * here; we keep quoted local parts ASCII-only, a deliberate narrowing.
 */
function findQuotedStringProblem(localPart: string): string | null {
  const last = localPart.length - 1;

  for (let i = 1; i <= last; i += 1) {
    const code = localPart.charCodeAt(i);

    if (code === 0x22) {
      return i === last ? null : 'text after the closing quote';
    }
    if (code === 0x5c) {
      i += 1;
      if (i > last || !isPrintableAscii(localPart.charCodeAt(i))) {
        return 'a backslash inside quotes must escape printable ASCII';
      }
      continue;
    }
    if (!isPrintableAscii(code)) {
      return `${describe(localPart.charAt(i))} inside quotes; only printable ASCII`;
    }
  }

  return 'the quoted local part has no closing quote';
}

/** RFC 5321 4.1.2: Dot-string = Atom *("." Atom), Atom = 1*atext. */
function findDotStringProblem(localPart: string): string | null {
  if (localPart.startsWith('.')) {
    return 'the local part starts with a dot';
  }
  if (localPart.endsWith('.')) {
    return 'the local part ends with a dot';
  }
  if (localPart.includes('..')) {
    return 'the local part has two dots in a row';
  }

  for (const character of localPart) {
    if (character === '.' || ASCII_ATEXT.test(character)) {
      continue;
    }
    if (character === ' ') {
      return 'a space is allowed only inside quotes';
    }
    if (!hasNonAscii(character) || INVISIBLE_CHARACTER.test(character)) {
      return `${describe(character)} is not allowed in an unquoted local part`;
    }
  }

  return null;
}

/**
 * Turns the part after the @ into a lower-case A-label domain, or says why
 * it is not a domain a mailbox can live at.
 */
function toAsciiDomain(raw: string): string | ParseFailure {
  if (raw === '') {
    return fail('invalid_domain', 'nothing after the @');
  }
  if (raw.startsWith('[')) {
    return fail('domain_literal', 'an address literal names a host, not a domain');
  }

  // The WHATWG host parser behind domainToASCII percent-decodes and lets
  // `_`, `*` or `!` through; only letters, digits, dots, hyphens and
  // visible non-ASCII characters go in.
  for (const character of raw) {
    const isAllowed = hasNonAscii(character)
      ? !INVISIBLE_CHARACTER.test(character)
      : DOMAIN_ASCII_CHARACTER.test(character);
    if (!isAllowed) {
      return fail('invalid_domain', `${describe(character)} is not allowed in a domain`);
    }
  }

  const converted = domainToASCII(raw);
  if (converted === '') {
    return fail('invalid_domain', 'not a valid domain name (UTS #46)');
  }
  const domain = converted.endsWith('.') ? converted.slice(0, -1) : converted;

  const problem = findDomainProblem(domain);
  return problem === null ? domain : fail('invalid_domain', problem);
}

function findDomainProblem(domain: string): string | null {
  if (domain.length > MAX_DOMAIN_OCTETS) {
    return `${domain.length} octets; the limit is 253`;
  }

  const labels = domain.split('.');
  if (labels.length < 2) {
    return 'a mail domain needs at least two labels, like example.com';
  }

  for (const label of labels) {
    if (label === '') {
      return 'the domain has an empty label (a stray dot)';
    }
    if (label.length > MAX_LABEL_OCTETS) {
      return `a label of ${label.length} octets; the limit is 63`;
    }
    if (!LDH_LABEL.test(label)) {
      return `the label ${label} must be letters, digits and inner hyphens`;
    }
  }

  // All-numeric top labels would be read as IPv4 (RFC 1123 2.1, RFC 3696 2).
  if (/^[0-9]+$/.test(labels.at(-1) ?? '')) {
    return 'the top-level label is all digits';
  }

  // An A-label must be what encoding its U-label yields (RFC 5890 2.3.2.1);
  // xn--abc- decodes to plain ASCII and fails the round trip.
  if (domainToASCII(domainToUnicode(domain)) !== domain) {
    return 'the domain holds a malformed A-label (xn--)';
  }

  return null;
}

function trimSurroundingSpace(input: string): string {
  let start = 0;
  let end = input.length;

  while (start < end && SURROUNDING_SPACE.test(input.charAt(start))) {
    start += 1;
  }
  while (end > start && SURROUNDING_SPACE.test(input.charAt(end - 1))) {
    end -= 1;
  }

  return input.slice(start, end);
}

/** The first C0 control, DEL or C1 control in the text, or null. */
function findControlCharacter(text: string): string | null {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) {
      return text.charAt(i);
    }
  }
  return null;
}

function isPrintableAscii(code: number): boolean {
  return code >= 0x20 && code <= 0x7e;
}

function hasNonAscii(text: string): boolean {
  return /\P{ASCII}/u.test(text);
}

function countOctets(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Printable ASCII quoted, anything else as U+XXXX, so details stay one safe line. */
function describe(character: string): string {
  const code = character.codePointAt(0) ?? 0;
  if (code > 0x20 && code < 0x7f) {
    return `'${character}'`;
  }
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

function fail(problem: AddressProblem, detail: string): ParseFailure {
  return { ok: false, problem, detail };
}
