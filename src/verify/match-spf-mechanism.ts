/**
 * SPF mechanisms that look at the client and DNS (RFC 7208 5.1, 5.3 to 5.7):
 * does this term match the client's address? include is not here: it runs
 * check_host on another domain, which is the evaluation's own business.
 */
import type { DualCidr, MacroToken, Mechanism } from './parse-spf-record.js';
import { stripTrailingDot } from './parse-spf-record.js';
import { isInNetwork, MAX_NAMES_PER_TERM } from './spf-lookups.js';
import type { SpfClient, SpfLookups } from './spf-lookups.js';

export type TermOutcome =
  | { kind: 'match'; detail: string | null }
  | { kind: 'no-match' }
  | { kind: 'error'; result: 'permerror' | 'temperror'; detail: string };

export type TermError = Extract<TermOutcome, { kind: 'error' }>;

/** Where a term is matched: the domain whose record holds it. */
export interface TermScope {
  lookups: SpfLookups;
  domain: string;
  /** Expands a domain-spec into a name to query; null when it is not one. */
  expand: (spec: MacroToken[]) => Promise<string | null>;
}

export const NO_MATCH: TermOutcome = { kind: 'no-match' };

export function matchMechanism(
  mechanism: Exclude<Mechanism, { kind: 'include' }>,
  scope: TermScope,
): Promise<TermOutcome> {
  switch (mechanism.kind) {
    case 'all':
      return Promise.resolve({ kind: 'match', detail: null });
    case 'ip':
      return Promise.resolve(matchNetwork(scope.lookups.client, mechanism));
    case 'a':
      return matchAddressRecords(mechanism.target, mechanism.cidr, scope);
    case 'mx':
      return matchMailServers(mechanism.target, mechanism.cidr, scope);
    case 'ptr':
      return matchReverseNames(mechanism.target, scope);
    case 'exists':
      return matchExists(mechanism.target, scope);
  }
}

/** Counts a DNS-querying term: null while within the limit of RFC 7208 4.6.4. */
export function spendTerm(lookups: SpfLookups): TermError | null {
  const overLimit = lookups.spendTerm();
  return overLimit === null ? null : permanentError(overLimit);
}

export function permanentError(detail: string): TermError {
  return { kind: 'error', result: 'permerror', detail };
}

/** RFC 7208 5.6: an IPv4 client never matches ip6, nor an IPv6 client ip4. */
function matchNetwork(
  client: SpfClient,
  mechanism: Extract<Mechanism, { kind: 'ip' }>,
): TermOutcome {
  const { network, prefix } = mechanism;
  if (network.kind() !== client.address.kind()) return NO_MATCH;
  return client.address.match(network, prefix) ? { kind: 'match', detail: null } : NO_MATCH;
}

/** RFC 7208 5.3: A records for an IPv4 client, AAAA for an IPv6 one. */
async function matchAddressRecords(
  spec: MacroToken[] | null,
  cidr: DualCidr,
  scope: TermScope,
): Promise<TermOutcome> {
  const { lookups } = scope;
  const overLimit = spendTerm(lookups);
  if (overLimit) return overLimit;

  const host = spec === null ? scope.domain : await scope.expand(spec);
  if (host === null) return NO_MATCH;

  const answer = await lookups.askAddresses(host);
  if (answer.kind === 'void') return countVoidLookup(lookups);
  if (answer.kind === 'failed') return temporaryError(answer.detail);

  const isMatch = answer.records.some((address) => isInNetwork(lookups.client, address, cidr));
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
  scope: TermScope,
): Promise<TermOutcome> {
  const { lookups } = scope;
  const overLimit = spendTerm(lookups);
  if (overLimit) return overLimit;

  const domain = spec === null ? scope.domain : await scope.expand(spec);
  if (domain === null) return NO_MATCH;

  const answer = await lookups.askMx(domain);
  if (answer.kind === 'void') return countVoidLookup(lookups);
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
    const addresses = await lookups.askAddresses(host);
    if (addresses.kind === 'failed') return temporaryError(addresses.detail);
    if (addresses.kind === 'void') continue;

    const isMatch = addresses.records.some((address) => isInNetwork(lookups.client, address, cidr));
    if (isMatch) return { kind: 'match', detail: `through MX host ${host}` };
  }
  return NO_MATCH;
}

/**
 * RFC 7208 5.5, deprecated but still published: a reverse name of the client
 * that resolves back to it and lies in the target domain.
 */
async function matchReverseNames(
  spec: MacroToken[] | null,
  scope: TermScope,
): Promise<TermOutcome> {
  const overLimit = spendTerm(scope.lookups);
  if (overLimit) return overLimit;

  const target = spec === null ? scope.domain : await scope.expand(spec);
  if (target === null) return NO_MATCH;

  const name = await scope.lookups.findValidatedNameWithin(target);
  return name === undefined ? NO_MATCH : { kind: 'match', detail: `through reverse name ${name}` };
}

/** RFC 7208 5.7: an A query, whatever the client's address family. */
async function matchExists(spec: MacroToken[], scope: TermScope): Promise<TermOutcome> {
  const { lookups } = scope;
  const overLimit = spendTerm(lookups);
  if (overLimit) return overLimit;

  const host = await scope.expand(spec);
  if (host === null) return NO_MATCH;

  const answer = await lookups.askA(host);
  if (answer.kind === 'void') return countVoidLookup(lookups);
  if (answer.kind === 'failed') return temporaryError(answer.detail);
  return { kind: 'match', detail: `because ${host} exists` };
}

function countVoidLookup(lookups: SpfLookups): TermOutcome {
  const overLimit = lookups.countVoid();
  return overLimit === null ? NO_MATCH : permanentError(overLimit);
}

function temporaryError(detail: string): TermError {
  return { kind: 'error', result: 'temperror', detail };
}
