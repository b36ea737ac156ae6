/**
 * What one SMTP conversation means for a mailbox: the same mapping serves
 * the single-address path and the bulk engine, so both give one verdict for
 * one server behaviour.
 */
import type { Conversation } from './converse.js';
import type { Finding } from './decide-verdict.js';
import type { Evidence, SocketTarget } from './types.js';

export interface MailboxProbe extends Finding {
  evidence: Evidence;
  /** The server address that gave the answer, for follow-up probes. */
  answeredBy: SocketTarget | null;
  /** True when the server accepted the recipient (2xx at RCPT). */
  isAccepted: boolean;
}

/** A 4xx at MAIL or RCPT: greylisting or a passing fault, worth asking again. */
export function isWorthRetrying(probe: MailboxProbe): boolean {
  const stage = probe.evidence.stage;
  const isDeferral = probe.evidence.code !== null && probe.evidence.code >= 400;
  return (
    probe.verdict === 'unknown' &&
    isDeferral &&
    probe.evidence.code! < 500 &&
    (stage === 'rcpt' || stage === 'mail')
  );
}

/**
 * Connection trouble, and deferrals at connect (421 and other 4xx banners),
 * send us on to the next server; anything else the server says decides.
 */
export function isPassedOver(conversation: Conversation): boolean {
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

export function isTlsFailure(conversation: Conversation): boolean {
  return conversation.kind === 'failure' && conversation.failure.kind === 'tls_failed';
}

export function judgeConversation(conversation: Conversation, target: SocketTarget): MailboxProbe {
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
export function preferTrouble(previous: MailboxProbe | null, next: MailboxProbe): MailboxProbe {
  if (!previous) return next;
  const hasReply = (probe: MailboxProbe) => probe.evidence.code !== null;
  return hasReply(previous) && !hasReply(next) ? previous : next;
}

export function timedOut(target: SocketTarget | null): MailboxProbe {
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

export function noReachableServer(): MailboxProbe {
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
