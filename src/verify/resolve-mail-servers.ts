/**
 * Where mail for a domain goes: its MX hosts in the order a sending server
 * would try them, each with its addresses (RFC 5321 5.1). Every DNS answer
 * is data: "no such domain" and "takes no mail" are facts about the domain,
 * while a SERVFAIL or a timeout is a fact about DNS and says nothing of it.
 */
import net from 'node:net';
import type { MailServer, Resolver } from './types.js';

export interface ResolvedMailServer {
  host: string;
  preference: number;
  /** IPv4 addresses first, then IPv6. */
  addresses: string[];
}

export type MailServerLookup =
  | {
      status: 'found';
      servers: ResolvedMailServer[];
      /** No MX records: the domain's own A/AAAA records receive its mail. */
      implicit: boolean;
      /** MX hosts that were looked up but cannot be used: no address or a DNS fault. */
      skipped: MailServer[];
    }
  /** RFC 7505: "MX 0 ." declares that the domain accepts no mail. */
  | { status: 'null_mx' }
  /** NXDOMAIN. */
  | { status: 'domain_not_found' }
  /** No MX and no A/AAAA, or no MX host has an address. */
  | { status: 'no_mail_server'; detail: string }
  /** SERVFAIL, timeout, refused: DNS could not answer. */
  | { status: 'dns_error'; code: string; detail: string };

export interface ResolveMailServersOptions {
  /** At most this many MX hosts are looked up (in parallel); the rest are dropped. */
  maxMailServers?: number;
  /** Orders MX hosts of equal preference; `() => 0` keeps the order DNS gave. */
  random?: () => number;
}

export const DEFAULT_MAX_MAIL_SERVERS = 10;

/** Node's codes for "this name or this record does not exist". */
const ABSENT_CODES: ReadonlySet<string> = new Set(['ENOTFOUND', 'ENODATA', 'EBADNAME']);

type DnsAnswer<T> =
  | { kind: 'records'; records: T[] }
  | { kind: 'absent'; code: string }
  | { kind: 'failed'; code: string; detail: string };

type HostOutcome =
  | { kind: 'resolved'; server: ResolvedMailServer }
  | { kind: 'no_address'; server: MailServer }
  | { kind: 'failed'; server: MailServer; code: string; detail: string };

export async function resolveMailServers(
  domain: string,
  resolver: Resolver,
  options: ResolveMailServersOptions = {},
): Promise<MailServerLookup> {
  const maxMailServers = options.maxMailServers ?? DEFAULT_MAX_MAIL_SERVERS;
  if (!Number.isInteger(maxMailServers) || maxMailServers < 1) {
    throw new Error(`maxMailServers must be a positive integer, got ${maxMailServers}`);
  }
  const name = normalizeHostName(domain);

  const answer = await askDns(() => resolver.resolveMx(name));
  if (answer.kind === 'failed') {
    return { status: 'dns_error', code: answer.code, detail: answer.detail };
  }
  if (answer.kind === 'absent' && answer.code !== 'ENODATA') {
    return { status: 'domain_not_found' };
  }
  if (answer.kind === 'absent' || answer.records.length === 0) {
    return resolveImplicitMailServer(name, resolver);
  }

  // RFC 7505 3: a null MX beside real ones is a misconfiguration; the real
  // ones are the only usable answer, so the null one is ignored.
  const servers = answer.records.map(toMailServer).filter(({ host }) => host !== '');
  if (servers.length === 0) return { status: 'null_mx' };

  const random = options.random ?? Math.random;
  const ordered = orderByPreference(removeDuplicates(servers), random);
  const outcomes = await Promise.all(
    ordered.slice(0, maxMailServers).map((server) => resolveHost(server, resolver)),
  );

  return summarizeOutcomes(outcomes);
}

/** RFC 5321 5.1: no MX records, but an address: the domain is its own mail server. */
async function resolveImplicitMailServer(
  domain: string,
  resolver: Resolver,
): Promise<MailServerLookup> {
  const outcome = await resolveHost({ host: domain, preference: 0 }, resolver);

  switch (outcome.kind) {
    case 'resolved': {
      const servers = [outcome.server];
      return { status: 'found', servers, implicit: true, skipped: [] };
    }
    case 'failed':
      return { status: 'dns_error', code: outcome.code, detail: outcome.detail };
    case 'no_address': {
      const detail = `${domain} has no MX, A or AAAA records`;
      return { status: 'no_mail_server', detail };
    }
  }
}

async function resolveHost(server: MailServer, resolver: Resolver): Promise<HostOutcome> {
  // Seen in the wild: "MX 10 192.0.2.25". Invalid (RFC 5321 5.1 wants a
  // name), but the intent is plain and the guard still judges the address.
  if (net.isIP(server.host) !== 0) {
    return { kind: 'resolved', server: { ...server, addresses: [server.host] } };
  }

  const answers = await Promise.all([
    askDns(() => resolver.resolve4(server.host)),
    askDns(() => resolver.resolve6(server.host)),
  ]);
  const addresses = [...new Set(answers.flatMap(listRecords))];
  if (addresses.length > 0) {
    return { kind: 'resolved', server: { ...server, addresses } };
  }

  const failure = answers.find((answer) => answer.kind === 'failed');
  if (failure) {
    return { kind: 'failed', server, code: failure.code, detail: failure.detail };
  }

  return { kind: 'no_address', server };
}

function summarizeOutcomes(outcomes: HostOutcome[]): MailServerLookup {
  const servers: ResolvedMailServer[] = [];
  const skipped: MailServer[] = [];
  for (const outcome of outcomes) {
    const { host, preference } = outcome.server;
    if (outcome.kind === 'resolved') servers.push(outcome.server);
    else skipped.push({ host, preference });
  }

  if (servers.length > 0) return { status: 'found', servers, implicit: false, skipped };

  // A DNS fault for one host means its address is unknown, not absent.
  const failure = outcomes.find((outcome) => outcome.kind === 'failed');
  if (failure) {
    const detail = `${failure.server.host}: ${failure.detail}`;
    return { status: 'dns_error', code: failure.code, detail };
  }

  const hosts = skipped.map(({ host }) => host).join(', ');
  return { status: 'no_mail_server', detail: `no MX host has an address: ${hosts}` };
}

async function askDns<T>(query: () => Promise<T[]>): Promise<DnsAnswer<T>> {
  try {
    return { kind: 'records', records: await query() };
  } catch (error) {
    const code = readErrorCode(error);
    if (ABSENT_CODES.has(code)) return { kind: 'absent', code };

    const detail = error instanceof Error ? error.message : code;
    return { kind: 'failed', code, detail };
  }
}

function listRecords<T>(answer: DnsAnswer<T>): T[] {
  return answer.kind === 'records' ? answer.records : [];
}

function readErrorCode(error: unknown): string {
  const hasCode = typeof error === 'object' && error !== null && 'code' in error;
  return hasCode && typeof error.code === 'string' ? error.code : 'EUNKNOWN';
}

/** Node reports the null MX target "." as the empty string. */
function toMailServer(record: { exchange: string; priority: number }): MailServer {
  return { host: normalizeHostName(record.exchange), preference: record.priority };
}

/** The same host listed twice keeps its lowest preference. */
function removeDuplicates(servers: MailServer[]): MailServer[] {
  const byHost = new Map<string, MailServer>();
  for (const server of servers) {
    const known = byHost.get(server.host);
    if (!known || server.preference < known.preference) byHost.set(server.host, server);
  }
  return [...byHost.values()];
}

/**
 * RFC 5321 5.1: lowest preference first, and hosts of equal preference in a
 * random order so that senders spread their load across them.
 */
function orderByPreference(servers: MailServer[], random: () => number): MailServer[] {
  const groups = new Map<number, MailServer[]>();
  for (const server of servers) {
    const group = groups.get(server.preference) ?? [];
    group.push(server);
    groups.set(server.preference, group);
  }

  const preferences = [...groups.keys()].sort((a, b) => a - b);
  const groupsInOrder = preferences.map((preference) => groups.get(preference) ?? []);
  return groupsInOrder.flatMap((group) => shuffle(group, random));
}

/** Sorting by a random key; the sort is stable, so equal keys keep their order. */
function shuffle<T>(items: T[], random: () => number): T[] {
  return items
    .map((item) => ({ item, key: random() }))
    .sort((a, b) => a.key - b.key)
    .map(({ item }) => item);
}

function normalizeHostName(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}
