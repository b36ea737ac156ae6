/**
 * SPF check_host() (RFC 7208): does the SPF record of a MAIL FROM domain
 * authorize an IP address to send its mail? `mailverify doctor` asks this of
 * the verifier's own egress address and sender identity.
 *
 * Everything a published record can make us do is bounded: at most 10 terms
 * that query DNS and 2 answers without records (4.6.4), at most 10 address
 * lookups per mx or ptr term, no include or redirect back into a domain
 * whose evaluation is under way, and a time budget for the whole check.
 * The exp= modifier is honoured: a fail carries the domain's own text.
 */
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { systemClock } from './types.js';
import type { Clock, IdentityResolver } from './types.js';

export type SpfResult =
  'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'permerror' | 'temperror';

export interface SpfEvaluation {
  result: SpfResult;
  /** The SPF record of the domain asked about; null when there is none to read. */
  record: string | null;
  /** The term that decided: the one that matched, or the one that failed. */
  mechanism: string | null;
  /** DNS-querying terms reached, which RFC 7208 4.6.4 limits to 10; 11 means the limit hit. */
  lookups: number;
  /** One sentence for the operator; after a fail, also the domain's exp= text. */
  explanation: string;
}

export interface SpfOptions {
  /** The MAIL FROM address; "postmaster@<domain>" when absent (RFC 7208 4.3). */
  sender?: string;
  /** The HELO/EHLO name, for %{h}; "unknown" when absent. */
  heloName?: string;
  /** Reads the time for the budget and for %{t}. */
  clock?: Clock;
  /**
   * Budget for the whole evaluation, checked before every query; past it the
   * result is temperror. A query under way is bounded by the resolver's own timeout.
   */
  timeoutMs?: number;
}

/** RFC 7208 4.6.4 wants at least 20 seconds before giving up. */
export const DEFAULT_SPF_TIMEOUT_MS = 20_000;

/** RFC 7208 4.6.4: include, a, mx, ptr, exists and redirect each count one. */
const MAX_DNS_TERMS = 10;
/** RFC 7208 4.6.4: lookups answered with NXDOMAIN or no records. */
const MAX_VOID_LOOKUPS = 2;
/** RFC 7208 4.6.4: MX hosts, or PTR names, looked up for one term. */
const MAX_NAMES_PER_TERM = 10;
/** RFC 7208 4.8 and RFC 1035 2.3.4. */
const MAX_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
/** exp= text comes from DNS and ends up on the operator's terminal. */
const MAX_EXPLANATION_LENGTH = 512;
/** Record text quoted in an explanation. */
const MAX_QUOTED_LENGTH = 80;

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
/** RFC 7208 4.3: visible ASCII; brackets would make it an address literal. */
const DOMAIN_LABEL = /^[\x21-\x5a\x5c\x5e-\x7e]{1,63}$/;
const DUAL_CIDR = /^(.*?)(?:\/(\d+))?(?:\/\/(\d+))?$/;
const NETWORK = /^:([^/]+)(?:\/(\d+))?$/;
const CIDR_LENGTH = /^(?:0|[1-9]\d*)$/;
const DOTTED_QUAD =
  /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
/** RFC 7208 7.1: a macro, "%%", "%_", "%-", literal text, or a stray '%'. */
const MACRO_PIECE = /%\{([^}]*)\}|%([%_-])|([^%]+)|%/y;
const MACRO_BODY = /^([a-z])(\d*)(r?)([.+,/_=-]*)$/i;
const URL_UNRESERVED = /^[A-Za-z0-9._~-]$/;

/** Node's codes for "this name or this record does not exist". */
const ABSENT_CODES: ReadonlySet<string> = new Set(['ENOTFOUND', 'ENODATA', 'EBADNAME']);

type Qualifier = '+' | '-' | '~' | '?';

const QUALIFIER_RESULTS = {
  '+': 'pass',
  '-': 'fail',
  '~': 'softfail',
  '?': 'neutral',
} as const satisfies Record<Qualifier, SpfResult>;

const ESCAPES: Readonly<Record<string, string>> = { '%': '%', _: ' ', '-': '%20' };

/** RFC 7208 7.2; c, r and t only in exp= text. */
const MACRO_LETTERS = 'slodiphvcrt';
const EXPLANATION_ONLY_LETTERS = 'crt';

type MacroLetter = 's' | 'l' | 'o' | 'd' | 'i' | 'p' | 'h' | 'v' | 'c' | 'r' | 't';

type MacroToken =
  | { kind: 'literal' | 'escape'; text: string }
  | {
      kind: 'macro';
      letter: MacroLetter;
      isUpper: boolean;
      keep: number | null;
      isReversed: boolean;
      delimiters: string;
    };

interface DualCidr {
  ipv4: number;
  ipv6: number;
}

type Mechanism =
  | { kind: 'all' }
  | { kind: 'include' | 'exists'; target: MacroToken[] }
  | { kind: 'a' | 'mx'; target: MacroToken[] | null; cidr: DualCidr }
  | { kind: 'ptr'; target: MacroToken[] | null }
  | { kind: 'ip'; network: ipaddr.IPv4 | ipaddr.IPv6; prefix: number };

interface Directive {
  term: string;
  qualifier: Qualifier;
  mechanism: Mechanism;
}

interface SpfRecord {
  directives: Directive[];
  redirect: { term: string; target: MacroToken[] } | null;
  explanation: MacroToken[] | null;
}

type Term =
  | { kind: 'directive'; directive: Directive }
  | { kind: 'redirect' | 'exp'; target: MacroToken[] }
  | { kind: 'unknown-modifier' };

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

interface Client {
  address: ipaddr.IPv4 | ipaddr.IPv6;
  /** Dotted quad or RFC 5952 text, as %{c} shows it. */
  text: string;
}

interface EvaluationState {
  client: Client;
  senderLocal: string;
  senderDomain: string;
  heloName: string;
  resolver: IdentityResolver;
  clock: Clock;
  timeoutMs: number;
  deadline: number;
  lookups: number;
  voidLookups: number;
  /** Reverse names that resolve back to the client, asked once for ptr and %{p}. */
  validatedNames: Promise<string[]> | null;
}

/** Where a term is evaluated: the domain whose record holds it, and the way there. */
interface Scope {
  state: EvaluationState;
  domain: string;
  /** Lower-cased domains whose evaluation is under way, this one last. */
  chain: readonly string[];
  /** RFC 7208 6.2: the exp= of an included record is never used. */
  isIncluded: boolean;
}

type TermOutcome =
  | { kind: 'match'; detail: string | null }
  | { kind: 'no-match' }
  | { kind: 'error'; result: 'permerror' | 'temperror'; detail: string };

type TermError = Extract<TermOutcome, { kind: 'error' }>;

interface HostOutcome {
  result: SpfResult;
  record: string | null;
  mechanism: string | null;
  detail: string;
  domainExplanation: string | null;
}

type DnsAnswer<T> =
  { kind: 'records'; records: T[] } | { kind: 'void' } | { kind: 'failed'; detail: string };

type RecordLookup =
  | { kind: 'found'; record: string }
  | { kind: 'missing'; result: 'none' | 'permerror' | 'temperror'; detail: string };

const NO_MATCH: TermOutcome = { kind: 'no-match' };
const EXACT_ADDRESS: DualCidr = { ipv4: 32, ipv6: 128 };

/**
 * check_host(ip, domain, sender) of RFC 7208 section 4. Throws only when `ip`
 * is not an IP address: that is the caller's mistake, not a DNS fact.
 */
export async function evaluateSpf(
  ip: string,
  domain: string,
  resolver: IdentityResolver,
  options: SpfOptions = {},
): Promise<SpfEvaluation> {
  const client = parseClient(ip);
  const clock = options.clock ?? systemClock;
  const timeoutMs = options.timeoutMs ?? DEFAULT_SPF_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${timeoutMs}`);

  const name = stripTrailingDot(domain);
  const sender = splitSender(options.sender, name);
  const state: EvaluationState = {
    client,
    senderLocal: sender.local,
    senderDomain: sender.domain,
    heloName: options.heloName ?? 'unknown',
    resolver,
    clock,
    timeoutMs,
    deadline: clock.now() + timeoutMs,
    lookups: 0,
    voidLookups: 0,
    validatedNames: null,
  };

  const outcome = await checkHost(state, name, [], false);

  const explanation =
    outcome.domainExplanation === null
      ? outcome.detail
      : `${outcome.detail}; the domain explains: "${outcome.domainExplanation}"`;
  return {
    result: outcome.result,
    record: outcome.record,
    mechanism: outcome.mechanism,
    lookups: state.lookups,
    explanation,
  };
}

async function checkHost(
  state: EvaluationState,
  domain: string,
  parentChain: readonly string[],
  isIncluded: boolean,
): Promise<HostOutcome> {
  if (!isCheckableDomain(domain)) {
    const detail = `${quote(domain)} is not a domain SPF can be checked for (RFC 7208 4.3)`;
    return decide('none', null, null, detail);
  }

  const lookup = await findSpfRecord(state, domain);
  if (lookup.kind === 'missing') return decide(lookup.result, null, null, lookup.detail);

  const parsed = parseRecord(lookup.record);
  if (!parsed.ok) {
    const detail = `the SPF record of ${domain} is invalid: ${parsed.reason}`;
    return decide('permerror', lookup.record, parsed.term, detail);
  }

  const chain = [...parentChain, domain.toLowerCase()];
  const scope: Scope = { state, domain, chain, isIncluded };
  return evaluateRecord(parsed.record, lookup.record, scope);
}

/** RFC 7208 4.6.2 and 4.7: the first matching term decides, then redirect, then neutral. */
async function evaluateRecord(record: SpfRecord, text: string, scope: Scope): Promise<HostOutcome> {
  const { state, domain } = scope;

  for (const directive of record.directives) {
    if (hasExpired(state)) return decide('temperror', text, directive.term, expiryDetail(state));

    const outcome = await evaluateMechanism(directive.mechanism, scope);
    if (outcome.kind === 'error') {
      return decide(outcome.result, text, directive.term, outcome.detail);
    }
    if (outcome.kind === 'match') {
      return decideMatch(directive, outcome.detail, record, text, scope);
    }
  }

  if (record.redirect !== null) return followRedirect(record.redirect, text, scope);

  const detail =
    `no term in the SPF record of ${domain} matches ${state.client.text}, ` +
    'so the result is neutral (RFC 7208 4.7)';
  return decide('neutral', text, null, detail);
}

async function decideMatch(
  directive: Directive,
  matchDetail: string | null,
  record: SpfRecord,
  text: string,
  scope: Scope,
): Promise<HostOutcome> {
  const result = QUALIFIER_RESULTS[directive.qualifier];
  const where = `${directive.term} in the SPF record of ${scope.domain}`;
  const how = matchDetail === null ? '' : `, ${matchDetail}`;
  const detail = `${scope.state.client.text} matches ${where}${how}`;

  // RFC 7208 6.2: exp= explains a fail only, and never one from an included record.
  const hasExplanation = result === 'fail' && !scope.isIncluded;
  const domainExplanation = hasExplanation ? await explainFailure(record, scope) : null;
  return { result, record: text, mechanism: directive.term, detail, domainExplanation };
}

/** RFC 7208 6.1: the record of another domain decides instead, "none" being an error. */
async function followRedirect(
  redirect: NonNullable<SpfRecord['redirect']>,
  text: string,
  scope: Scope,
): Promise<HostOutcome> {
  const overLimit = spendLookup(scope.state);
  if (overLimit) return decide('permerror', text, redirect.term, overLimit.detail);

  const target = await expandTarget(redirect.target, scope);
  if (target === null) {
    const detail = `${redirect.term} does not name a valid domain (RFC 7208 6.1)`;
    return decide('permerror', text, redirect.term, detail);
  }
  if (isInChain(scope, target)) {
    return decide('permerror', text, redirect.term, loopDetail(target, scope));
  }

  const inner = await checkHost(scope.state, target, scope.chain, scope.isIncluded);
  if (inner.result === 'none') {
    const detail = `${redirect.term} leads to a domain without an SPF record (RFC 7208 6.1)`;
    return decide('permerror', text, redirect.term, detail);
  }
  return { ...inner, record: text, detail: `${inner.detail} (reached by ${redirect.term})` };
}

function evaluateMechanism(mechanism: Mechanism, scope: Scope): Promise<TermOutcome> {
  switch (mechanism.kind) {
    case 'all':
      return Promise.resolve({ kind: 'match', detail: null });
    case 'ip':
      return Promise.resolve(matchNetwork(scope.state.client, mechanism));
    case 'a':
      return matchAddressRecords(mechanism.target, mechanism.cidr, scope);
    case 'mx':
      return matchMailServers(mechanism.target, mechanism.cidr, scope);
    case 'ptr':
      return matchReverseNames(mechanism.target, scope);
    case 'exists':
      return matchExists(mechanism.target, scope);
    case 'include':
      return matchInclude(mechanism.target, scope);
  }
}

/** RFC 7208 5.6: an IPv4 client never matches ip6, nor an IPv6 client ip4. */
function matchNetwork(client: Client, mechanism: Extract<Mechanism, { kind: 'ip' }>): TermOutcome {
  const { network, prefix } = mechanism;
  if (network.kind() !== client.address.kind()) return NO_MATCH;
  return client.address.match(network, prefix) ? { kind: 'match', detail: null } : NO_MATCH;
}

/** RFC 7208 5.3: A records for an IPv4 client, AAAA for an IPv6 one. */
async function matchAddressRecords(
  spec: MacroToken[] | null,
  cidr: DualCidr,
  scope: Scope,
): Promise<TermOutcome> {
  const overLimit = spendLookup(scope.state);
  if (overLimit) return overLimit;

  const host = spec === null ? scope.domain : await expandTarget(spec, scope);
  if (host === null) return NO_MATCH;

  const answer = await askAddresses(scope.state, host);
  if (answer.kind === 'void') return countVoidLookup(scope.state);
  if (answer.kind === 'failed') return temporaryError(answer.detail);

  const client = scope.state.client;
  const isMatch = answer.records.some((address) => isInNetwork(client, address, cidr));
  return isMatch ? { kind: 'match', detail: null } : NO_MATCH;
}

/**
 * RFC 7208 5.4: the addresses of the MX hosts, never an implicit MX. Only
 * the MX query itself counts as a void lookup: an IPv4-only MX host asked
 * for AAAA is normal, and would otherwise exhaust the limit for IPv6 clients.
 */
async function matchMailServers(
  spec: MacroToken[] | null,
  cidr: DualCidr,
  scope: Scope,
): Promise<TermOutcome> {
  const { state } = scope;
  const overLimit = spendLookup(state);
  if (overLimit) return overLimit;

  const domain = spec === null ? scope.domain : await expandTarget(spec, scope);
  if (domain === null) return NO_MATCH;

  const answer = await askDns(state, `MX ${domain}`, () => state.resolver.resolveMx(domain));
  if (answer.kind === 'void') return countVoidLookup(state);
  if (answer.kind === 'failed') return temporaryError(answer.detail);

  // Node reports the null MX target "." (RFC 7505) as the empty string.
  const hosts = answer.records.map(({ exchange }) => stripTrailingDot(exchange));
  const usableHosts = hosts.filter((host) => host !== '');
  if (usableHosts.length > MAX_NAMES_PER_TERM) {
    const detail =
      `${domain} has ${usableHosts.length} MX hosts, more than the ` +
      `${MAX_NAMES_PER_TERM} one mx term may look up (RFC 7208 4.6.4)`;
    return permanentError(detail);
  }

  for (const host of usableHosts) {
    const addresses = await askAddresses(state, host);
    if (addresses.kind === 'failed') return temporaryError(addresses.detail);
    if (addresses.kind === 'void') continue;

    const isMatch = addresses.records.some((address) => isInNetwork(state.client, address, cidr));
    if (isMatch) return { kind: 'match', detail: `through MX host ${host}` };
  }
  return NO_MATCH;
}

/**
 * RFC 7208 5.5, deprecated but still published: a reverse name of the client
 * that resolves back to it and lies in the target domain.
 */
async function matchReverseNames(spec: MacroToken[] | null, scope: Scope): Promise<TermOutcome> {
  const overLimit = spendLookup(scope.state);
  if (overLimit) return overLimit;

  const target = spec === null ? scope.domain : await expandTarget(spec, scope);
  if (target === null) return NO_MATCH;

  const suffix = target.toLowerCase();
  const names = await findValidatedNames(scope.state);
  const name = names.find((candidate) => isSameOrSubdomain(candidate, suffix));
  return name === undefined ? NO_MATCH : { kind: 'match', detail: `through reverse name ${name}` };
}

/** RFC 7208 5.7: an A query, whatever the client's address family. */
async function matchExists(spec: MacroToken[], scope: Scope): Promise<TermOutcome> {
  const { state } = scope;
  const overLimit = spendLookup(state);
  if (overLimit) return overLimit;

  const host = await expandTarget(spec, scope);
  if (host === null) return NO_MATCH;

  const answer = await askDns(state, `A ${host}`, () => state.resolver.resolve4(host));
  if (answer.kind === 'void') return countVoidLookup(state);
  if (answer.kind === 'failed') return temporaryError(answer.detail);
  return { kind: 'match', detail: `because ${host} exists` };
}

/** RFC 7208 5.2: only a pass matches; none and permerror are errors of this record. */
async function matchInclude(spec: MacroToken[], scope: Scope): Promise<TermOutcome> {
  const overLimit = spendLookup(scope.state);
  if (overLimit) return overLimit;

  const target = await expandTarget(spec, scope);
  if (target === null) return permanentError('the include target is not a valid domain');
  if (isInChain(scope, target)) return permanentError(loopDetail(target, scope));

  const inner = await checkHost(scope.state, target, scope.chain, true);
  switch (inner.result) {
    case 'pass':
      return { kind: 'match', detail: `because ${inner.detail}` };
    case 'fail':
    case 'softfail':
    case 'neutral':
      return NO_MATCH;
    case 'temperror':
    case 'permerror':
      return { kind: 'error', result: inner.result, detail: inner.detail };
    case 'none':
      return permanentError(`${target} has no SPF record to include (RFC 7208 5.2)`);
  }
}

/** RFC 7208 6.2: any trouble with the explanation means there is none. */
async function explainFailure(record: SpfRecord, scope: Scope): Promise<string | null> {
  const { state } = scope;
  if (record.explanation === null) return null;

  const name = await expandTarget(record.explanation, scope);
  if (name === null) return null;

  // Not counted against either limit (4.6.4): it is asked once the result is known.
  const answer = await askDns(state, `TXT ${name}`, () => state.resolver.resolveTxt(name));
  if (answer.kind !== 'records' || answer.records.length !== 1) return null;

  const text = answer.records[0]?.join('') ?? '';
  if (!PRINTABLE_ASCII.test(text)) return null;
  const tokens = parseMacroString(text, true);
  if (!tokens.ok) return null;

  const expanded = await expandMacros(tokens.value, scope);
  return expanded.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_EXPLANATION_LENGTH);
}

/** RFC 7208 4.4 and 4.5: exactly one TXT record that starts with "v=spf1". */
async function findSpfRecord(state: EvaluationState, domain: string): Promise<RecordLookup> {
  const answer = await askDns(state, `TXT ${domain}`, () => state.resolver.resolveTxt(domain));
  if (answer.kind === 'failed') {
    return { kind: 'missing', result: 'temperror', detail: answer.detail };
  }

  // RFC 7208 3.3: the strings of one TXT record are joined without spaces.
  const texts = answer.kind === 'records' ? answer.records.map((chunks) => chunks.join('')) : [];
  const [record, ...others] = texts.filter((text) => SPF_VERSION.test(text));
  if (record === undefined) {
    return { kind: 'missing', result: 'none', detail: `${domain} publishes no SPF record` };
  }
  if (others.length > 0) {
    const detail =
      `${domain} publishes ${others.length + 1} SPF records, ` +
      'and only one is allowed (RFC 7208 4.5)';
    return { kind: 'missing', result: 'permerror', detail };
  }
  return { kind: 'found', record };
}

// ---------------------------------------------------------------------------
// Record syntax (RFC 7208 4.6.1, 5, 6, 7.1): the whole record is parsed before
// any term is evaluated, so an error anywhere is a permerror (4.6).

function parseRecord(
  text: string,
): { ok: true; record: SpfRecord } | { ok: false; term: string | null; reason: string } {
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

// ---------------------------------------------------------------------------
// Macro expansion (RFC 7208 7.2, 7.3)

async function expandTarget(spec: MacroToken[], scope: Scope): Promise<string | null> {
  return toQueryName(await expandMacros(spec, scope));
}

async function expandMacros(tokens: MacroToken[], scope: Scope): Promise<string> {
  let expanded = '';
  for (const token of tokens) {
    expanded += token.kind === 'macro' ? await expandMacro(token, scope) : token.text;
  }
  return expanded;
}

async function expandMacro(
  token: Extract<MacroToken, { kind: 'macro' }>,
  scope: Scope,
): Promise<string> {
  const value = await readMacroValue(token.letter, scope);

  const parts = splitOnAny(value, token.delimiters || '.');
  const ordered = token.isReversed ? parts.reverse() : parts;
  const kept = token.keep === null ? ordered : ordered.slice(-token.keep);
  const transformed = kept.join('.');

  return token.isUpper ? escapeUrl(transformed) : transformed;
}

async function readMacroValue(letter: MacroLetter, scope: Scope): Promise<string> {
  const { state } = scope;
  const isIpv4 = state.client.address.kind() === 'ipv4';
  switch (letter) {
    case 's':
      return `${state.senderLocal}@${state.senderDomain}`;
    case 'l':
      return state.senderLocal;
    case 'o':
      return state.senderDomain;
    case 'd':
      return scope.domain;
    case 'i':
      return isIpv4 ? state.client.text : toNibbles(state.client.address as ipaddr.IPv6);
    case 'p':
      // Asked once per evaluation, at most 11 queries; 4.6.4 counts terms, not macros.
      return chooseValidatedName(await findValidatedNames(state), scope.domain);
    case 'h':
      return state.heloName;
    case 'v':
      return isIpv4 ? 'in-addr' : 'ip6';
    case 'c':
      return state.client.text;
    case 'r':
      // The receiving host's name; a doctor check has none, and 7.3 says "unknown".
      return 'unknown';
    case 't':
      return String(Math.floor(state.clock.now() / 1000));
  }
}

/** RFC 7208 7.3: the domain itself, else a subdomain of it, else any; "unknown" if none. */
function chooseValidatedName(names: string[], domain: string): string {
  const lowered = domain.toLowerCase();
  return (
    names.find((name) => name === lowered) ??
    names.find((name) => isSameOrSubdomain(name, lowered)) ??
    names[0] ??
    'unknown'
  );
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

// ---------------------------------------------------------------------------
// DNS and limits

/** RFC 7208 5: SERVFAIL or a timeout is temperror; NXDOMAIN is an empty answer. */
async function askDns<T>(
  state: EvaluationState,
  question: string,
  query: () => Promise<T[]>,
): Promise<DnsAnswer<T>> {
  if (hasExpired(state)) return { kind: 'failed', detail: expiryDetail(state) };

  try {
    const records = await query();
    return records.length > 0 ? { kind: 'records', records } : { kind: 'void' };
  } catch (error) {
    const code = readErrorCode(error);
    if (ABSENT_CODES.has(code)) return { kind: 'void' };
    return { kind: 'failed', detail: `DNS lookup ${question} failed with ${code}` };
  }
}

function askAddresses(state: EvaluationState, host: string): Promise<DnsAnswer<string>> {
  const { resolver } = state;
  return state.client.address.kind() === 'ipv4'
    ? askDns(state, `A ${host}`, () => resolver.resolve4(host))
    : askDns(state, `AAAA ${host}`, () => resolver.resolve6(host));
}

function findValidatedNames(state: EvaluationState): Promise<string[]> {
  state.validatedNames ??= validateReverseNames(state);
  return state.validatedNames;
}

/**
 * RFC 7208 5.5: a reverse name counts only if it resolves back to the client;
 * names past the tenth are ignored, and a DNS error skips a name. The PTR
 * query is not a void lookup: the client's reverse zone is not the domain's.
 */
async function validateReverseNames(state: EvaluationState): Promise<string[]> {
  const { client, resolver } = state;
  const reverse = await askDns(state, `PTR ${client.text}`, () => resolver.reverse(client.text));
  if (reverse.kind !== 'records') return [];

  const names = reverse.records.slice(0, MAX_NAMES_PER_TERM).map(stripTrailingDot);
  const validated: string[] = [];
  for (const name of names.filter((candidate) => candidate !== '')) {
    const answer = await askAddresses(state, name);
    if (answer.kind !== 'records') continue;

    const isValidated = answer.records.some((address) =>
      isInNetwork(client, address, EXACT_ADDRESS),
    );
    if (isValidated) validated.push(name.toLowerCase());
  }
  return validated;
}

function spendLookup(state: EvaluationState): TermError | null {
  state.lookups += 1;
  if (state.lookups <= MAX_DNS_TERMS) return null;
  return permanentError(`more than ${MAX_DNS_TERMS} terms query DNS (RFC 7208 4.6.4)`);
}

function countVoidLookup(state: EvaluationState): TermOutcome {
  state.voidLookups += 1;
  if (state.voidLookups <= MAX_VOID_LOOKUPS) return NO_MATCH;
  const detail = `more than ${MAX_VOID_LOOKUPS} DNS lookups found no records (RFC 7208 4.6.4)`;
  return permanentError(detail);
}

function hasExpired(state: EvaluationState): boolean {
  return state.clock.now() > state.deadline;
}

function expiryDetail(state: EvaluationState): string {
  return `the SPF evaluation took longer than ${state.timeoutMs} ms (RFC 7208 4.6.4)`;
}

// ---------------------------------------------------------------------------
// Small helpers

/** RFC 7208 5: an IPv4-mapped IPv6 client is an IPv4 client. */
function parseClient(ip: string): Client {
  if (net.isIP(ip) === 0 || ip.includes('%')) {
    throw new TypeError(`evaluateSpf needs an IPv4 or IPv6 address, got "${ip}"`);
  }

  const parsed = ipaddr.parse(ip);
  if (parsed instanceof ipaddr.IPv6 && parsed.isIPv4MappedAddress()) {
    const address = parsed.toIPv4Address();
    return { address, text: address.toString() };
  }
  const text = parsed instanceof ipaddr.IPv6 ? parsed.toRFC5952String() : parsed.toString();
  return { address: parsed, text };
}

/** RFC 7208 4.3: a sender without a local part is "postmaster". */
function splitSender(
  sender: string | undefined,
  domain: string,
): { local: string; domain: string } {
  if (sender === undefined || sender === '') return { local: 'postmaster', domain };

  const at = sender.lastIndexOf('@');
  const local = at < 0 ? '' : sender.slice(0, at);
  return { local: local === '' ? 'postmaster' : local, domain: sender.slice(at + 1) };
}

/** RFC 7208 4.3: a multi-label name with no empty or overlong label, not a literal. */
function isCheckableDomain(domain: string): boolean {
  if (domain.length === 0 || domain.length > MAX_NAME_LENGTH) return false;

  const labels = domain.split('.');
  return labels.length >= 2 && labels.every((label) => DOMAIN_LABEL.test(label));
}

function isInNetwork(client: Client, candidate: string, cidr: DualCidr): boolean {
  if (net.isIP(candidate) === 0) return false;

  const network = ipaddr.parse(candidate);
  if (network.kind() !== client.address.kind()) return false;
  const prefix = network.kind() === 'ipv4' ? cidr.ipv4 : cidr.ipv6;
  return client.address.match(network, prefix);
}

function isSameOrSubdomain(name: string, domain: string): boolean {
  return name === domain || name.endsWith(`.${domain}`);
}

function isInChain(scope: Scope, domain: string): boolean {
  return scope.chain.includes(domain.toLowerCase());
}

function loopDetail(target: string, scope: Scope): string {
  return `${scope.chain.join(' -> ')} -> ${target} is a loop (RFC 7208 4.6.4)`;
}

/** Record text in a sentence: a hostile term can be as long as the record. */
function quote(text: string): string {
  const shown = text.length > MAX_QUOTED_LENGTH ? `${text.slice(0, MAX_QUOTED_LENGTH)}...` : text;
  return `"${shown}"`;
}

function stripTrailingDot(name: string): string {
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

function readErrorCode(error: unknown): string {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : null;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

function decide(
  result: SpfResult,
  record: string | null,
  mechanism: string | null,
  detail: string,
): HostOutcome {
  return { result, record, mechanism, detail, domainExplanation: null };
}

function permanentError(detail: string): TermError {
  return { kind: 'error', result: 'permerror', detail };
}

function temporaryError(detail: string): TermError {
  return { kind: 'error', result: 'temperror', detail };
}

function succeed<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

function fail<T>(reason: string): Parsed<T> {
  return { ok: false, reason };
}
