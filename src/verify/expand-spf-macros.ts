/**
 * SPF macro expansion (RFC 7208 7.2, 7.3): a parsed macro string becomes the
 * name to query or the explanation to show. Every value comes from the
 * context; only %{p} costs DNS queries, so it is asked for only when used.
 */
import type ipaddr from 'ipaddr.js';
import { stripTrailingDot } from './parse-spf-record.js';
import type { MacroLetter, MacroToken } from './parse-spf-record.js';
import type { Clock } from './types.js';

export interface MacroContext {
  client: {
    address: ipaddr.IPv4 | ipaddr.IPv6;
    /** Dotted quad or RFC 5952 text, as %{c} shows it. */
    text: string;
  };
  senderLocal: string;
  senderDomain: string;
  heloName: string;
  /** The domain whose record holds the macro, for %{d}. */
  domain: string;
  /** Reads the time for %{t}. */
  clock: Clock;
  /** %{p}: a reverse name of the client that resolves back to it, or "unknown". */
  findValidatedName: () => Promise<string>;
}

/** RFC 7208 4.8 and RFC 1035 2.3.4. */
const MAX_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;

const URL_UNRESERVED = /^[A-Za-z0-9._~-]$/;

/**
 * Expands a domain-spec into a name DNS can be asked about, or null when
 * the expansion is not one (RFC 7208 4.8).
 */
export async function expandDomainSpec(
  tokens: MacroToken[],
  context: MacroContext,
): Promise<string | null> {
  return toQueryName(await expandSpfMacros(tokens, context));
}

export async function expandSpfMacros(
  tokens: MacroToken[],
  context: MacroContext,
): Promise<string> {
  let expanded = '';
  for (const token of tokens) {
    expanded += token.kind === 'macro' ? await expandMacro(token, context) : token.text;
  }
  return expanded;
}

async function expandMacro(
  token: Extract<MacroToken, { kind: 'macro' }>,
  context: MacroContext,
): Promise<string> {
  const value = await readMacroValue(token.letter, context);

  const parts = splitOnAny(value, token.delimiters || '.');
  const ordered = token.isReversed ? parts.reverse() : parts;
  const kept = token.keep === null ? ordered : ordered.slice(-token.keep);
  const transformed = kept.join('.');

  return token.isUpper ? escapeUrl(transformed) : transformed;
}

async function readMacroValue(letter: MacroLetter, context: MacroContext): Promise<string> {
  const { client } = context;
  const isIpv4 = client.address.kind() === 'ipv4';
  switch (letter) {
    case 's':
      return `${context.senderLocal}@${context.senderDomain}`;
    case 'l':
      return context.senderLocal;
    case 'o':
      return context.senderDomain;
    case 'd':
      return context.domain;
    case 'i':
      return isIpv4 ? client.text : toNibbles(client.address as ipaddr.IPv6);
    case 'p':
      return context.findValidatedName();
    case 'h':
      return context.heloName;
    case 'v':
      return isIpv4 ? 'in-addr' : 'ip6';
    case 'c':
      return client.text;
    case 'r':
      // The receiving host's name; a doctor check has none, and 7.3 says "unknown".
      return 'unknown';
    case 't':
      return String(Math.floor(context.clock.now() / 1000));
  }
}

/** RFC 7208 7.3: %{i} of an IPv6 client is its 32 nibbles, dot-separated. */
function toNibbles(address: ipaddr.IPv6): string {
  const hex = address.parts.map((part) => part.toString(16).padStart(4, '0')).join('');
  return hex.split('').join('.');
}

function splitOnAny(value: string, delimiters: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (const char of value) {
    if (delimiters.includes(char)) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts;
}

/** RFC 7208 7.3: upper-case macros are URL-escaped; RFC 3986 unreserved characters stay. */
function escapeUrl(value: string): string {
  let escaped = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const char = String.fromCharCode(byte);
    const hex = byte.toString(16).toUpperCase().padStart(2, '0');
    escaped += URL_UNRESERVED.test(char) ? char : `%${hex}`;
  }
  return escaped;
}

/**
 * RFC 7208 4.8: an expanded name longer than 253 characters loses whole
 * labels from the left. A name DNS cannot carry (an empty or overlong label)
 * is treated as one that does not exist; RFC 7208 leaves this open.
 */
function toQueryName(expanded: string): string | null {
  let name = stripTrailingDot(expanded);
  while (name.length > MAX_NAME_LENGTH) {
    const dot = name.indexOf('.');
    if (dot < 0) return null;
    name = name.slice(dot + 1);
  }

  const labels = name.split('.');
  const isQueryable = labels.every((label) => label !== '' && label.length <= MAX_LABEL_LENGTH);
  return isQueryable ? name : null;
}
