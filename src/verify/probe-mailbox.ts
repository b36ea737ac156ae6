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
import {
  isPassedOver,
  isTlsFailure,
  isWorthRetrying,
  judgeConversation,
  noReachableServer,
  preferTrouble,
  timedOut,
} from './judge-conversation.js';
import type { MailboxProbe } from './judge-conversation.js';
import type { ResolvedMailServer } from './resolve-mail-servers.js';
import type { Clock, SocketOpener, SocketTarget } from './types.js';

export type { MailboxProbe } from './judge-conversation.js';

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
  /** Called for every command line sent, for counting. */
  onCommand?: () => void;
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

    const probe = judgeConversation(conversation, target);
    if (!isPassedOver(conversation)) {
      if (
        conversation.kind === 'answer' &&
        conversation.replyClass.retry === 'new_session' &&
        !deadline.aborted
      ) {
        // "452 4.5.3 Too many recipients" and the like: one fresh session.
        const again = await talk(target, recipient, needsSmtpUtf8, settings, deps, deadline);
        const retried = judgeConversation(again, target);
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
    onCommand: deps.onCommand,
  });
}

export function listTargets(servers: readonly ResolvedMailServer[], port: number): SocketTarget[] {
  return servers.flatMap((server) =>
    server.addresses.slice(0, ADDRESSES_PER_HOST).map((ip) => ({ host: server.host, ip, port })),
  );
}
