/**
 * SPF record syntax (RFC 7208 4.6.1, 5, 6, 7.1). The whole record is parsed
 * before any term is evaluated, so an error anywhere is a permerror (4.6);
 * domain specifications stay macro strings until evaluation expands them.
 */
import ipaddr from 'ipaddr.js';

export type Qualifier = '+' | '-' | '~' | '?';

export type MacroLetter = 's' | 'l' | 'o' | 'd' | 'i' | 'p' | 'h' | 'v' | 'c' | 'r' | 't';

export type MacroToken =
  | { kind: 'literal' | 'escape'; text: string }
  | {
      kind: 'macro';
      letter: MacroLetter;
      isUpper: boolean;
      keep: number | null;
      isReversed: boolean;
      delimiters: string;
    };

/** Prefix lengths of a and mx terms, one per address family. */
export interface DualCidr {
  ipv4: number;
  ipv6: number;
}

export type Mechanism =
  | { kind: 'all' }
  | { kind: 'include'; target: MacroToken[] }
  | { kind: 'exists'; target: MacroToken[] }
  | { kind: 'a' | 'mx'; target: MacroToken[] | null; cidr: DualCidr }
  | { kind: 'ptr'; target: MacroToken[] | null }
  | { kind: 'ip'; network: ipaddr.IPv4 | ipaddr.IPv6; prefix: number };

export interface Directive {
  /** The term as written in the record. */
  term: string;
  qualifier: Qualifier;
  mechanism: Mechanism;
}

export interface SpfRecord {
  directives: Directive[];
  redirect: { term: string; target: MacroToken[] } | null;
  explanation: MacroToken[] | null;
}

export type ParsedRecord =
  { ok: true; record: SpfRecord } | { ok: false; term: string | null; reason: string };

type Term =
  | { kind: 'directive'; directive: Directive }
  | { kind: 'redirect' | 'exp'; target: MacroToken[] }
  | { kind: 'unknown-modifier' };

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** RFC 7208 4.5: "v=spf1" ends at a space or at the end of the record. */
const SPF_VERSION = /^v=spf1(?: |$)/i;
/** RFC 7208 3.1: records are US-ASCII; terms are separated by spaces only. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
/** RFC 7208 4.6.1: '=' right after the name, before any ':' or '/'. */
const MODIFIER = /^([a-z][a-z0-9_.-]*)=(.*)$/i;
const DIRECTIVE = /^([+~?-]?)([a-z][a-z0-9]*)(.*)$/i;
/** RFC 7208 7.1: toplabel = *alphanum ALPHA *alphanum / alphanum, '-' inside, alphanum. */
const ALPHANUMERIC_LABEL = /^[a-z0-9]+$/i;
const HYPHENATED_LABEL = /^[a-z0-9][a-z0-9-]*[a-z0-9]$/i;
const DUAL_CIDR = /^(.*?)(?:\/(\d+))?(?:\/\/(\d+))?$/;
const NETWORK = /^:([^/]+)(?:\/(\d+))?$/;
const CIDR_LENGTH = /^(?:0|[1-9]\d*)$/;
const DOTTED_QUAD =
  /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
/** RFC 7208 7.1: a macro, "%%", "%_", "%-", literal text, or a stray '%'. */
const MACRO_PIECE = /%\{([^}]*)\}|%([%_-])|([^%]+)|%/y;
const MACRO_BODY = /^([a-z])(\d*)(r?)([.+,/_=-]*)$/i;

const ESCAPES: Readonly<Record<string, string>> = { '%': '%', _: ' ', '-': '%20' };

/** RFC 7208 7.2; c, r and t only in exp= text. */
const MACRO_LETTERS = 'slodiphvcrt';
const EXPLANATION_ONLY_LETTERS = 'crt';

/** Record text quoted in an explanation. */
const MAX_QUOTED_LENGTH = 80;

/** RFC 7208 4.5: an SPF record is a TXT record that starts with "v=spf1". */
export function isSpfRecord(text: string): boolean {
  return SPF_VERSION.test(text);
}

/** Parses a record found by `isSpfRecord`; on error, names the term at fault. */
export function parseSpfRecord(text: string): ParsedRecord {
  if (!PRINTABLE_ASCII.test(text)) {
    const reason = 'it holds characters other than printable US-ASCII (RFC 7208 3.1)';
    return { ok: false, term: null, reason };
  }

  const record: SpfRecord = { directives: [], redirect: null, explanation: null };
  const terms = text.replace(SPF_VERSION, '').split(' ');
  for (const term of terms.filter((candidate) => candidate !== '')) {
    const parsed = parseTerm(term);
    if (!parsed.ok) return { ok: false, term, reason: `${quote(term)}: ${parsed.reason}` };

    const { value } = parsed;
    // RFC 7208 6: redirect and exp may each appear once.
    const isRepeated =
      (value.kind === 'redirect' && record.redirect !== null) ||
      (value.kind === 'exp' && record.explanation !== null);
    if (isRepeated) return { ok: false, term, reason: `${value.kind}= appears twice (RFC 7208 6)` };

    if (value.kind === 'directive') record.directives.push(value.directive);
    if (value.kind === 'redirect') record.redirect = { term, target: value.target };
    if (value.kind === 'exp') record.explanation = value.target;
  }
  return { ok: true, record };
}

/**
 * RFC 7208 6.2: the TXT record an exp= names, a macro string that may use
 * c, r and t. Null when it is not printable US-ASCII or not a macro string.
 */
export function parseSpfExplanation(text: string): MacroToken[] | null {
  if (!PRINTABLE_ASCII.test(text)) return null;

  const tokens = parseMacroString(text, true);
  return tokens.ok ? tokens.value : null;
}

/** Record text in a sentence: a hostile term can be as long as the record. */
export function quote(text: string): string {
  const shown = text.length > MAX_QUOTED_LENGTH ? `${text.slice(0, MAX_QUOTED_LENGTH)}...` : text;
  return `"${shown}"`;
}

export function stripTrailingDot(name: string): string {
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

function parseTerm(term: string): Parsed<Term> {
  const modifier = MODIFIER.exec(term);
  if (modifier) return parseModifier((modifier[1] ?? '').toLowerCase(), modifier[2] ?? '');

  const directive = DIRECTIVE.exec(term);
  if (!directive) return fail('it is neither a mechanism nor a modifier');

  const qualifier = (directive[1] || '+') as Qualifier;
  const mechanism = parseMechanism((directive[2] ?? '').toLowerCase(), directive[3] ?? '');
  if (!mechanism.ok) return mechanism;
  return succeed({ kind: 'directive', directive: { term, qualifier, mechanism: mechanism.value } });
}

function parseModifier(name: string, value: string): Parsed<Term> {
  if (name === 'redirect' || name === 'exp') {
    const target = parseDomainSpec(value);
    return target.ok ? succeed({ kind: name, target: target.value }) : target;
  }

  // RFC 7208 6: unknown modifiers are ignored, but must still be well formed.
  const tokens = parseMacroString(value, true);
  return tokens.ok ? succeed({ kind: 'unknown-modifier' }) : tokens;
}

function parseMechanism(name: string, rest: string): Parsed<Mechanism> {
  switch (name) {
    case 'all':
      return rest === '' ? succeed({ kind: 'all' }) : fail('it takes no argument');
    case 'include':
    case 'exists': {
      if (!rest.startsWith(':')) return fail('it needs ":" and a domain');
      const target = parseDomainSpec(rest.slice(1));
      return target.ok ? succeed({ kind: name, target: target.value }) : target;
    }
    case 'a':
    case 'mx':
      return parseHostMechanism(name, rest);
    case 'ptr': {
      if (rest === '') return succeed({ kind: 'ptr', target: null });
      if (!rest.startsWith(':')) return fail('it takes only ":" and a domain');
      const target = parseDomainSpec(rest.slice(1));
      return target.ok ? succeed({ kind: 'ptr', target: target.value }) : target;
    }
    case 'ip4':
    case 'ip6':
      return parseNetwork(name, rest);
    default:
      return fail('it is not an SPF mechanism');
  }
}

/** RFC 7208 5.3 and 5.4: [":" domain-spec] [ip4-cidr-length] ["/" ip6-cidr-length]. */
function parseHostMechanism(kind: 'a' | 'mx', rest: string): Parsed<Mechanism> {
  const hasDomain = rest.startsWith(':');
  if (rest !== '' && !hasDomain && !rest.startsWith('/')) {
    return fail(`it is not a valid ${kind} mechanism`);
  }

  const match = DUAL_CIDR.exec(hasDomain ? rest.slice(1) : rest);
  const specText = match?.[1] ?? '';
  if (!hasDomain && specText !== '') return fail('its CIDR length is malformed');

  const ipv4 = parseCidrLength(match?.[2], 32);
  const ipv6 = parseCidrLength(match?.[3], 128);
  if (!ipv4.ok) return ipv4;
  if (!ipv6.ok) return ipv6;
  const cidr = { ipv4: ipv4.value, ipv6: ipv6.value };
  if (!hasDomain) return succeed({ kind, target: null, cidr });

  const target = parseDomainSpec(specText);
  return target.ok ? succeed({ kind, target: target.value, cidr }) : target;
}

/** RFC 7208 5.6: ip4:network[/0-32], ip6:network[/0-128], no dual lengths. */
function parseNetwork(kind: 'ip4' | 'ip6', rest: string): Parsed<Mechanism> {
  const match = NETWORK.exec(rest);
  const text = match?.[1] ?? '';
  const isValid =
    kind === 'ip4' ? DOTTED_QUAD.test(text) : ipaddr.IPv6.isValid(text) && !text.includes('%');
  if (!isValid) return fail(`it does not hold a valid ${kind} network`);

  const prefix = parseCidrLength(match?.[2], kind === 'ip4' ? 32 : 128);
  if (!prefix.ok) return prefix;
  return succeed({ kind: 'ip', network: ipaddr.parse(text), prefix: prefix.value });
}

/** No leading zeros and no more bits than the address has (RFC 7208 5.6). */
function parseCidrLength(text: string | undefined, maxBits: number): Parsed<number> {
  if (text === undefined) return succeed(maxBits);

  const bits = CIDR_LENGTH.test(text) ? Number(text) : Number.NaN;
  if (!(bits <= maxBits)) return fail(`its CIDR length is not a number from 0 to ${maxBits}`);
  return succeed(bits);
}

/** RFC 7208 7.1: domain-spec = macro-string domain-end, checked before expansion. */
function parseDomainSpec(text: string): Parsed<MacroToken[]> {
  if (text === '') return fail('its domain is missing');

  const tokens = parseMacroString(text, false);
  if (!tokens.ok) return tokens;

  const last = tokens.value.at(-1);
  if (last?.kind === 'literal' && !hasTopLabelEnd(last.text)) {
    return fail('its domain does not end in a macro or a valid top-level label');
  }
  return tokens;
}

/**
 * domain-end = "." toplabel ["."]: the last label is read with string
 * operations, since one regular expression for both toplabel forms
 * backtracks quadratically on a long hostile label.
 */
function hasTopLabelEnd(text: string): boolean {
  const name = stripTrailingDot(text);
  const dot = name.lastIndexOf('.');
  if (dot < 0) return false;

  const label = name.slice(dot + 1);
  if (ALPHANUMERIC_LABEL.test(label)) return /[a-z]/i.test(label);
  return HYPHENATED_LABEL.test(label);
}

/** RFC 7208 7.1; `isExplanation` allows the exp-only letters c, r and t. */
function parseMacroString(text: string, isExplanation: boolean): Parsed<MacroToken[]> {
  const tokens: MacroToken[] = [];
  const piece = new RegExp(MACRO_PIECE.source, MACRO_PIECE.flags);

  // Every pass consumes at least one character.
  while (piece.lastIndex < text.length) {
    const match = piece.exec(text);
    if (!match) return fail('it cannot be read as a macro string');
    const [, body, escape, literal] = match;
    if (literal !== undefined) {
      tokens.push({ kind: 'literal', text: literal });
      continue;
    }
    if (escape !== undefined) {
      tokens.push({ kind: 'escape', text: ESCAPES[escape] ?? '' });
      continue;
    }
    if (body === undefined) return fail("it has a '%' that starts no macro");

    const macro = parseMacro(body, isExplanation);
    if (!macro.ok) return macro;
    tokens.push(macro.value);
  }
  return succeed(tokens);
}

function parseMacro(body: string, isExplanation: boolean): Parsed<MacroToken> {
  const macro = quote(`%{${body}}`);
  const match = MACRO_BODY.exec(body);
  const letterText = match?.[1] ?? '';
  const letter = letterText.toLowerCase();
  if (!match || !MACRO_LETTERS.includes(letter)) return fail(`${macro} is not a macro`);
  if (!isExplanation && EXPLANATION_ONLY_LETTERS.includes(letter)) {
    return fail(`${macro} is allowed only in exp= text (RFC 7208 7.2)`);
  }

  const digits = match[2] ?? '';
  const keep = digits === '' ? null : Number(digits);
  if (keep === 0) return fail(`${macro} keeps zero labels (RFC 7208 7.3)`);

  return succeed({
    kind: 'macro',
    letter: letter as MacroLetter,
    isUpper: letterText !== letter,
    keep,
    isReversed: match[3] !== '',
    delimiters: match[4] ?? '',
  });
}

function succeed<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

function fail<T>(reason: string): Parsed<T> {
  return { ok: false, reason };
}
