/**
 * Asks a domain's mail servers whether they take mail for one recipient.
 * Servers are tried in preference order; one that cannot be reached or
 * defers at connect is passed over for the next (RFC 5321 5.1), and the
 * first definite answer decides. A deferred RCPT (greylisting, RFC 6647) is
 * asked again later from the same egress with the same MAIL FROM.
 */
import type { Logger } from 'pino';

import { converse } from './converse.js';
import type { Conversation, ConversationSettings } from './converse.js';
import type { Finding } from './decide-verdict.js';
import type { ResolvedMailServer } from './resolve-mail-servers.js';
import type { Clock, Evidence, SocketOpener, SocketTarget } from './types.js';

/** Addresses tried per mail server host before moving to the next host. */
const ADDRESSES_PER_HOST = 2;

export interface ProbeSettings extends ConversationSettings {
  smtpPort: number;
  /** Seconds to wait before each retry of a deferred RCPT. */
  retryDelays: readonly number[];
  /** Deadline for one pass over the servers, in milliseconds. */
  passTimeoutMs: number;
  /** Deadline for the first pass, when less time is left (DNS took some). */
  firstPassTimeoutMs?: number;
}

export interface ProbeDeps {
  opener: SocketOpener;
  clock: Clock;
  logger: Logger;
}

export interface MailboxProbe extends Finding {
  evidence: Evidence;
  /** The server address that gave the answer, for follow-up probes. */
  answeredBy: SocketTarget | null;
  /** True when the server accepted the recipient (2xx at RCPT). */
  isAccepted: boolean;
}

export async function probeMailbox(
  recipient: string,
  needsSmtpUtf8: boolean,
  servers: readonly ResolvedMailServer[],
  settings: ProbeSettings,
  deps: ProbeDeps,
): Promise<MailboxProbe> {
  const targets = listTargets(servers, settings.smtpPort);
  const firstPass = {
    ...settings,
    passTimeoutMs: settings.firstPassTimeoutMs ?? settings.passTimeoutMs,
  };
  let probe = await passOverServers(targets, recipient, needsSmtpUtf8, firstPass, deps);

  for (const delay of settings.retryDelays) {
    if (!isWorthRetrying(probe)) break;

    deps.logger.info({ recipient, delaySeconds: delay, reason: probe.reason }, 'rcpt deferred');
    await deps.clock.sleep(delay * 1000);

    const sameServer = probe.answeredBy ? [probe.answeredBy] : targets;
    const attempts = probe.evidence.attempts + 1;
    probe = await passOverServers(sameServer, recipient, needsSmtpUtf8, settings, deps);
    probe.evidence.attempts = attempts;
  }

  return probe;
}

function isWorthRetrying(probe: MailboxProbe): boolean {
  const stage = probe.evidence.stage;
  const isDeferral = probe.evidence.code !== null && probe.evidence.code >= 400;
  return (
    probe.verdict === 'unknown' &&
    isDeferral &&
    probe.evidence.code! < 500 &&
    (stage === 'rcpt' || stage === 'mail')
  );
}

async function passOverServers(
  targets: readonly SocketTarget[],
  recipient: string,
  needsSmtpUtf8: boolean,
  settings: ProbeSettings,
  deps: ProbeDeps,
): Promise<MailboxProbe> {
  const deadline = AbortSignal.timeout(settings.passTimeoutMs);
  let lastTrouble: MailboxProbe | null = null;

  for (const target of targets) {
    if (deadline.aborted) return timedOut(target);

    let conversation = await talk(target, recipient, needsSmtpUtf8, settings, deps, deadline);

    if (isTlsFailure(conversation) && settings.startTls) {
      // A broken TLS stack on the server should not hide the mailbox: speak
      // plain SMTP as a sending MTA would after a failed handshake.
      const plain = { ...settings, startTls: false };
      conversation = await talk(target, recipient, needsSmtpUtf8, plain, deps, deadline);
    }

    const probe = toProbe(conversation, target);
    if (!isPassedOver(conversation)) {
      if (
        conversation.kind === 'answer' &&
        conversation.replyClass.retry === 'new_session' &&
        !deadline.aborted
      ) {
        // "452 4.5.3 Too many recipients" and the like: one fresh session.
        const again = await talk(target, recipient, needsSmtpUtf8, settings, deps, deadline);
        const retried = toProbe(again, target);
        retried.evidence.attempts = 2;
        return retried;
      }
      return probe;
    }
    lastTrouble = preferTrouble(lastTrouble, probe);
  }

  if (deadline.aborted && lastTrouble?.reason !== 'timeout') {
    return timedOut(targets[targets.length - 1] ?? null);
  }
  return lastTrouble ?? noReachableServer();
}

function talk(
  target: SocketTarget,
  recipient: string,
  needsSmtpUtf8: boolean,
  settings: ConversationSettings,
  deps: ProbeDeps,
  signal: AbortSignal,
): Promise<Conversation> {
  return converse({
    target,
    recipient,
    needsSmtpUtf8,
    settings,
    opener: deps.opener,
    signal,
    logger: deps.logger,
  });
}

/**
 * Connection trouble, and deferrals at connect (421 and other 4xx banners),
 * send us on to the next server; anything else the server says decides.
 */
function isPassedOver(conversation: Conversation): boolean {
  if (conversation.kind === 'failure') {
    const stage = conversation.failure.stage;
    return stage === 'connect' || stage === 'banner' || stage === 'ehlo' || stage === 'tls';
  }
  if (conversation.kind === 'answer') {
    const isAtGreeting = conversation.stage === 'banner' || conversation.stage === 'ehlo';
    return isAtGreeting && conversation.reply.code < 500;
  }
  return false;
}

function isTlsFailure(conversation: Conversation): boolean {
  return conversation.kind === 'failure' && conversation.failure.kind === 'tls_failed';
}

function toProbe(conversation: Conversation, target: SocketTarget): MailboxProbe {
  const base = { host: target.host, ip: target.ip, attempts: 1 };

  if (conversation.kind === 'smtputf8_unsupported') {
    return {
      verdict: 'undeliverable',
      reason: 'smtputf8_unsupported',
      isAccepted: false,
      answeredBy: target,
      evidence: {
        ...base,
        stage: 'ehlo',
        code: null,
        enhancedCode: null,
        text: 'server does not offer SMTPUTF8',
      },
    };
  }

  if (conversation.kind === 'failure') {
    const { failure } = conversation;
    return {
      verdict: 'unknown',
      reason: failureReason(failure.kind, failure.stage),
      isAccepted: false,
      answeredBy: null,
      evidence: {
        ...base,
        stage: failure.stage,
        code: null,
        enhancedCode: null,
        text: failure.message,
      },
    };
  }

  const { reply, replyClass, stage } = conversation;
  return {
    verdict: replyClass.verdict,
    reason: replyClass.reason,
    isAccepted: stage === 'rcpt' && reply.code >= 200 && reply.code < 300,
    answeredBy: target,
    evidence: {
      ...base,
      stage,
      code: reply.code,
      enhancedCode: reply.enhancedCode,
      text: reply.text,
    },
  };
}

function failureReason(kind: string, stage: string): MailboxProbe['reason'] {
  if (kind === 'timeout') return 'timeout';
  if (kind === 'protocol_error') return 'protocol_error';
  if (stage === 'connect') return 'connection_failed';
  return kind === 'closed' ? 'connection_failed' : 'protocol_error';
}

/** Of two passed-over servers, report the more telling trouble. */
function preferTrouble(previous: MailboxProbe | null, next: MailboxProbe): MailboxProbe {
  if (!previous) return next;
  const hasReply = (probe: MailboxProbe) => probe.evidence.code !== null;
  return hasReply(previous) && !hasReply(next) ? previous : next;
}

function timedOut(target: SocketTarget | null): MailboxProbe {
  return {
    verdict: 'unknown',
    reason: 'timeout',
    isAccepted: false,
    answeredBy: null,
    evidence: {
      stage: 'connect',
      host: target?.host ?? null,
      ip: target?.ip ?? null,
      code: null,
      enhancedCode: null,
      text: 'deadline for this address passed',
      attempts: 1,
    },
  };
}

function noReachableServer(): MailboxProbe {
  return {
    verdict: 'unknown',
    reason: 'connection_failed',
    isAccepted: false,
    answeredBy: null,
    evidence: {
      stage: 'connect',
      host: null,
      ip: null,
      code: null,
      enhancedCode: null,
      text: 'no mail server address to connect to',
      attempts: 1,
    },
  };
}

export function listTargets(servers: readonly ResolvedMailServer[], port: number): SocketTarget[] {
  return servers.flatMap((server) =>
    server.addresses.slice(0, ADDRESSES_PER_HOST).map((ip) => ({ host: server.host, ip, port })),
  );
}
