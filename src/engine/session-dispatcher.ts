/**
 * Queues of recipients per mail server address, and the sessions that serve
 * them within two caps: sessions per server (politeness) and sessions in all
 * (our own resources). Recipients of many domains that share a server share
 * its sessions. Catch-all probes wait in a queue of their own and are asked
 * in sessions that carry nothing else.
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';

import { isPassedOver, isTlsFailure, isWorthRetrying } from '../verify/judge-conversation.js';
import {
  judgeConversation,
  noReachableServer,
  preferTrouble,
} from '../verify/judge-conversation.js';
import type { MailboxProbe } from '../verify/judge-conversation.js';
import type { Clock, SocketOpener, SocketTarget } from '../verify/types.js';
import type { DomainRate } from './domain-rate.js';
import { currentTarget, targetKey } from './rcpt-job.js';
import type { RcptJob } from './rcpt-job.js';
import { runSession } from './run-session.js';
import type { SessionQueue, SessionSettings } from './run-session.js';

/** Jobs looked at past rate-limited ones when filling a batch. */
const RATE_SCAN_LIMIT = 1_000;

export interface DispatcherOptions {
  settings: SessionSettings;
  concurrency: number;
  perHostConcurrency: number;
  /** Seconds before each retry of a deferred RCPT. */
  retryDelays: readonly number[];
  opener: SocketOpener;
  clock: Clock;
  logger: Logger;
  domainRate: DomainRate;
  onCommand: () => void;
  onConnection: () => void;
  onRcpts: (count: number) => void;
}

interface ServerQueue {
  target: SocketTarget;
  jobs: RcptJob[];
  active: number;
  /** Sessions this server takes at once; lowered when it refuses more. */
  cap: number;
  /** Sessions connecting that have not taken their first batch yet. */
  opening: number;
  /** The same, for probe sessions. */
  probeOpening: number;
  /** The server's TLS failed once: speak plain SMTP to it from now on. */
  isPlainOnly: boolean;
  probes: RcptJob[];
}

export class SessionDispatcher {
  private readonly queues = new Map<string, ServerQueue>();
  private active = 0;
  private isClosed = false;
  private readonly stop = new AbortController();
  private rateTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: DispatcherOptions) {
    // Every open session listens for the stop signal.
    setMaxListeners(0, this.stop.signal);
  }

  /** Queues a job at its current mail server. */
  enqueue(job: RcptJob): void {
    const target = currentTarget(job);
    if (!target) {
      job.settle(job.lastTrouble ?? noReachableServer());
      return;
    }
    const queue = this.queueFor(target);
    queue.jobs.push(job);
    this.pump();
  }

  /** Queues a catch-all probe at its server, for a probe-only session. */
  enqueueProbe(job: RcptJob): void {
    const target = currentTarget(job);
    if (!target) {
      job.settle(noReachableServer());
      return;
    }
    this.queueFor(target).probes.push(job);
    this.pump();
  }

  close(): void {
    this.isClosed = true;
    this.stop.abort();
    if (this.rateTimer) clearTimeout(this.rateTimer);
  }

  private queueFor(target: SocketTarget): ServerQueue {
    const key = targetKey(target);
    let queue = this.queues.get(key);
    if (!queue) {
      queue = {
        target,
        jobs: [],
        active: 0,
        cap: this.options.perHostConcurrency,
        opening: 0,
        probeOpening: 0,
        isPlainOnly: false,
        probes: [],
      };
      this.queues.set(key, queue);
    }
    return queue;
  }

  private pump(): void {
    if (this.isClosed) return;
    const { concurrency } = this.options;

    for (const queue of this.queues.values()) {
      while (this.active < concurrency && queue.active < queue.cap) {
        const needsProbeSession = queue.probes.length > 0 && queue.probeOpening === 0;
        if (needsProbeSession) this.start(queue, () => this.serve(queue, 'probes'));
        else if (this.needsSession(queue)) this.start(queue, () => this.serve(queue, 'jobs'));
        else break;
      }
      if (this.active >= concurrency) break;
    }
  }

  private start(queue: ServerQueue, work: () => Promise<void>): void {
    this.active += 1;
    queue.active += 1;
    void work()
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'session crashed'))
      .finally(() => {
        this.active -= 1;
        queue.active -= 1;
        this.pump();
      });
  }

  /**
   * A new session is worth opening when the waiting jobs exceed what the
   * sessions still connecting will take, so that jobs arriving together
   * share a session instead of each opening one.
   */
  private needsSession(queue: ServerQueue): boolean {
    const { maxRejectedPerSession, maxRecipientsPerEnvelope } = this.options.settings;
    const firstBatch = Math.min(maxRejectedPerSession, maxRecipientsPerEnvelope);
    const waiting = queue.jobs.length;
    return waiting > queue.opening * firstBatch && this.hasReadyJobs(queue);
  }

  private hasReadyJobs(queue: ServerQueue): boolean {
    const waiting = queue.jobs.length;
    if (waiting === 0) return false;
    if (!this.options.domainRate.isLimited) return true;

    const scanEnd = Math.min(queue.jobs.length, RATE_SCAN_LIMIT);
    let soonest = Infinity;
    for (let index = 0; index < scanEnd; index += 1) {
      const wait = this.options.domainRate.waitFor(queue.jobs[index]!.domain);
      if (wait === 0) return true;
      soonest = Math.min(soonest, wait);
    }
    this.wakeAfter(soonest);
    return false;
  }

  private wakeAfter(ms: number): void {
    if (this.rateTimer || !Number.isFinite(ms)) return;
    this.rateTimer = setTimeout(() => {
      this.rateTimer = null;
      this.pump();
    }, Math.ceil(ms));
  }

  private async serve(queue: ServerQueue, kind: 'jobs' | 'probes'): Promise<void> {
    this.options.onConnection();
    const counter = kind === 'probes' ? 'probeOpening' : 'opening';
    queue[counter] += 1;
    let isOpening = true;
    const opened = () => {
      if (isOpening) queue[counter] -= 1;
      isOpening = false;
    };
    const settings = {
      ...this.options.settings,
      startTls: this.options.settings.startTls && !queue.isPlainOnly,
    };
    const end = await runSession({
      target: queue.target,
      settings,
      queue: kind === 'probes' ? this.probeQueue(queue, opened) : this.sessionQueue(queue, opened),
      opener: this.options.opener,
      logger: this.options.logger,
      signal: this.stop.signal,
      onCommand: this.options.onCommand,
      onRcpts: this.options.onRcpts,
    });
    opened();
    if (end.kind === 'done' || this.isClosed) return;

    const conversation = end.conversation;
    if (isTlsFailure(conversation) && settings.startTls) {
      // A broken TLS stack should not hide mailboxes: plain SMTP from now
      // on, as a sending MTA would after a failed handshake.
      queue.isPlainOnly = true;
      return;
    }

    const probe = judgeConversation(conversation, queue.target);
    if (isPassedOver(conversation) && queue.active > 1) {
      // Other sessions to this server are working: it refused one more
      // connection, not our recipients. Ask it for fewer sessions at once.
      queue.cap = Math.max(1, queue.active - 1);
      return;
    }
    const waiting = [...queue.jobs.splice(0), ...queue.probes.splice(0)];
    if (isPassedOver(conversation)) {
      for (const job of waiting) this.passOver(job, probe);
    } else {
      for (const job of waiting) this.answer(job, copyProbe(probe));
    }
  }

  /** The server cannot be reached or defers at connect: next server. */
  private passOver(job: RcptJob, probe: MailboxProbe): void {
    job.lastTrouble = preferTrouble(job.lastTrouble, copyProbe(probe));
    job.targetIndex += 1;
    this.enqueue(job);
  }

  private sessionQueue(queue: ServerQueue, onFirstTake: () => void): SessionQueue {
    return {
      take: (max) => {
        onFirstTake();
        return this.take(queue, max);
      },
      size: () => queue.jobs.length,
      putBack: (jobs) => {
        queue.jobs.unshift(...jobs);
      },
      answer: (job, probe) => this.answer(job, probe),
    };
  }

  private probeQueue(queue: ServerQueue, onFirstTake: () => void): SessionQueue {
    return {
      take: (max) => {
        onFirstTake();
        return queue.probes.splice(0, max);
      },
      size: () => queue.probes.length,
      putBack: (jobs) => {
        queue.probes.unshift(...jobs);
      },
      answer: (job, probe) => this.answer(job, probe),
    };
  }

  private take(queue: ServerQueue, max: number): RcptJob[] {
    const taken: RcptJob[] = [];
    const first = queue.jobs[0];
    if (!first) return taken;
    const needsSmtpUtf8 = first.needsSmtpUtf8;
    const rate = this.options.domainRate;

    const scanEnd = Math.min(queue.jobs.length, RATE_SCAN_LIMIT);
    const kept: RcptJob[] = [];
    let index = 0;
    for (; index < scanEnd && taken.length < max; index += 1) {
      const job = queue.jobs[index]!;
      const fits = job.needsSmtpUtf8 === needsSmtpUtf8 && rate.tryTake(job.domain);
      (fits ? taken : kept).push(job);
    }
    queue.jobs.splice(0, index, ...kept);
    return taken;
  }

  /** Settles a job, or schedules its retry when the answer was a deferral. */
  private answer(job: RcptJob, probe: MailboxProbe): void {
    const delays = this.options.retryDelays;
    const delay = delays[job.retriesDone];
    // A deferred catch-all probe is simply no answer, as on the single path.
    if (delay === undefined || job.isProbe || !isWorthRetrying(probe) || !probe.answeredBy) {
      probe.evidence.attempts = Math.max(probe.evidence.attempts, job.attempts);
      job.settle(probe);
      return;
    }

    // Greylisting (RFC 6647) remembers the client IP, sender and recipient:
    // the retry goes to the same server address with the same MAIL FROM,
    // while the rest of the run carries on.
    job.retriesDone += 1;
    job.attempts += 1;
    job.targets = [probe.answeredBy];
    job.targetIndex = 0;
    this.options.logger.info({ recipient: job.recipient, delaySeconds: delay }, 'rcpt deferred');
    void this.options.clock.sleep(delay * 1000).then(() => {
      if (this.isClosed) return;
      this.enqueue(job);
    });
  }
}

function copyProbe(probe: MailboxProbe): MailboxProbe {
  return { ...probe, evidence: { ...probe.evidence } };
}
