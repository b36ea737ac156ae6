/**
 * The DNS side of one SPF evaluation: every question goes through here, so
 * the limits of RFC 7208 4.6.4 (10 terms that query DNS, 2 answers without
 * records) and the time budget hold for the whole check, include and
 * redirect chains included. Answers are data: records, none, or a failure.
 */
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { stripTrailingDot } from './parse-spf-record.js';
import type { DualCidr } from './parse-spf-record.js';
import type { Clock, IdentityResolver } from './types.js';

/** The address whose authorization is checked. */
export interface SpfClient {
  address: ipaddr.IPv4 | ipaddr.IPv6;
  /** Dotted quad or RFC 5952 text, as %{c} shows it. */
  text: string;
}

export type DnsAnswer<T> =
  { kind: 'records'; records: T[] } | { kind: 'void' } | { kind: 'failed'; detail: string };

/** RFC 7208 4.6.4: MX hosts, or PTR names, looked up for one term. */
export const MAX_NAMES_PER_TERM = 10;

/** RFC 7208 4.6.4: include, a, mx, ptr, exists and redirect each count one. */
const MAX_DNS_TERMS = 10;
/** RFC 7208 4.6.4: lookups answered with NXDOMAIN or no records. */
const MAX_VOID_LOOKUPS = 2;

/** Node's codes for "this name or this record does not exist". */
const ABSENT_CODES: ReadonlySet<string> = new Set(['ENOTFOUND', 'ENODATA', 'EBADNAME']);

const EXACT_ADDRESS: DualCidr = { ipv4: 32, ipv6: 128 };

export class SpfLookups {
  readonly client: SpfClient;
  readonly timeoutMs: number;
  private readonly resolver: IdentityResolver;
  private readonly clock: Clock;
  private readonly deadline: number;
  private terms = 0;
  private voids = 0;
  /** Reverse names that resolve back to the client, asked once for ptr and %{p}. */
  private validatedNames: Promise<string[]> | null = null;

  constructor(resolver: IdentityResolver, client: SpfClient, clock: Clock, timeoutMs: number) {
    this.resolver = resolver;
    this.client = client;
    this.clock = clock;
    this.timeoutMs = timeoutMs;
    this.deadline = clock.now() + timeoutMs;
  }

  /** DNS-querying terms reached; 11 means the limit was hit. */
  get termCount(): number {
    return this.terms;
  }

  get hasExpired(): boolean {
    return this.clock.now() > this.deadline;
  }

  get expiryDetail(): string {
    return `the SPF evaluation took longer than ${this.timeoutMs} ms (RFC 7208 4.6.4)`;
  }

  /** Counts one DNS-querying term; past the limit, says why the record is a permerror. */
  spendTerm(): string | null {
    this.terms += 1;
    if (this.terms <= MAX_DNS_TERMS) return null;
    return `more than ${MAX_DNS_TERMS} terms query DNS (RFC 7208 4.6.4)`;
  }

  /** Counts an answer without records; past the limit, says why the record is a permerror. */
  countVoid(): string | null {
    this.voids += 1;
    if (this.voids <= MAX_VOID_LOOKUPS) return null;
    return `more than ${MAX_VOID_LOOKUPS} DNS lookups found no records (RFC 7208 4.6.4)`;
  }

  askTxt(name: string): Promise<DnsAnswer<string[]>> {
    return this.ask(`TXT ${name}`, () => this.resolver.resolveTxt(name));
  }

  askMx(domain: string): Promise<DnsAnswer<{ exchange: string; priority: number }>> {
    return this.ask(`MX ${domain}`, () => this.resolver.resolveMx(domain));
  }

  /** RFC 7208 5.7: exists asks for A records, whatever the client's address family. */
  askA(host: string): Promise<DnsAnswer<string>> {
    return this.ask(`A ${host}`, () => this.resolver.resolve4(host));
  }

  /** A records for an IPv4 client, AAAA for an IPv6 one (RFC 7208 5.3, 5.4). */
  askAddresses(host: string): Promise<DnsAnswer<string>> {
    return this.client.address.kind() === 'ipv4'
      ? this.askA(host)
      : this.ask(`AAAA ${host}`, () => this.resolver.resolve6(host));
  }

  /** RFC 7208 5.5: a validated reverse name of the client within `domain`, if any. */
  async findValidatedNameWithin(domain: string): Promise<string | undefined> {
    const suffix = domain.toLowerCase();
    const names = await this.findValidatedNames();
    return names.find((name) => isSameOrSubdomain(name, suffix));
  }

  /**
   * RFC 7208 7.3, %{p}: the domain itself, else a subdomain of it, else any
   * validated name; "unknown" if none. The names are asked for once per
   * evaluation, at most 11 queries; 4.6.4 counts terms, not macros.
   */
  async chooseValidatedName(domain: string): Promise<string> {
    const lowered = domain.toLowerCase();
    const names = await this.findValidatedNames();
    return (
      names.find((name) => name === lowered) ??
      names.find((name) => isSameOrSubdomain(name, lowered)) ??
      names[0] ??
      'unknown'
    );
  }

  /** RFC 7208 5: SERVFAIL or a timeout is temperror; NXDOMAIN is an empty answer. */
  private async ask<T>(question: string, query: () => Promise<T[]>): Promise<DnsAnswer<T>> {
    if (this.hasExpired) return { kind: 'failed', detail: this.expiryDetail };

    try {
      const records = await query();
      return records.length > 0 ? { kind: 'records', records } : { kind: 'void' };
    } catch (error) {
      const code = readErrorCode(error);
      if (ABSENT_CODES.has(code)) return { kind: 'void' };
      return { kind: 'failed', detail: `DNS lookup ${question} failed with ${code}` };
    }
  }

  private findValidatedNames(): Promise<string[]> {
    this.validatedNames ??= this.validateReverseNames();
    return this.validatedNames;
  }

  /**
   * RFC 7208 5.5: a reverse name counts only if it resolves back to the client;
   * names past the tenth are ignored, and a DNS error skips a name. The PTR
   * query is not a void lookup: the client's reverse zone is not the domain's.
   */
  private async validateReverseNames(): Promise<string[]> {
    const { client } = this;
    const reverse = await this.ask(`PTR ${client.text}`, () => this.resolver.reverse(client.text));
    if (reverse.kind !== 'records') return [];

    const names = reverse.records.slice(0, MAX_NAMES_PER_TERM).map(stripTrailingDot);
    const validated: string[] = [];
    for (const name of names.filter((candidate) => candidate !== '')) {
      const answer = await this.askAddresses(name);
      if (answer.kind !== 'records') continue;

      const isValidated = answer.records.some((address) =>
        isInNetwork(client, address, EXACT_ADDRESS),
      );
      if (isValidated) validated.push(name.toLowerCase());
    }
    return validated;
  }
}

/** RFC 7208 5: an IPv4-mapped IPv6 client is an IPv4 client. */
export function parseSpfClient(ip: string): SpfClient {
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

/** Whether `candidate`, an address from DNS, shares the client's network. */
export function isInNetwork(client: SpfClient, candidate: string, cidr: DualCidr): boolean {
  if (net.isIP(candidate) === 0) return false;

  const network = ipaddr.parse(candidate);
  if (network.kind() !== client.address.kind()) return false;
  const prefix = network.kind() === 'ipv4' ? cidr.ipv4 : cidr.ipv6;
  return client.address.match(network, prefix);
}

function isSameOrSubdomain(name: string, domain: string): boolean {
  return name === domain || name.endsWith(`.${domain}`);
}

function readErrorCode(error: unknown): string {
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : null;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}
