/**
 * The steps of a verification that do not talk SMTP: flags, the judgement
 * of a DNS answer, the guard, and the assembly of the result. The single
 * address path and the bulk engine share them, so both give one verdict
 * for one set of facts.
 */
import { isDisposableDomain, isFreeProvider, isRoleAccount } from './address-flags.js';
import { decideVerdict, scoreResult } from './decide-verdict.js';
import type { Finding } from './decide-verdict.js';
import { isAllowedMailServerAddress } from './mail-server-guard.js';
import type { ParsedAddress } from './parse-address.js';
import type { ProbeSettings } from './probe-mailbox.js';
import type { MailServerLookup, ResolvedMailServer } from './resolve-mail-servers.js';
import { suggestDomain } from './suggest-domain.js';
import type { Clock, Evidence, Flags, MailServer, Stage, VerificationResult } from './types.js';

/**
 * Longest waits for single SMTP steps, whatever the overall deadline. A
 * step may take at most a share of the deadline, so that a server that
 * never answers leaves time to try the next one.
 */
const CONNECT_TIMEOUT_MS = 10_000;
const REPLY_TIMEOUT_MS = 30_000;

export interface VerifierSettings {
  heloName: string;
  mailFrom: string;
  smtpPort: number;
  allowPrivateMx: boolean;
  /** Seconds before each retry of a deferred RCPT; empty disables retries. */
  greylistRetry: readonly number[];
  /** Deadline for one pass (DNS, then SMTP over the servers), in seconds. */
  timeout: number;
  startTls: boolean;
  catchAllProbe: boolean;
}

export interface Draft {
  parsed: ParsedAddress;
  flags: Flags;
  mx: MailServer[];
}

/** What DNS and the guard leave: servers to ask, or a verdict already. */
export type DomainJudgement =
  | { kind: 'servers'; servers: ResolvedMailServer[]; mx: MailServer[] }
  | { kind: 'decided'; finding: Finding; evidence: Evidence; mx: MailServer[] };

export function judgeDomain(lookup: MailServerLookup, allowPrivate: boolean): DomainJudgement {
  if (lookup.status !== 'found') {
    const [finding, evidence] = judgeLookup(lookup);
    return { kind: 'decided', finding, evidence, mx: [] };
  }

  const mx = lookup.servers.map(toMailServer);
  const servers = guardServers(lookup.servers, allowPrivate);
  if (servers.length === 0) {
    const evidence = stageEvidence('guard', refusedAddressesText(lookup.servers));
    const finding: Finding = { verdict: 'unknown', reason: 'private_mail_server' };
    return { kind: 'decided', finding, evidence, mx };
  }
  return { kind: 'servers', servers, mx };
}

export function flagAddress(parsed: ParsedAddress): Flags {
  return {
    role: isRoleAccount(parsed.localPart),
    free: isFreeProvider(parsed.domain),
    disposable: isDisposableDomain(parsed.domain),
    catchAll: null,
    smtputf8: parsed.needsSmtpUtf8,
  };
}

function judgeLookup(lookup: Exclude<MailServerLookup, { status: 'found' }>) {
  const outcomes: Record<typeof lookup.status, [Finding, string]> = {
    null_mx: [
      { verdict: 'undeliverable', reason: 'no_mail_server' },
      'null MX: the domain accepts no mail (RFC 7505)',
    ],
    domain_not_found: [
      { verdict: 'undeliverable', reason: 'domain_not_found' },
      'the domain does not exist (NXDOMAIN)',
    ],
    no_mail_server: [
      { verdict: 'undeliverable', reason: 'no_mail_server' },
      'detail' in lookup ? lookup.detail : 'no mail server',
    ],
    dns_error: [
      { verdict: 'unknown', reason: 'dns_error' },
      'detail' in lookup ? lookup.detail : 'DNS failure',
    ],
  };
  const [finding, text] = outcomes[lookup.status];
  return [finding, stageEvidence('dns', text)] as const;
}

function guardServers(
  servers: readonly ResolvedMailServer[],
  allowPrivate: boolean,
): ResolvedMailServer[] {
  return servers
    .map((server) => ({
      ...server,
      addresses: server.addresses.filter((ip) => isAllowedMailServerAddress(ip, { allowPrivate })),
    }))
    .filter((server) => server.addresses.length > 0);
}

function refusedAddressesText(servers: readonly ResolvedMailServer[]): string {
  const listed = servers.map((server) => `${server.host} (${server.addresses.join(', ')})`);
  return `mail servers only on non-public addresses: ${listed.join('; ')}`;
}

export function toProbeSettings(settings: VerifierSettings): ProbeSettings {
  const passTimeoutMs = Math.round(settings.timeout * 1000);
  return {
    heloName: settings.heloName,
    mailFrom: settings.mailFrom,
    startTls: settings.startTls,
    timeouts: {
      connectMs: Math.min(CONNECT_TIMEOUT_MS, passTimeoutMs / 3),
      bannerMs: Math.min(REPLY_TIMEOUT_MS, passTimeoutMs / 2),
      commandMs: Math.min(REPLY_TIMEOUT_MS, passTimeoutMs / 2),
      tlsMs: Math.min(CONNECT_TIMEOUT_MS, passTimeoutMs / 3),
    },
    smtpPort: settings.smtpPort,
    retryDelays: settings.greylistRetry,
    passTimeoutMs,
  };
}

function toMailServer(server: ResolvedMailServer): MailServer {
  return { host: server.host, preference: server.preference };
}

export function stageEvidence(stage: Stage, text: string): Evidence {
  return { stage, host: null, ip: null, code: null, enhancedCode: null, text, attempts: 1 };
}

export function buildResult(
  email: string,
  startedAt: number,
  clock: Clock,
  draft: Partial<Draft>,
  finding: Finding,
  evidence: Evidence | null,
): VerificationResult {
  const flags = draft.flags ?? {
    role: false,
    free: false,
    disposable: false,
    catchAll: null,
    smtputf8: false,
  };
  const decided = decideVerdict({ verdict: finding.verdict, reason: finding.reason }, flags);
  const parsed = draft.parsed;
  const suggested = parsed ? suggestDomain(parsed.domain) : null;

  return {
    email,
    normalized: parsed?.normalized ?? null,
    verdict: decided.verdict,
    reason: decided.reason,
    score: scoreResult(decided, flags),
    flags,
    suggestion: parsed && suggested ? `${parsed.localPart}@${suggested}` : null,
    mx: draft.mx ?? [],
    evidence,
    durationMs: Math.max(0, clock.now() - startedAt),
    checkedAt: new Date(clock.now()).toISOString(),
  };
}

/** DNS gets the pass deadline too: a resolver that never answers is a DNS fault. */
export async function withinDeadline(
  lookup: Promise<MailServerLookup>,
  deadlineMs: number,
): Promise<MailServerLookup> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<MailServerLookup>((resolve) => {
    timer = setTimeout(() => {
      const detail = `no DNS answer within ${deadlineMs} ms`;
      resolve({ status: 'dns_error', code: 'ETIMEOUT', detail });
    }, deadlineMs);
  });
  try {
    return await Promise.race([lookup, expired]);
  } finally {
    clearTimeout(timer);
  }
}
