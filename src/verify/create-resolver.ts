/**
 * The production Resolver: a private `node:dns/promises` Resolver per call,
 * so a test or a tenant that points at other DNS servers never changes the
 * process-wide DNS settings.
 */
import { Resolver as NodeResolver } from 'node:dns/promises';
import net from 'node:net';
import type { IdentityResolver } from './types.js';

export interface ResolverOptions {
  /** `HOST[:PORT]` or `[IPv6]:PORT`, IP literals only; none means the system's. */
  servers?: string[];
  /**
   * How long the first try waits for an answer. c-ares lengthens the wait on
   * each retry and adapts it to the server's measured latency, so a silent
   * server costs a few times this: with 300 ms, Node 20 (c-ares 1.34) gave
   * up after 0.3 to 0.6 s with one try, 1.2 s with two, 2.1 s with three.
   */
  timeoutMs?: number;
  /** How many times a question is sent to each server before giving up. */
  tries?: number;
}

/** With the defaults a silent DNS server costs about four seconds. */
export const DEFAULT_DNS_TIMEOUT_MS = 1_000;
export const DEFAULT_DNS_TRIES = 2;

const MAX_PORT = 65_535;

interface HostAndPort {
  host: string;
  port: number | null;
}

/**
 * Also answers TXT and PTR questions (IdentityResolver) for the sender
 * checks of `mailverify doctor`; the core needs only a Resolver.
 */
export function createResolver(options: ResolverOptions = {}): IdentityResolver {
  const timeoutMs = options.timeoutMs ?? DEFAULT_DNS_TIMEOUT_MS;
  const tries = options.tries ?? DEFAULT_DNS_TRIES;
  assertPositiveInteger('timeoutMs', timeoutMs);
  assertPositiveInteger('tries', tries);
  const servers = (options.servers ?? []).map(parseDnsServer);

  const resolver = new NodeResolver({ timeout: timeoutMs, tries });
  if (servers.length > 0) resolver.setServers(servers);

  return {
    resolveMx: (domain) => resolver.resolveMx(domain),
    resolve4: (host) => resolver.resolve4(host),
    resolve6: (host) => resolver.resolve6(host),
    resolveTxt: (name) => resolver.resolveTxt(name),
    reverse: (ip) => resolver.reverse(ip),
  };
}

/**
 * Normalizes one DNS server entry to the form `setServers` takes:
 * "192.0.2.53", "192.0.2.53:5353", "2001:db8::53" or "[2001:db8::53]:5353".
 * A host name is refused: finding the resolver would need a resolver.
 */
export function parseDnsServer(value: string): string {
  const parts = splitHostAndPort(value.trim(), value);
  const host = parts.host.toLowerCase();

  const family = net.isIP(host);
  if (family === 0) {
    throw new Error(`DNS server must be an IPv4 or IPv6 address, got "${value}"`);
  }

  if (parts.port === null) return host;
  return family === 6 ? `[${host}]:${parts.port}` : `${host}:${parts.port}`;
}

function splitHostAndPort(entry: string, original: string): HostAndPort {
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(entry);
  if (bracketed) {
    const [, host = '', port] = bracketed;
    return { host, port: port === undefined ? null : parsePort(port, original) };
  }

  // Without brackets, more than one colon can only be a bare IPv6 address.
  const colons = entry.split(':').length - 1;
  if (colons !== 1) return { host: entry, port: null };

  const [host = '', port = ''] = entry.split(':');
  return { host, port: parsePort(port, original) };
}

function parsePort(text: string, original: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 1 && port <= MAX_PORT)) {
    throw new Error(`DNS server port must be 1 to ${MAX_PORT}, got "${original}"`);
  }
  return port;
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name} must be a positive integer, got ${value}`);
  }
}
