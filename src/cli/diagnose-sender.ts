/**
 * The checks behind `mailverify doctor`: is the sender identity (HELO name,
 * MAIL FROM, egress IP) one that mail servers will answer honestly? A bad
 * identity gets wrong answers and gets the egress IP blocklisted.
 */
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import ipaddr from 'ipaddr.js';

import { isFreeProvider } from '../verify/address-flags.js';
import { evaluateSpf } from '../verify/evaluate-spf.js';
import { classifyAddress } from '../verify/mail-server-guard.js';
import { resolveMailServers } from '../verify/resolve-mail-servers.js';
import { SmtpReplyReader } from '../verify/smtp-reply-reader.js';
import type { IdentityResolver, SocketOpener, SocketTarget } from '../verify/types.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckReport {
  name: string;
  status: CheckStatus;
  detail: string;
}

export interface DiagnoseRequest {
  heloName: string;
  mailFrom: string;
  smtpPort: number;
  /** A mail server to reach: a host name or IP, optionally with :port. */
  host?: string;
  /** A domain whose first MX to reach, when no host is given. */
  domain?: string;
  /** The public egress IP, when this machine sits behind NAT or a proxy. */
  egressIp?: string;
  timeoutMs: number;
  isProxied: boolean;
}

export interface DiagnoseDeps {
  resolver: IdentityResolver;
  opener: SocketOpener;
}

/** Domains nobody running mailverify controls; never a MAIL FROM or HELO. */
const FOREIGN_DOMAINS = /(^|\.)(example\.(com|org|net)|example|test|invalid|localhost)$/i;

/** Node's codes for "no such name" and "no such record": the PTR is missing. */
const ABSENT_CODES: ReadonlySet<string> = new Set(['ENOTFOUND', 'ENODATA']);

export async function diagnoseSender(
  request: DiagnoseRequest,
  deps: DiagnoseDeps,
): Promise<CheckReport[]> {
  const reports = [checkHeloName(request.heloName), checkMailFrom(request.mailFrom)];

  const reach = await checkOutboundSmtp(request, deps);
  reports.push(reach.report);

  const egressIp = request.egressIp ?? reach.localIp;
  reports.push(describeEgress(egressIp, request));
  const isUsable = egressIp !== null && classifyAddress(egressIp) === 'public';
  const ip = isUsable ? egressIp : null;

  reports.push(await checkReverseDns(ip, request.heloName, deps.resolver));
  reports.push(await checkSpf(ip, request.mailFrom, request.heloName, deps.resolver));
  return reports;
}

function checkHeloName(heloName: string): CheckReport {
  const name = 'helo name';
  if (!heloName.includes('.')) {
    return { name, status: 'fail', detail: `"${heloName}" is not a fully qualified name` };
  }
  if (FOREIGN_DOMAINS.test(heloName)) {
    return { name, status: 'fail', detail: `"${heloName}" is a reserved name` };
  }
  return { name, status: 'ok', detail: heloName };
}

function checkMailFrom(mailFrom: string): CheckReport {
  const name = 'mail from';
  const domain = mailFrom.slice(mailFrom.lastIndexOf('@') + 1).toLowerCase();

  if (FOREIGN_DOMAINS.test(domain)) {
    return { name, status: 'fail', detail: `${domain} is a reserved domain nobody controls` };
  }
  if (isFreeProvider(domain)) {
    const detail = `${domain} belongs to a mail provider; its SPF will not list this host`;
    return { name, status: 'fail', detail };
  }
  return { name, status: 'ok', detail: mailFrom };
}

async function checkOutboundSmtp(
  request: DiagnoseRequest,
  deps: DiagnoseDeps,
): Promise<{ report: CheckReport; localIp: string | null }> {
  const name = 'outbound smtp';
  const target = await findTarget(request, deps.resolver);
  if (typeof target === 'string') {
    return { report: { name, status: 'skip', detail: target }, localIp: null };
  }

  const where = `${target.host} [${target.ip}]:${target.port}`;
  let socket: Duplex | null = null;
  try {
    socket = await deps.opener(target, request.timeoutMs);
    const localIp = request.isProxied ? null : (socket as { localAddress?: string }).localAddress;
    const banner = await readBanner(socket, request.timeoutMs);

    const status = banner.startsWith('2') ? 'ok' : 'warn';
    return {
      report: { name, status, detail: `${where} said "${banner}"` },
      localIp: localIp ?? null,
    };
  } catch (error) {
    const reason = (error as Error).message;
    const detail = `cannot reach ${where}: ${reason} (is outbound port ${target.port} blocked?)`;
    return { report: { name, status: 'fail', detail }, localIp: null };
  } finally {
    // A server that never greets must not keep the connection, or the process, alive.
    socket?.on('error', ignoreError);
    socket?.destroy();
  }
}

async function findTarget(
  request: DiagnoseRequest,
  resolver: IdentityResolver,
): Promise<SocketTarget | string> {
  if (request.host) {
    const [host, portText] = splitHostPort(request.host);
    const port = portText ? Number(portText) : request.smtpPort;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      return `${request.host}: ${portText ?? port} is not a port`;
    }
    if (isIP(host)) return { host, ip: host, port };
    const addresses = await resolver.resolve4(host).catch(() => [] as string[]);
    const ip = addresses[0];
    return ip ? { host, ip, port } : `${host} has no IPv4 address`;
  }
  if (!request.domain) return 'give --host or --domain to test a connection';

  const lookup = await resolveMailServers(request.domain, resolver);
  if (lookup.status !== 'found') return `${request.domain}: no mail server (${lookup.status})`;
  const server = lookup.servers[0];
  const ip = server?.addresses[0];
  return server && ip ? { host: server.host, ip, port: request.smtpPort } : 'no address';
}

function splitHostPort(value: string): [string, string | undefined] {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
  if (bracketed) return [bracketed[1]!, bracketed[2]];
  const parts = value.split(':');
  if (parts.length === 2) return [parts[0]!, parts[1]];
  return [value, undefined];
}

/** The first reply, as "code text of its first line"; rejects on silence or trouble. */
function readBanner(socket: Duplex, timeoutMs: number): Promise<string> {
  const reader = new SmtpReplyReader();

  return new Promise((resolve, reject) => {
    const finish = (error: Error | null, text = ''): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (error) reject(error);
      else resolve(text);
    };
    const onData = (chunk: Buffer): void => {
      const outcome = reader.push(chunk);
      if (outcome.error) return finish(new Error(outcome.error));
      const reply = outcome.replies[0]?.reply;
      if (reply) finish(null, `${reply.code} ${reply.text.split('\n')[0] ?? ''}`.trim());
    };
    const onError = (error: Error): void => finish(error);
    const onClose = (): void => finish(new Error('closed before the banner'));
    const timer = setTimeout(() => finish(new Error('no banner in time')), timeoutMs);

    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}

function describeEgress(ip: string | null, request: DiagnoseRequest): CheckReport {
  const name = 'egress ip';
  if (!ip) {
    const why = request.isProxied ? 'connections go through a proxy' : 'no connection was made';
    return { name, status: 'warn', detail: `unknown (${why}); pass --egress-ip` };
  }
  const range = classifyAddress(ip);
  if (range === 'invalid') {
    return { name, status: 'fail', detail: `${ip} is not an IP address` };
  }
  if (range !== 'public') {
    const detail = `${ip} is ${range} (behind NAT?): pass the public address with --egress-ip`;
    return { name, status: 'warn', detail };
  }
  return { name, status: 'ok', detail: ip };
}

/**
 * Forward-confirmed reverse DNS: the egress IP names the HELO host, and the
 * HELO host resolves back to the IP. Gmail refuses mail when either half is
 * missing: "550-5.7.25 The IP address sending this message does not have a
 * PTR record setup, or the corresponding forward DNS entry does not point to
 * the sending IP" (5.7.25 is RFC 7372's "reverse DNS validation failed").
 */
async function checkReverseDns(
  ip: string | null,
  heloName: string,
  resolver: IdentityResolver,
): Promise<CheckReport> {
  const name = 'reverse dns';
  if (!ip) return { name, status: 'skip', detail: 'needs a public egress IP' };

  let names: string[];
  try {
    names = (await resolver.reverse(ip)).map(normalizeHostName);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    // SERVFAIL or a timeout says nothing about the PTR record (DESIGN.md, step 3).
    if (!ABSENT_CODES.has(code)) {
      return { name, status: 'warn', detail: `could not look up the PTR of ${ip} (${code})` };
    }
    return { name, status: 'fail', detail: `${ip} has no PTR record (${code})` };
  }

  const helo = normalizeHostName(heloName);
  if (!names.includes(helo)) {
    const detail = `${ip} -> ${names.join(', ') || 'nothing'}; HELO name is ${helo}`;
    return { name, status: 'fail', detail };
  }
  const forward = await resolver.resolve4(helo).catch(() => [] as string[]);
  const forward6 = await resolver.resolve6(helo).catch(() => [] as string[]);
  if (![...forward, ...forward6].some((address) => isSameAddress(address, ip))) {
    return { name, status: 'fail', detail: `${helo} does not resolve back to ${ip}` };
  }
  return { name, status: 'ok', detail: `${ip} <-> ${helo}` };
}

async function checkSpf(
  ip: string | null,
  mailFrom: string,
  heloName: string,
  resolver: IdentityResolver,
): Promise<CheckReport> {
  const name = 'spf';
  if (!ip) return { name, status: 'skip', detail: 'needs a public egress IP' };

  const domain = mailFrom.slice(mailFrom.lastIndexOf('@') + 1);
  const spf = await evaluateSpf(ip, domain, resolver, { sender: mailFrom, heloName });
  const status = spf.result === 'pass' ? 'ok' : spf.result === 'temperror' ? 'warn' : 'fail';
  const matched = spf.mechanism ? ` by ${spf.mechanism}` : '';
  return { name, status, detail: `${domain} says ${spf.result} for ${ip}${matched}` };
}

function normalizeHostName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** "2001:DB8::1" and "2001:db8:0:0:0:0:0:1" are one address. */
function isSameAddress(left: string, right: string): boolean {
  if (!ipaddr.isValid(left) || !ipaddr.isValid(right)) return left === right;
  return ipaddr.parse(left).toNormalizedString() === ipaddr.parse(right).toNormalizedString();
}

function ignoreError(): void {}
