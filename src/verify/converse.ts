/**
 * One SMTP conversation with one mail server address: banner, EHLO,
 * STARTTLS, MAIL FROM, RCPT TO for one recipient, then QUIT. Never DATA.
 * The answer is data: which stage ended it, the reply, and its class.
 */
import type { Logger } from 'pino';

import { classifyReply } from './classify-reply.js';
import type { ReplyClass } from './classify-reply.js';
import { SmtpSession } from './smtp-session.js';
import type { SessionFailure } from './smtp-session.js';
import type { SmtpReply, SocketOpener, SocketTarget, Stage } from './types.js';

export interface ConversationSettings {
  heloName: string;
  mailFrom: string;
  startTls: boolean;
  /** Upper bounds for each single step, in milliseconds. */
  timeouts: { connectMs: number; bannerMs: number; commandMs: number; tlsMs: number };
}

export type Conversation =
  /** The server answered; `replyClass` says what the answer means. */
  | { kind: 'answer'; stage: Stage; reply: SmtpReply; replyClass: ReplyClass }
  /** The address needs SMTPUTF8 (RFC 6531) and the server does not offer it. */
  | { kind: 'smtputf8_unsupported' }
  /** Transport trouble: no answer to judge. */
  | { kind: 'failure'; failure: SessionFailure };

export interface ConversationRequest {
  target: SocketTarget;
  recipient: string;
  needsSmtpUtf8: boolean;
  settings: ConversationSettings;
  opener: SocketOpener;
  signal: AbortSignal;
  logger: Logger;
  /** Called for every command line sent, for counting. */
  onCommand?: () => void;
}

export interface OpenRequest {
  target: SocketTarget;
  settings: ConversationSettings;
  opener: SocketOpener;
  signal: AbortSignal;
  logger: Logger;
  onCommand?: () => void;
}

export type Opening =
  { ok: true; session: SmtpSession } | { ok: false; conversation: Conversation };

/**
 * Connects and greets (banner, EHLO, STARTTLS). A refusal or failure on the
 * way is returned as the conversation it amounts to.
 */
export async function openConversation(request: OpenRequest): Promise<Opening> {
  const { target, settings, logger } = request;

  const opened = await SmtpSession.open({
    opener: request.opener,
    target,
    heloName: settings.heloName,
    startTls: settings.startTls ? 'opportunistic' : 'never',
    timeouts: settings.timeouts,
    signal: request.signal,
    onTranscript: (direction, line) => {
      if (direction === 'client') request.onCommand?.();
      logger.debug({ host: target.host, ip: target.ip, direction, line }, 'smtp');
    },
  });
  if (opened.ok) return { ok: true, session: opened.session };
  if (opened.reply) {
    return { ok: false, conversation: judge(answerStage(opened.stage), opened.reply) };
  }
  return { ok: false, conversation: { kind: 'failure', failure: opened.failure } };
}

export async function converse(request: ConversationRequest): Promise<Conversation> {
  const opening = await openConversation(request);
  if (!opening.ok) return opening.conversation;

  const session = opening.session;
  try {
    return await converseInSession(session, request);
  } finally {
    await session.quit();
  }
}

async function converseInSession(
  session: SmtpSession,
  request: ConversationRequest,
): Promise<Conversation> {
  const smtputf8 = request.needsSmtpUtf8;
  if (smtputf8 && !session.extensions.has('SMTPUTF8')) return { kind: 'smtputf8_unsupported' };

  const mail = await session.mailFrom(request.settings.mailFrom, { smtputf8 });
  if (!mail.ok) return { kind: 'failure', failure: mail.failure };
  if (mail.reply.code >= 300) return judge('mail', mail.reply);

  const rcpt = await session.rcptTo(request.recipient);
  if (!rcpt.ok) return { kind: 'failure', failure: rcpt.failure };
  return judge('rcpt', rcpt.reply);
}

function judge(stage: 'banner' | 'ehlo' | 'mail' | 'rcpt', reply: SmtpReply): Conversation {
  return { kind: 'answer', stage, reply, replyClass: classifyReply(stage, reply) };
}

function answerStage(stage: Stage): 'banner' | 'ehlo' | 'mail' {
  if (stage === 'banner' || stage === 'connect') return 'banner';
  if (stage === 'mail' || stage === 'rcpt') return 'mail';
  return 'ehlo';
}
