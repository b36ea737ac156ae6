/**
 * Queues of recipients per mail server address, and the sessions that serve
 * them within two caps: sessions per server (politeness) and sessions in all
 * (our own resources). A free session goes to the server with the most
 * recipients waiting per session it has, so that no server is left with a
 * long tail. Recipients of many domains that share a server share its
 * sessions. Catch-all probes wait in a queue of their own and are asked in
 * sessions that carry nothing else. Once a domain greylists, its waiting
 * recipients move to the front, so that their greylisting delays run while
 * the rest of the run goes on rather than after it.
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
import { RoundTripGauge } from './round-trip-gauge.js';
import { WaitingJobs } from './waiting-jobs.js';
import type { BatchLimits, SessionQueue, SessionSettings } from './run-session.js';

/** Jobs (or domains) looked at past rate-limited ones when filling a batch. */
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
  /** Recipients waiting for their domain's DNS answers, not queued yet. */
  resolving: () => number;
  /** The domain is known to accept every local part at this server (catch-all). */
  acceptsAll: (domain: string, server: SocketTarget) => boolean;
  onCommand: () => void;
  onConnection: () => void;
  onRcpts: (count: number) => void;
}

interface ServerQueue {
  target: SocketTarget;
  jobs: WaitingJobs;
  active: number;
  /** Sessions this server takes at once; lowered when it refuses more. */
  cap: number;
  /** Sessions connecting that have not taken their first batch yet. */
  opening: number;
  /** The same, for probe sessions. */
  probeOpening: number;
  /** The server's TLS failed once: speak plain SMTP to it from now on. */
  isPlainOnly: boolean;
  roundTrip: RoundTripGauge;
  probes: RcptJob[];
}

export class SessionDispatcher {
  private readonly queues = new Map<string, ServerQueue>();
  /** Queues that may have jobs or probes waiting; emptied ones leave on the next pump. */
  private readonly withWork = new Set<ServerQueue>();
  /** Domains that greylisted a recipient in this run. */
  private readonly greylisting = new Set<string>();
  /** RCPTs asked and refused per domain (retries counted apart), to size last batches. */
  private readonly refusals = new Map<string, { asked: number; refused: number }>();
  private active = 0;
  private isClosed = false;
  private readonly stop = new AbortController();
  private rateTimer: NodeJS.Timeout | null = null;
  private pumpImmediate: NodeJS.Immediate | null = null;

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
    queue.jobs.push(job, this.greylisting.has(job.domain));
    this.withWork.add(queue);
    this.pumpSoon();
  }

  /** Queues a catch-all probe at its server, for a probe-only session. */
  enqueueProbe(job: RcptJob): void {
    const target = currentTarget(job);
    if (!target) {
      job.settle(noReachableServer());
      return;
    }
    const queue = this.queueFor(target);
    queue.probes.push(job);
    this.withWork.add(queue);
    this.pumpSoon();
  }

  close(): void {
    this.isClosed = true;
    this.stop.abort();
    if (this.rateTimer) clearTimeout(this.rateTimer);
    if (this.pumpImmediate) clearImmediate(this.pumpImmediate);
  }

  private queueFor(target: SocketTarget): ServerQueue {
    const key = targetKey(target);
    let queue = this.queues.get(key);
    if (!queue) {
      queue = {
        target,
        jobs: new WaitingJobs(),
        active: 0,
        cap: this.options.perHostConcurrency,
        opening: 0,
        probeOpening: 0,
        isPlainOnly: false,
        roundTrip: new RoundTripGauge(),
        probes: [],
      };
      this.queues.set(key, queue);
    }
    return queue;
  }

  /** Looks again for sessions to open, e.g. once DNS answers are in. */
  wake(): void {
    this.pumpSoon();
  }

  /**
   * Jobs arriving together are queued before any session is handed out:
   * the DNS answers that come in one turn of the event loop (a run's
   * first, for many domains and servers at once) then share the sessions
   * among their servers, rather than the first server answered taking
   * them all.
   */
  private pumpSoon(): void {
    if (this.pumpImmediate || this.isClosed) return;
    this.pumpImmediate = setImmediate(() => {
      this.pumpImmediate = null;
      this.pump();
    });
  }

  private pump(): void {
    if (this.isClosed) return;
    const limit = this.sessionsForKnownWork();
    while (this.active < limit) {
      const queue = this.neediestQueue();
      if (!queue) return;
      if (this.needsProbeSession(queue)) {
        this.start(queue, (release) => this.serve(queue, 'probes', release));
      } else this.start(queue, (release) => this.serve(queue, 'jobs', release));
    }
  }

  /**
   * Sessions the queued work may have while other recipients still wait
   * for their DNS answers: a share of the cap in proportion to the work
   * known, so that the servers of the domains answered first do not take
   * every session before the rest are known.
   */
  private sessionsForKnownWork(): number {
    const { concurrency, resolving } = this.options;
    const unknown = resolving();
    if (unknown === 0) return concurrency;
    let known = 0;
    for (const queue of this.withWork) known += queue.jobs.size + queue.probes.length;
    return Math.max(1, Math.ceil((concurrency * known) / (known + unknown)));
  }

  /** The queue below its cap with the most work waiting per session it has. */
  private neediestQueue(): ServerQueue | undefined {
    let neediest: ServerQueue | undefined;
    let mostWaiting = -1;
    for (const queue of this.withWork) {
      const waiting = queue.jobs.size + queue.probes.length;
      if (waiting === 0) {
        this.withWork.delete(queue);
        continue;
      }
      if (queue.active >= queue.cap) continue;
      if (!this.needsProbeSession(queue) && !this.needsSession(queue)) continue;
      const perSession = waiting / (queue.active + 1);
      if (perSession > mostWaiting) {
        neediest = queue;
        mostWaiting = perSession;
      }
    }
    return neediest;
  }

  private needsProbeSession(queue: ServerQueue): boolean {
    return queue.probes.length > 0 && queue.probeOpening === 0;
  }

  /**
   * Runs a session in one of the slots of both caps. The slots are given
   * back when the session ends, or earlier when it hands them over as it
   * sends QUIT (see HandOver in run-session.ts): the next session's TCP
   * handshake then overlaps the last replies of this one, and the server
   * still never has more sessions from us at once than the cap.
   */
  private start(queue: ServerQueue, work: (release: () => void) => Promise<void>): void {
    this.active += 1;
    queue.active += 1;
    let isReleased = false;
    const release = () => {
      if (isReleased) return;
      isReleased = true;
      this.active -= 1;
      queue.active -= 1;
      this.pump();
    };
    void work(release)
      .catch((error: unknown) => this.options.logger.error({ err: error }, 'session crashed'))
      .finally(release);
  }

  /**
   * A new session is worth opening when the waiting jobs exceed what the
   * sessions still connecting will take, so that jobs arriving together
   * share a session instead of each opening one.
   */
  private needsSession(queue: ServerQueue): boolean {
    const { maxRejectedPerSession, maxRecipientsPerEnvelope } = this.options.settings;
    const firstBatch = Math.min(maxRejectedPerSession, maxRecipientsPerEnvelope);
    const waiting = queue.jobs.size;
    return waiting > queue.opening * firstBatch && this.hasReadyJobs(queue);
  }

  private hasReadyJobs(queue: ServerQueue): boolean {
    if (queue.jobs.size === 0) return false;
    if (!this.options.domainRate.isLimited) return true;

    let soonest = Infinity;
    let scanned = 0;
    for (const domain of queue.jobs.domains()) {
      const wait = this.options.domainRate.waitFor(domain);
      if (wait === 0) return true;
      soonest = Math.min(soonest, wait);
      scanned += 1;
      if (scanned >= RATE_SCAN_LIMIT) break;
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

  private async serve(
    queue: ServerQueue,
    kind: 'jobs' | 'probes',
    release: () => void,
  ): Promise<void> {
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
      onHandOver: release,
      roundTrip: queue.roundTrip,
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
    const waiting = [...queue.jobs.drain(), ...queue.probes.splice(0)];
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
      take: (limits) => {
        onFirstTake();
        return this.take(queue, limits);
      },
      size: () => queue.jobs.size,
      putBack: (jobs) => {
        queue.jobs.putBack(jobs);
        this.withWork.add(queue);
      },
      answer: (job, probe) => this.answer(job, probe),
      expectRefusals: (jobs) => this.expectRefusals(jobs),
    };
  }

  private probeQueue(queue: ServerQueue, onFirstTake: () => void): SessionQueue {
    return {
      take: (limits) => {
        onFirstTake();
        return queue.probes.splice(0, Math.min(limits.total, limits.refusable));
      },
      size: () => queue.probes.length,
      putBack: (jobs) => {
        queue.probes.unshift(...jobs);
        this.withWork.add(queue);
      },
      answer: (job, probe) => this.answer(job, probe),
      // A made-up mailbox is refused unless the domain is catch-all.
      expectRefusals: (jobs) => jobs.length,
    };
  }

  /**
   * The refusals a batch is expected to draw, from each domain's share in
   * this run so far, starting from one in two.
   */
  private expectRefusals(jobs: readonly RcptJob[]): number {
    let expected = 0;
    for (const job of jobs) {
      const seen = this.refusals.get(refusalKey(job));
      expected += ((seen?.refused ?? 0) + 1) / ((seen?.asked ?? 0) + 2);
    }
    return expected;
  }

  private countRefusal(job: RcptJob, probe: MailboxProbe): void {
    if (job.isProbe) return;
    const key = refusalKey(job);
    let seen = this.refusals.get(key);
    if (!seen) {
      seen = { asked: 0, refused: 0 };
      this.refusals.set(key, seen);
    }
    seen.asked += 1;
    if (!probe.isAccepted) seen.refused += 1;
  }

  /**
   * Jobs within `limits` that share the first one's SMTPUTF8 need, one
   * domain after another. Recipients of catch-all domains ride along
   * without counting against the refusals left, one of which is then kept
   * in reserve should such a server refuse after all.
   */
  private take(queue: ServerQueue, limits: BatchLimits): RcptJob[] {
    const first = queue.jobs.first();
    if (!first) return [];
    const rate = this.options.domainRate;
    let refusable = 0;
    let riding = 0;
    const fits = (job: RcptJob) => {
      if (job.needsSmtpUtf8 !== first.needsSmtpUtf8) return false;
      const isSafe = this.options.acceptsAll(job.domain, queue.target);
      const reserve = isSafe || riding > 0 ? 1 : 0;
      if (refusable + (isSafe ? 0 : 1) > limits.refusable - reserve) return false;
      if (!rate.tryTake(job.domain)) return false;
      if (isSafe) riding += 1;
      else refusable += 1;
      return true;
    };
    return queue.jobs.take(limits.total, fits, RATE_SCAN_LIMIT);
  }

  /**
   * The domain greylists: its recipients still waiting at this server go
   * to the front, so that their greylisting delays start now.
   */
  private hurry(domain: string, server: SocketTarget): void {
    if (this.greylisting.has(domain)) return;
    this.greylisting.add(domain);
    this.queues.get(targetKey(server))?.jobs.hurry(domain);
  }

  /** Settles a job, or schedules its retry when the answer was a deferral. */
  private answer(job: RcptJob, probe: MailboxProbe): void {
    if (probe.answeredBy) this.countRefusal(job, probe);
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
    if (probe.reason === 'greylisted') this.hurry(job.domain, probe.answeredBy);
    job.onDeferred?.();
    job.retriesDone += 1;
    job.attempts += 1;
    job.targets = [probe.answeredBy];
    job.targetIndex = 0;
    this.options.logger.info({ recipient: job.recipient, delaySeconds: delay }, 'rcpt deferred');
    void this.options.clock.sleep(delay * 1000).then(() => {
      if (this.isClosed) return;
      job.onRetry?.();
      this.enqueue(job);
    });
  }
}

/** A greylisted domain refuses first asks and answers retries: counted apart. */
function refusalKey(job: RcptJob): string {
  return job.retriesDone > 0 ? `retry:${job.domain}` : job.domain;
}

function copyProbe(probe: MailboxProbe): MailboxProbe {
  return { ...probe, evidence: { ...probe.evidence } };
}
