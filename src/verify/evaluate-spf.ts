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
import { expandDomainSpec, expandSpfMacros } from './expand-spf-macros.js';
import type { MacroContext } from './expand-spf-macros.js';
import { matchMechanism, NO_MATCH, permanentError, spendTerm } from './match-spf-mechanism.js';
import type { TermOutcome } from './match-spf-mechanism.js';
import {
  isSpfRecord,
  parseSpfExplanation,
  parseSpfRecord,
  quote,
  stripTrailingDot,
} from './parse-spf-record.js';
import type { Directive, MacroToken, Qualifier, SpfRecord } from './parse-spf-record.js';
import { parseSpfClient, SpfLookups } from './spf-lookups.js';
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

/** RFC 7208 4.3 and RFC 1035 2.3.4. */
const MAX_NAME_LENGTH = 253;
/** exp= text comes from DNS and ends up on the operator's terminal. */
const MAX_EXPLANATION_LENGTH = 512;

/** RFC 7208 4.3: visible ASCII; brackets would make it an address literal. */
const DOMAIN_LABEL = /^[\x21-\x5a\x5c\x5e-\x7e]{1,63}$/;

const QUALIFIER_RESULTS = {
  '+': 'pass',
  '-': 'fail',
  '~': 'softfail',
  '?': 'neutral',
} as const satisfies Record<Qualifier, SpfResult>;

interface EvaluationState {
  senderLocal: string;
  senderDomain: string;
  heloName: string;
  clock: Clock;
  lookups: SpfLookups;
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

interface HostOutcome {
  result: SpfResult;
  record: string | null;
  mechanism: string | null;
  detail: string;
  domainExplanation: string | null;
}

type RecordLookup =
  | { kind: 'found'; record: string }
  | { kind: 'missing'; result: 'none' | 'permerror' | 'temperror'; detail: string };

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
  const client = parseSpfClient(ip);
  const clock = options.clock ?? systemClock;
  const timeoutMs = options.timeoutMs ?? DEFAULT_SPF_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${timeoutMs}`);

  const name = stripTrailingDot(domain);
  const sender = splitSender(options.sender, name);
  const state: EvaluationState = {
    senderLocal: sender.local,
    senderDomain: sender.domain,
    heloName: options.heloName ?? 'unknown',
    clock,
    lookups: new SpfLookups(resolver, client, clock, timeoutMs),
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
    lookups: state.lookups.termCount,
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

  const lookup = await findSpfRecord(state.lookups, domain);
  if (lookup.kind === 'missing') return decide(lookup.result, null, null, lookup.detail);

  const parsed = parseSpfRecord(lookup.record);
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
  const { lookups } = scope.state;

  for (const directive of record.directives) {
    if (lookups.hasExpired) {
      return decide('temperror', text, directive.term, lookups.expiryDetail);
    }

    const outcome = await evaluateDirective(directive, scope);
    if (outcome.kind === 'error') {
      return decide(outcome.result, text, directive.term, outcome.detail);
    }
    if (outcome.kind === 'match') {
      return decideMatch(directive, outcome.detail, record, text, scope);
    }
  }

  if (record.redirect !== null) return followRedirect(record.redirect, text, scope);

  const detail =
    `no term in the SPF record of ${scope.domain} matches ${lookups.client.text}, ` +
    'so the result is neutral (RFC 7208 4.7)';
  return decide('neutral', text, null, detail);
}

function evaluateDirective(directive: Directive, scope: Scope): Promise<TermOutcome> {
  const { mechanism } = directive;
  if (mechanism.kind === 'include') return matchInclude(mechanism.target, scope);

  return matchMechanism(mechanism, {
    lookups: scope.state.lookups,
    domain: scope.domain,
    expand: (spec) => expandTarget(spec, scope),
  });
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
  const detail = `${scope.state.lookups.client.text} matches ${where}${how}`;

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
  const overLimit = spendTerm(scope.state.lookups);
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

/** RFC 7208 5.2: only a pass matches; none and permerror are errors of this record. */
async function matchInclude(spec: MacroToken[], scope: Scope): Promise<TermOutcome> {
  const overLimit = spendTerm(scope.state.lookups);
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
  if (record.explanation === null) return null;

  const name = await expandTarget(record.explanation, scope);
  if (name === null) return null;

  // Not counted against either limit (4.6.4): it is asked once the result is known.
  const answer = await scope.state.lookups.askTxt(name);
  if (answer.kind !== 'records' || answer.records.length !== 1) return null;

  const text = answer.records[0]?.join('') ?? '';
  const tokens = parseSpfExplanation(text);
  if (tokens === null) return null;

  const expanded = await expandSpfMacros(tokens, macroContext(scope));
  return expanded.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_EXPLANATION_LENGTH);
}

/** RFC 7208 4.4 and 4.5: exactly one TXT record that starts with "v=spf1". */
async function findSpfRecord(lookups: SpfLookups, domain: string): Promise<RecordLookup> {
  const answer = await lookups.askTxt(domain);
  if (answer.kind === 'failed') {
    return { kind: 'missing', result: 'temperror', detail: answer.detail };
  }

  // RFC 7208 3.3: the strings of one TXT record are joined without spaces.
  const texts = answer.kind === 'records' ? answer.records.map((chunks) => chunks.join('')) : [];
  const [record, ...others] = texts.filter(isSpfRecord);
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

function expandTarget(spec: MacroToken[], scope: Scope): Promise<string | null> {
  return expandDomainSpec(spec, macroContext(scope));
}

function macroContext(scope: Scope): MacroContext {
  const { state, domain } = scope;
  return {
    client: state.lookups.client,
    senderLocal: state.senderLocal,
    senderDomain: state.senderDomain,
    heloName: state.heloName,
    domain,
    clock: state.clock,
    findValidatedName: () => state.lookups.chooseValidatedName(domain),
  };
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

function isInChain(scope: Scope, domain: string): boolean {
  return scope.chain.includes(domain.toLowerCase());
}

function loopDetail(target: string, scope: Scope): string {
  return `${scope.chain.join(' -> ')} -> ${target} is a loop (RFC 7208 4.6.4)`;
}

function decide(
  result: SpfResult,
  record: string | null,
  mechanism: string | null,
  detail: string,
): HostOutcome {
  return { result, record, mechanism, detail, domainExplanation: null };
}
