/**
 * One SMTP session of the bulk engine: many recipients, in envelopes of
 * MAIL FROM and a batch of RCPTs, pipelined in one round trip when the
 * server offers PIPELINING (RFC 2920). The session ends before the server
 * would start to punish us: Postfix, for one, delays every reply after 10
 * errors in a session and disconnects after 20 (smtpd_soft_error_limit,
 * smtpd_hard_error_limit), so refused RCPTs are capped well below that.
 */
import type { Logger } from 'pino';

import { classifyReply } from '../verify/classify-reply.js';
import { openConversation } from '../verify/converse.js';
import type { Conversation, ConversationSettings } from '../verify/converse.js';
import { judgeConversation } from '../verify/judge-conversation.js';
import type { MailboxProbe } from '../verify/judge-conversation.js';
import type { SmtpSession, StepResult } from '../verify/smtp-session.js';
import type { SocketOpener, SocketTarget, Stage } from '../verify/types.js';
import type { RcptJob } from './rcpt-job.js';
import type { RoundTripGauge } from './round-trip-gauge.js';

/**
 * With PIPELINING a batch costs one round trip and carries as many RCPTs
 * as the refusal budget left. A fresh session costs two round trips before
 * its first batch (connect and banner, EHLO) and, at one refusal in two,
 * averages about 3.4 recipients per round trip over its life with a budget
 * of 9 (3.0 with 8). So a session whose budget is expected to fall below
 * this after the batch it is sending ends with that batch: a further round
 * trip would carry fewer recipients than a new session does.
 */
const MIN_EXPECTED_BUDGET = 3.5;

/**
 * The shortest round trip at which a session hands its slots on as it
 * sends QUIT. On loopback or a LAN the next connection could reach the
 * server before it has ended this session.
 */
const MIN_HANDOVER_ROUND_TRIP_MS = 10;

export interface SessionSettings extends ConversationSettings {
  maxRejectedPerSession: number;
  maxRecipientsPerEnvelope: number;
}

/** How many jobs a batch may hold. */
export interface BatchLimits {
  /** Jobs in all. */
  total: number;
  /**
   * Jobs the server may refuse: the refusals the session may still take.
   * Recipients of a domain known to accept every local part are not
   * counted, but when any ride along one refusal is kept in reserve.
   */
  refusable: number;
}

/** What a session needs from the queue of its mail server. */
export interface SessionQueue {
  /** Jobs within `limits`, sharing the SMTPUTF8 need of the first one. */
  take(limits: BatchLimits): RcptJob[];
  /** Jobs waiting at this server. */
  size(): number;
  /** Hands a job back to the front of the queue, unanswered. */
  putBack(jobs: RcptJob[]): void;
  /** The server answered this job. */
  answer(job: RcptJob, probe: MailboxProbe): void;
  /** How many of these jobs the server is expected to refuse. */
  expectRefusals(jobs: readonly RcptJob[]): number;
}

export type SessionEnd =
  | { kind: 'done' }
  /** The session never opened; `conversation` says why. */
  | { kind: 'unopened'; conversation: Conversation };

export interface SessionRequest {
  target: SocketTarget;
  settings: SessionSettings;
  queue: SessionQueue;
  opener: SocketOpener;
  logger: Logger;
  signal: AbortSignal;
  onCommand: () => void;
  /** Called with the number of RCPT commands sent. */
  onRcpts: (count: number) => void;
  /**
   * Called when the session's slots may go to the next session: QUIT is
   * sent and the server will have ended this session before a new
   * connection's handshake reaches it. Not called when that is in doubt.
   */
  onHandOver?: () => void;
  /** The round trip to this server, shared by its sessions. */
  roundTrip: RoundTripGauge;
}

export async function runSession(request: SessionRequest): Promise<SessionEnd> {
  const { target, settings, logger } = request;
  const startedAt = performance.now();
  const opening = await openConversation({
    target,
    settings,
    opener: request.opener,
    signal: request.signal,
    logger,
    onCommand: request.onCommand,
  });
  if (!opening.ok) return { kind: 'unopened', conversation: opening.conversation };

  const session = opening.session;
  request.roundTrip.observe(session.greetingRoundTripMs);
  const handOver = new HandOver(request.roundTrip, request.onHandOver);
  try {
    const carried = await carryEnvelopes(session, request, handOver);
    const ms = Math.round(performance.now() - startedAt);
    logger.debug({ host: target.host, ip: target.ip, ms, ...carried }, 'session ended');
  } finally {
    const quitting = session.quit();
    handOver.quitSent();
    await quitting;
  }
  return { kind: 'done' };
}

/**
 * Decides whether QUIT lets the session's slots go at once. The server
 * ends the session when it reads QUIT, half a round trip after it leaves;
 * a new connection reaches it once its TCP handshake is done, a round trip
 * and a half after it starts. That holds while the round trip to the
 * server is long enough to be a margin at all, and the server (and this
 * process) answered the session's previous batch in about a round trip.
 */
class HandOver {
  private lastBatchMs: number | null = null;
  private isDone = false;

  constructor(
    private readonly roundTrip: RoundTripGauge,
    private readonly onHandOver: (() => void) | undefined,
  ) {}

  async timeBatch<T>(batch: () => Promise<T>): Promise<T> {
    const sentAt = performance.now();
    const result = await batch();
    this.lastBatchMs = performance.now() - sentAt;
    this.roundTrip.observe(this.lastBatchMs);
    return result;
  }

  quitSent(): void {
    if (this.isDone) return;
    this.isDone = true;
    const roundTripMs = this.roundTrip.roundTripMs;
    if (roundTripMs === null || roundTripMs < MIN_HANDOVER_ROUND_TRIP_MS) return;
    if (this.lastBatchMs !== null && this.lastBatchMs > 2 * roundTripMs) return;
    this.onHandOver?.();
  }
}

/** The mail transaction open in a session: its SMTPUTF8 need and size. */
interface Transaction {
  smtputf8: boolean;
  recipients: number;
}

/**
 * Batches of RCPTs, each no larger than the refusals the session may still
 * take. Batches share one mail transaction up to the envelope size; then
 * RSET opens the next (RFC 5321 4.1.1.5). When nothing else waits, or the
 * refusals a batch is expected to draw leave too small a budget for another,
 * QUIT rides with the batch and the session ends in that round trip.
 */
async function carryEnvelopes(
  session: SmtpSession,
  request: SessionRequest,
  handOver: HandOver,
): Promise<{ recipients: number; rejected: number; batches: number; end: string }> {
  const { settings, queue } = request;
  const isPipelining = session.extensions.has('PIPELINING');
  let rejected = 0;
  let recipients = 0;
  let batches = 0;
  let transaction = null as Transaction | null;
  const ended = (end: string) => ({ recipients, rejected, batches, end });

  for (;;) {
    const budget = settings.maxRejectedPerSession - rejected;
    if (budget <= 0) return ended('refusal cap');
    if (queue.size() === 0) return ended('queue empty');

    const room: number = settings.maxRecipientsPerEnvelope - (transaction?.recipients ?? 0);
    const jobs: RcptJob[] = room > 0 ? queue.take({ total: room, refusable: budget }) : [];
    if (room > 0 && jobs.length === 0) return ended('rate limited');
    recipients += jobs.length;
    if (jobs.length > 0) batches += 1;

    const needsSmtpUtf8: boolean = jobs[0]?.needsSmtpUtf8 ?? false;
    if (needsSmtpUtf8 && !session.extensions.has('SMTPUTF8')) {
      const probe = judgeConversation({ kind: 'smtputf8_unsupported' }, request.target);
      jobs.forEach((job) => queue.answer(job, { ...probe, evidence: { ...probe.evidence } }));
      continue;
    }

    if (transaction && (room <= 0 || transaction.smtputf8 !== needsSmtpUtf8)) {
      const reset = await session.rset();
      if (!reset.ok || reset.reply.code >= 400) {
        queue.putBack(jobs);
        return ended('rset refused');
      }
      transaction = null;
      if (jobs.length === 0) continue;
    }

    const isLast =
      isPipelining &&
      (queue.size() === 0 || budget - queue.expectRefusals(jobs) < MIN_EXPECTED_BUDGET);
    const batch = { jobs, isLast, handOver };
    const outcome = await handOver.timeBatch(async () =>
      transaction
        ? settleRcpts(jobs, await sendRcpts(session, batch, request), request)
        : await sendEnvelope(session, batch, needsSmtpUtf8, request),
    );
    transaction = {
      smtputf8: needsSmtpUtf8,
      recipients: (transaction?.recipients ?? 0) + jobs.length,
    };
    rejected += outcome.rejected;
    if (isLast) return ended('last batch');
    if (outcome.isSessionOver) return ended('server ended it');
  }
}

/** The RCPTs of one round trip; the last carries QUIT. */
interface Batch {
  jobs: RcptJob[];
  isLast: boolean;
  handOver: HandOver;
}

function sendRcpts(
  session: SmtpSession,
  { jobs, isLast, handOver }: Batch,
  request: SessionRequest,
): Promise<StepResult[]> {
  request.onRcpts(jobs.length);
  const recipients = jobs.map((job) => job.recipient);
  if (!isLast) return session.rcptToMany(recipients);
  const replies = session.rcptToManyThenQuit(recipients);
  handOver.quitSent();
  return replies;
}

interface EnvelopeOutcome {
  rejected: number;
  isSessionOver: boolean;
}

async function sendEnvelope(
  session: SmtpSession,
  batch: Batch,
  smtputf8: boolean,
  request: SessionRequest,
): Promise<EnvelopeOutcome> {
  const { queue, target, settings } = request;

  // With PIPELINING, MAIL FROM and the RCPTs go out together (RFC 2920 3.1).
  const mailing = session.mailFrom(settings.mailFrom, { smtputf8 });
  let mail: StepResult;
  let rcpts: StepResult[] | null = null;
  if (session.extensions.has('PIPELINING')) {
    [mail, rcpts] = await Promise.all([mailing, sendRcpts(session, batch, request)]);
  } else {
    mail = await mailing;
  }

  if (!mail.ok || mail.reply.code >= 300) {
    const conversation = asConversation('mail', mail);
    for (const job of batch.jobs) queue.answer(job, judgeConversation(conversation, target));
    return { rejected: 0, isSessionOver: true };
  }

  rcpts ??= await sendRcpts(session, batch, request);
  return settleRcpts(batch.jobs, rcpts, request);
}

function settleRcpts(
  jobs: RcptJob[],
  rcpts: StepResult[],
  request: SessionRequest,
): EnvelopeOutcome {
  const { queue, target } = request;
  let rejected = 0;
  let isSessionOver = false;
  const handBack: RcptJob[] = [];

  jobs.forEach((job, index) => {
    const rcpt = rcpts[index]!;
    if (!rcpt.ok) {
      // The session died under this batch (often right after a 421): the
      // recipient was never really asked, so a fresh session asks it once.
      isSessionOver = true;
      if (job.newSessionRetries === 0) {
        job.newSessionRetries += 1;
        handBack.push(job);
      } else {
        queue.answer(job, judgeConversation(asConversation('rcpt', rcpt), target));
      }
      return;
    }

    const conversation = asConversation('rcpt', rcpt);
    const probe = judgeConversation(conversation, target);
    if (!probe.isAccepted) rejected += 1;

    const retry = conversation.kind === 'answer' ? conversation.replyClass.retry : 'none';
    const isClosing = rcpt.reply.code === 421;
    if (isClosing) isSessionOver = true;
    if ((isClosing || retry === 'new_session') && job.newSessionRetries === 0) {
      // "421 closing" or "452 4.5.3 Too many recipients": the job is asked
      // once more in a fresh session; a second such answer stands.
      job.newSessionRetries += 1;
      isSessionOver = true;
      handBack.push(job);
      return;
    }
    if (retry === 'new_session') probe.evidence.attempts = 2;
    queue.answer(job, probe);
  });

  if (handBack.length > 0) queue.putBack(handBack);
  return { rejected, isSessionOver };
}

function asConversation(stage: 'mail' | 'rcpt', step: StepResult): Conversation {
  if (!step.ok)
    return { kind: 'failure', failure: { ...step.failure, stage: step.failure.stage as Stage } };
  return { kind: 'answer', stage, reply: step.reply, replyClass: classifyReply(stage, step.reply) };
}
