/**
 * Catch-all answers for a bulk run, learned from the run's own recipients
 * where they already tell. A catch-all server accepts every local part, so
 * once it has refused a real recipient of a domain as unknown (550 5.1.1
 * and the like) the domain is not catch-all there, and no probe is needed.
 * Most domains of a real list show such a refusal within their first few
 * answers; the probe then runs only for domains that accept everything so
 * far, or that have nothing left to show. That spares each such domain a
 * made-up RCPT (a refusal counted against our IP) and a probe session.
 *
 * What is learned is kept per domain and mail server address: the server
 * that accepted an address is the one asked about it, as on the
 * single-address path, and a backup MX may well accept what the primary
 * refuses.
 */
import type { CatchAllMemory } from '../verify/detect-catch-all.js';
import type { MailboxProbe } from '../verify/judge-conversation.js';
import type { Clock, SocketTarget } from '../verify/types.js';
import { targetKey } from './rcpt-job.js';

/** Accepted recipients without a refusal after which the probe runs anyway. */
export const ACCEPTS_BEFORE_PROBE = 4;

/**
 * How long an accepted recipient waits for its domain to show a refusal.
 * Checked whenever the server answers anything, so no timer outlives a run.
 */
export const PROBE_PATIENCE_MS = 2_000;

export interface CatchAllWatchDeps {
  clock: Clock;
  memory?: CatchAllMemory;
  /** Asks the server about a made-up local part: true, false, or null for no answer. */
  probe(domain: string, server: SocketTarget): Promise<boolean | null>;
}

interface Watch {
  domain: string;
  server: SocketTarget;
  /** Real recipients of the domain expected at this server and not answered yet. */
  pending: number;
  accepted: number;
  /** The server refused a real recipient of the domain as unknown. */
  refusesUnknown: boolean;
  decision: Promise<boolean | null> | null;
  /** The decision came out catch-all. */
  isDecidedCatchAll: boolean;
  /** Set while the decision waits for the recipients' answers. */
  decide: ((isCatchAll: boolean | null) => void) | null;
  waitingSince: number;
  isProbing: boolean;
}

export class CatchAllWatch {
  private readonly watches = new Map<string, Watch>();
  /**
   * Watches whose decision waits for answers (no probe yet), per server
   * address, in the order they started waiting: the oldest come first.
   */
  private readonly waiting = new Map<string, Set<Watch>>();
  private isClosed = false;

  constructor(private readonly deps: CatchAllWatchDeps) {}

  /** A real recipient of `domain` is about to be asked at `server`. */
  expect(domain: string, server: SocketTarget): void {
    this.watchOf(domain, server).pending += 1;
  }

  /**
   * The recipient expected at `server` has its answer, or will not have
   * one soon (it waits out a greylisting delay).
   */
  release(domain: string, server: SocketTarget): void {
    const watch = this.watchOf(domain, server);
    watch.pending = Math.max(0, watch.pending - 1);
    this.review(watch);
  }

  /** The answer for a real recipient of `domain`, from whichever server gave it. */
  observe(domain: string, probe: MailboxProbe): void {
    const server = probe.answeredBy;
    if (!server) return;

    const watch = this.watchOf(domain, server);
    if (probe.isAccepted) watch.accepted += 1;
    else if (probe.reason === 'mailbox_not_found') watch.refusesUnknown = true;
    this.review(watch);
    this.reviewOverdue(server);
  }

  /**
   * Whether `domain` accepts any local part at `server`, the server that
   * accepted one of its real recipients: remembered, learned from the
   * run's refusals, or probed.
   */
  isCatchAll(domain: string, server: SocketTarget): Promise<boolean | null> {
    const watch = this.watchOf(domain, server);
    watch.decision ??= this.decideOnce(watch).then((isCatchAll) => {
      watch.isDecidedCatchAll = isCatchAll === true;
      return isCatchAll;
    });
    return watch.decision;
  }

  /**
   * The domain is known in this run to accept every local part at this
   * server (decided catch-all, and no real recipient refused as unknown),
   * so its recipients are not expected to be refused.
   */
  acceptsAll(domain: string, server: SocketTarget): boolean {
    const watch = this.watches.get(watchKey(domain, server));
    return watch !== undefined && watch.isDecidedCatchAll && !watch.refusesUnknown;
  }

  close(): void {
    this.isClosed = true;
    for (const watch of this.watches.values()) this.settle(watch, null);
  }

  private async decideOnce(watch: Watch): Promise<boolean | null> {
    const remembered = await this.deps.memory?.recall(watch.domain);
    if (remembered !== undefined && remembered !== null) return remembered;
    if (this.isClosed) return null;

    const decision = new Promise<boolean | null>((resolve) => {
      watch.decide = resolve;
    });
    watch.waitingSince = this.deps.clock.now();
    this.waitingAt(watch.server).add(watch);
    this.review(watch);
    return decision;
  }

  /** Settles a waiting decision, or starts its probe, once the answers allow. */
  private review(watch: Watch): void {
    if (!watch.decide) return;

    if (watch.refusesUnknown) {
      this.settle(watch, false);
      void this.deps.memory?.remember(watch.domain, false);
      return;
    }
    const hasSeenEnough = watch.accepted >= ACCEPTS_BEFORE_PROBE;
    if (hasSeenEnough || watch.pending === 0) this.startProbe(watch);
  }

  /** Decisions at this server that have waited long enough get their probe. */
  private reviewOverdue(server: SocketTarget): void {
    const now = this.deps.clock.now();
    for (const watch of this.waiting.get(targetKey(server)) ?? []) {
      if (now - watch.waitingSince < PROBE_PATIENCE_MS) return;
      this.startProbe(watch);
    }
  }

  private startProbe(watch: Watch): void {
    if (watch.isProbing || this.isClosed) return;
    watch.isProbing = true;
    this.waiting.get(targetKey(watch.server))?.delete(watch);
    void this.deps.probe(watch.domain, watch.server).then((isCatchAll) => {
      this.settle(watch, isCatchAll);
    });
  }

  private settle(watch: Watch, isCatchAll: boolean | null): void {
    const decide = watch.decide;
    if (!decide) return;
    watch.decide = null;
    this.waiting.get(targetKey(watch.server))?.delete(watch);
    decide(isCatchAll);
  }

  private waitingAt(server: SocketTarget): Set<Watch> {
    const key = targetKey(server);
    let set = this.waiting.get(key);
    if (!set) {
      set = new Set();
      this.waiting.set(key, set);
    }
    return set;
  }

  private watchOf(domain: string, server: SocketTarget): Watch {
    const key = watchKey(domain, server);
    let watch = this.watches.get(key);
    if (!watch) {
      watch = {
        domain,
        server,
        pending: 0,
        accepted: 0,
        refusesUnknown: false,
        decision: null,
        isDecidedCatchAll: false,
        decide: null,
        waitingSince: 0,
        isProbing: false,
      };
      this.watches.set(key, watch);
    }
    return watch;
  }
}

function watchKey(domain: string, server: SocketTarget): string {
  return `${domain}|${targetKey(server)}`;
}
