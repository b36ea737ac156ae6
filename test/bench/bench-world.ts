/**
 * The benchmark's loopback world: a handful of Postfix-like mail servers,
 * each on its own 127.0.3.x address and all on one port, serving many
 * domains; a latency proxy in front of each (127.0.4.x, same port) and a
 * delayed DNS relay, so that a verifier pays real round trips for what it
 * does. Every address, its domain and whether its mailbox exists follow
 * from a seed, so a million addresses need no table.
 *
 * Domains come in three kinds: plain (half the mailboxes exist, unknown
 * ones get Postfix's "550 5.1.1 ... User unknown"), catch-all (every
 * recipient accepted), and greylisting (Postgrey's "450 4.2.0" for the
 * first RCPT of each recipient, the real answer once it is asked again
 * after the greylisting delay).
 */
import type { Resolver, Reason, Verdict } from '../../src/verify/types.js';
import type { VerifierSettings } from '../../src/verify/verify-address.js';
import { createResolver } from '../../src/verify/create-resolver.js';
import { startDnsServer } from '../helpers/dns-server.js';
import type { DnsServer, Zone } from '../helpers/dns-server.js';
import { emptyCounters, startBenchMailServer } from './bench-mail-server.js';
import type { BenchMailServer, RcptDecision, ServerCounters } from './bench-mail-server.js';
import { startDelayNetwork } from './delay-network.js';
import type { DelayNetwork } from './delay-network.js';

export type DomainKind = 'plain' | 'catch_all' | 'greylisting';

export interface BenchDomain {
  name: string;
  kind: DomainKind;
  /** Index of the mail server that receives its mail. */
  server: number;
}

export interface BenchWorldOptions {
  domains: number;
  servers: number;
  /** Simulated round trip of every TCP chunk and DNS datagram; 0: no proxies. */
  rttMs: number;
  seed: number;
  /** Seconds before a greylisted recipient is accepted when asked again. */
  greylistSeconds: number;
}

/** What a careful verifier should find for an address of this world. */
export interface Truth {
  kind: DomainKind;
  exists: boolean;
  verdict: Verdict;
  reason: Reason;
}

/** The servers' counts summed, with the peaks taken over all servers. */
export interface ServerTotals extends ServerCounters {
  /** The most sessions open at all servers together. */
  peakOpenAtAllServers: number;
}

/** A running world: where it listens, its counts, and how to stop it. */
export interface WorldHandle {
  smtpPort: number;
  /** The (delayed) DNS server, "127.0.0.1:PORT". */
  dnsServer: string;
  totals(): Promise<ServerTotals>;
  /** Zeroes the counts and forgets greylisted recipients, between two runs. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export interface BenchWorld extends WorldHandle {
  options: BenchWorldOptions;
  resolver: Resolver;
  domains: readonly BenchDomain[];
  /** The address at this position of the world's endless list. */
  addressAt(index: number): string;
  truthOf(email: string): Truth;
  /** Verifier settings aimed at this world; greylisting retried once after 1 s. */
  settings(): VerifierSettings;
}

const MAX_SERVERS = 200;
const MAX_PORT_ATTEMPTS = 30;

/** Greylisting tolerance for timer granularity: a retry this much early still passes. */
const GREYLIST_SLACK_MS = 50;

/** Position in a cycle of 13 domains of each special kind. */
const CATCH_ALL_SLOT = 5;
const GREYLISTING_SLOT = 9;
const KIND_CYCLE = 13;

const COMPANY_WORDS = [
  'acme', 'globex', 'initech', 'umbrella', 'hooli', 'vandelay', 'stark', 'wayne',
  'wonka', 'tyrell', 'cyberdyne', 'soylent', 'aperture', 'monarch', 'oscorp',
  'prestige', 'dunder', 'sirius', 'nakatomi', 'gekko',
]; // prettier-ignore

const FIRST_NAMES = [
  'ann', 'bob', 'carla', 'dmitri', 'elena', 'farid', 'grace', 'hugo', 'ines', 'jonas',
  'kemal', 'lena', 'marco', 'nadia', 'oskar', 'priya', 'quentin', 'rosa', 'sven', 'tara',
]; // prettier-ignore

const LAST_NAMES = [
  'adams', 'berg', 'costa', 'dubois', 'eriksen', 'fischer', 'garcia', 'horvat', 'ivanova',
  'jensen', 'kowalski', 'larsen', 'moreau', 'novak', 'olsen', 'petrov', 'quinn', 'rossi',
]; // prettier-ignore

/**
 * A world running in this process. Its servers and delay lines then share
 * the verifier's CPU; the benchmark runs its world in a child process
 * instead (bench-world-process.ts).
 */
export async function startBenchWorld(options: BenchWorldOptions): Promise<BenchWorld> {
  checkWorldOptions(options);
  const { domains, byName, truthOf } = planWorld(options);
  const greylist = new Map<string, number>();

  const decideRcpt = (server: number, recipient: string): RcptDecision => {
    const domain = byName.get(recipient.slice(recipient.lastIndexOf('@') + 1));
    if (domain === undefined || domain.server !== server) {
      return `554 5.7.1 <${recipient}>: Relay access denied`;
    }
    if (domain.kind === 'greylisting' && isGreylisted(recipient, greylist, options)) {
      const help = `see http://postgrey.schweikert.ch/help/${domain.name}.html`;
      return `450 4.2.0 <${recipient}>: Recipient address rejected: Greylisted, ${help}`;
    }
    if (domain.kind === 'catch_all' || truthOf(recipient).exists) return null;
    return `550 5.1.1 <${recipient}>: Recipient address rejected: User unknown`;
  };

  const sessions = { open: 0, peak: 0 };
  const onSessions = (change: 1 | -1) => {
    sessions.open += change;
    sessions.peak = Math.max(sessions.peak, sessions.open);
  };

  const dns = await startDnsServer(buildZone(domains, dialIps(options)));
  const network = await startNetwork(options, decideRcpt, onSessions, dns).catch(
    async (error: unknown) => {
      await dns.close();
      throw error;
    },
  );

  return viewWorld(options, {
    smtpPort: network.port,
    dnsServer: network.delay?.dnsServer ?? `127.0.0.1:${dns.port}`,
    totals: async () => ({
      ...sumCounters(network.servers.map((server) => server.counters)),
      peakOpenAtAllServers: sessions.peak,
    }),
    reset: async () => {
      greylist.clear();
      for (const server of network.servers) server.resetCounters();
      sessions.peak = sessions.open;
    },
    close: async () => {
      await closeNetwork(network);
      await dns.close();
    },
  });
}

/** The world's domains and truths, which follow from its options. */
function planWorld(options: BenchWorldOptions) {
  const domains = listDomains(options.domains, options.servers);
  const byName = new Map(domains.map((domain) => [domain.name, domain]));
  const truthOf = (email: string) => judgeTruth(email, byName, domains, options.seed);
  return { domains, byName, truthOf };
}

export function checkWorldOptions(options: BenchWorldOptions): void {
  if (options.servers < 1 || options.servers > MAX_SERVERS || options.domains < 1) {
    throw new Error(`the world needs 1 to ${MAX_SERVERS} servers and at least one domain`);
  }
}

/**
 * The world as a verifier and the report see it. Its domains, addresses
 * and truths follow from the options alone, so a world running in another
 * process needs to send only its ports and counts.
 */
export function viewWorld(options: BenchWorldOptions, handle: WorldHandle): BenchWorld {
  const { domains, truthOf } = planWorld(options);
  return {
    ...handle,
    options,
    resolver: createResolver({ servers: [handle.dnsServer], timeoutMs: 2_000, tries: 2 }),
    domains,
    addressAt: (index) => addressAt(index, domains, options.seed),
    truthOf,
    settings: () => ({
      heloName: 'verifier.bench.test',
      mailFrom: 'probe@verifier.bench.test',
      smtpPort: handle.smtpPort,
      allowPrivateMx: true,
      greylistRetry: [options.greylistSeconds],
      timeout: 10,
      startTls: false,
      catchAllProbe: true,
    }),
  };
}

function isGreylisted(
  recipient: string,
  greylist: Map<string, number>,
  options: BenchWorldOptions,
): boolean {
  const now = Date.now();
  const firstSeen = greylist.get(recipient);
  if (firstSeen === undefined) {
    greylist.set(recipient, now);
    return true;
  }
  // Postgrey keeps deferring a retry that comes before the delay is over.
  return now - firstSeen < options.greylistSeconds * 1000 - GREYLIST_SLACK_MS;
}

function listDomains(count: number, servers: number): BenchDomain[] {
  return Array.from({ length: count }, (_, index) => {
    const word = COMPANY_WORDS[index % COMPANY_WORDS.length] ?? 'acme';
    const kind = kindOfSlot(index % KIND_CYCLE);
    const name = `${word}-${String(index).padStart(2, '0')}.test`;
    return { name, kind, server: index % servers };
  });
}

function kindOfSlot(slot: number): DomainKind {
  if (slot === CATCH_ALL_SLOT) return 'catch_all';
  return slot === GREYLISTING_SLOT ? 'greylisting' : 'plain';
}

function addressAt(index: number, domains: readonly BenchDomain[], seed: number): string {
  const pick = <T>(list: readonly T[], salt: string): T =>
    list[hashOf(seed, `${salt}${index}`) % list.length]!;

  const domain = pick(domains, 'domain');
  const first = pick(FIRST_NAMES, 'first');
  const last = pick(LAST_NAMES, 'last');
  return `${first}.${last}${index}@${domain.name}`;
}

function judgeTruth(
  email: string,
  byName: Map<string, BenchDomain>,
  domains: readonly BenchDomain[],
  seed: number,
): Truth {
  const normalized = email.toLowerCase();
  const domain = byName.get(normalized.slice(normalized.lastIndexOf('@') + 1));
  const kind = domain?.kind ?? 'plain';
  const exists = isListedMailbox(normalized, domains, seed);

  if (kind === 'catch_all') return { kind, exists, verdict: 'risky', reason: 'catch_all' };
  if (exists) return { kind, exists, verdict: 'deliverable', reason: 'accepted' };
  return { kind, exists, verdict: 'undeliverable', reason: 'mailbox_not_found' };
}

/**
 * Half the addresses of the world's list exist; nothing else does, so a
 * catch-all probe's random name is refused like any unknown recipient.
 */
function isListedMailbox(email: string, domains: readonly BenchDomain[], seed: number): boolean {
  const index = /^[a-z]+\.[a-z]+(\d{1,9})@/.exec(email)?.[1];
  if (index === undefined) return false;
  if (addressAt(Number(index), domains, seed) !== email) return false;
  return hashOf(seed, `mailbox:${email}`) % 2 === 0;
}

/** A repeatable random source (mulberry32) for the verifiers' probe names. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** FNV-1a over the text, then a murmur3 finaliser so low bits are well mixed. */
export function hashOf(seed: number, text: string): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let index = 0; index < text.length; index += 1) {
    hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193) >>> 0;
  }
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b) >>> 0;
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35) >>> 0;
  return (hash ^ (hash >>> 16)) >>> 0;
}

function buildZone(domains: readonly BenchDomain[], dialIps: readonly string[]): Zone {
  const zone: Zone = {};
  dialIps.forEach((ip, index) => {
    zone[mailHostName(index)] = { A: [ip] };
  });
  for (const domain of domains) {
    zone[domain.name] = { MX: [{ preference: 10, exchange: mailHostName(domain.server) }] };
  }
  return zone;
}

function mailHostName(server: number): string {
  return `mx${server + 1}.mailhost.test`;
}

interface Network {
  port: number;
  servers: BenchMailServer[];
  /** The proxies and the DNS relay; null when there is no delay. */
  delay: DelayNetwork | null;
}

const serverIp = (index: number) => `127.0.3.${10 + index}`;
const proxyIp = (index: number) => `127.0.4.${10 + index}`;

/** The addresses a verifier dials: the proxies, or the servers when there is no delay. */
function dialIps(options: BenchWorldOptions): string[] {
  return Array.from({ length: options.servers }, (_, index) =>
    options.rttMs > 0 ? proxyIp(index) : serverIp(index),
  );
}

/** Servers and proxies all listen on one port; a port taken anywhere means another try. */
async function startNetwork(
  options: BenchWorldOptions,
  decideRcpt: (server: number, recipient: string) => RcptDecision,
  onSessions: (change: 1 | -1) => void,
  dns: DnsServer,
): Promise<Network> {
  for (let attempt = 0; attempt < MAX_PORT_ATTEMPTS; attempt += 1) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    const network: Network = { port, servers: [], delay: null };
    try {
      for (let index = 0; index < options.servers; index += 1) {
        network.servers.push(
          await startBenchMailServer({
            ip: serverIp(index),
            port,
            name: mailHostName(index),
            decideRcpt: (recipient) => decideRcpt(index, recipient),
            onSessions,
          }),
        );
      }
      if (options.rttMs > 0) {
        const plan = {
          rttMs: options.rttMs,
          dnsUpstreamPort: dns.port,
          links: network.servers.map((_, index) => ({
            ip: proxyIp(index),
            port,
            upstream: { ip: serverIp(index), port },
          })),
        };
        network.delay = await startDelayNetwork(plan);
      }
      return network;
    } catch (error) {
      await closeNetwork(network);
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    }
  }
  throw new Error('no free common port for the benchmark world');
}

function sumCounters(all: readonly ServerCounters[]): ServerCounters {
  const total = emptyCounters();
  for (const counters of all) {
    total.connections += counters.connections;
    total.openSessions += counters.openSessions;
    total.peakOpenSessions = Math.max(total.peakOpenSessions, counters.peakOpenSessions);
    total.commands += counters.commands;
    total.rcpts += counters.rcpts;
    total.rejectedRcpts += counters.rejectedRcpts;
    total.peakRejectedInSession = Math.max(
      total.peakRejectedInSession,
      counters.peakRejectedInSession,
    );
    total.slowedSessions += counters.slowedSessions;
    total.droppedSessions += counters.droppedSessions;
    total.dataCommands += counters.dataCommands;
  }
  return total;
}

async function closeNetwork(network: Network): Promise<void> {
  await network.delay?.close();
  await Promise.all(network.servers.map((server) => server.close()));
}
