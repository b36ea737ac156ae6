/**
 * The way typical npm verifiers check an address, kept as the benchmark's
 * baseline: for every address an MX lookup and an A lookup, a new
 * connection, the banner, EHLO, MAIL FROM, RCPT TO and QUIT, each waiting
 * for its reply. No cache, no pipelining, no catch-all probe, no retries.
 *
 * It talks through the project's own SmtpSession, so that what the
 * benchmark measures is how sessions are used, not whose client is faster.
 */
import { classifyReply } from '../../src/verify/classify-reply.js';
import { SmtpSession } from '../../src/verify/smtp-session.js';
import type { Reason, Resolver, SocketOpener, Verdict } from '../../src/verify/types.js';

export interface NaiveSettings {
  heloName: string;
  mailFrom: string;
  smtpPort: number;
  /** Longest wait for the connection and for each reply. */
  stepTimeoutMs: number;
}

export interface NaiveDeps {
  resolver: Resolver;
  opener: SocketOpener;
}

export interface NaiveOutcome {
  email: string;
  verdict: Verdict;
  reason: Reason;
  connections: number;
  commands: number;
}

export async function verifyNaively(
  email: string,
  settings: NaiveSettings,
  deps: NaiveDeps,
): Promise<NaiveOutcome> {
  const unknown = (reason: Reason, connections = 0, commands = 0): NaiveOutcome => ({
    email,
    verdict: 'unknown',
    reason,
    connections,
    commands,
  });

  const domain = email.slice(email.lastIndexOf('@') + 1);
  const lookup = await lookUpFirstMailHost(domain, deps.resolver);
  if (lookup.kind === 'no_domain') {
    return { ...unknown('domain_not_found'), verdict: 'undeliverable' };
  }
  if (lookup.kind === 'failed') return unknown('dns_error');
  const host = lookup.host;
  const ip = await lookUpFirstAddress(host, deps.resolver);
  if (ip === null) return unknown('dns_error');

  const opened = await SmtpSession.open({
    opener: deps.opener,
    target: { host, ip, port: settings.smtpPort },
    heloName: settings.heloName,
    startTls: 'never',
    timeouts: {
      connectMs: settings.stepTimeoutMs,
      bannerMs: settings.stepTimeoutMs,
      commandMs: settings.stepTimeoutMs,
    },
  });
  if (!opened.ok) return unknown('connection_failed', 1);

  const session = opened.session;
  const mail = await session.mailFrom(settings.mailFrom);
  const rcpt = mail.ok && mail.reply.code < 300 ? await session.rcptTo(email) : null;
  await session.quit();

  const commands = session.commandsSent;
  if (rcpt === null || !rcpt.ok) return unknown('protocol_error', 1, commands);
  const { verdict, reason } = classifyReply('rcpt', rcpt.reply);
  return { email, verdict, reason, connections: 1, commands };
}

type MxLookup = { kind: 'found'; host: string } | { kind: 'no_domain' } | { kind: 'failed' };

/** The preferred MX host, as most verifiers pick it: no implicit MX. */
async function lookUpFirstMailHost(domain: string, resolver: Resolver): Promise<MxLookup> {
  try {
    const records = await resolver.resolveMx(domain);
    const sorted = [...records].sort((left, right) => left.priority - right.priority);
    const host = sorted[0]?.exchange;
    return host === undefined ? { kind: 'failed' } : { kind: 'found', host };
  } catch (error) {
    const isAbsent = (error as NodeJS.ErrnoException).code === 'ENOTFOUND';
    return isAbsent ? { kind: 'no_domain' } : { kind: 'failed' };
  }
}

async function lookUpFirstAddress(host: string, resolver: Resolver): Promise<string | null> {
  try {
    return (await resolver.resolve4(host))[0] ?? null;
  } catch {
    return null;
  }
}
