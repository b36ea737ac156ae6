/**
 * Bulk verification: the flow of DESIGN.md for many addresses at once.
 * Fresh cached results are answered first; DNS is asked once per domain;
 * recipients are grouped by mail server and carried many to a session;
 * the catch-all probe runs once per domain; deferred recipients are retried
 * on the greylisting schedule while the rest of the run goes on. Verdicts
 * come from the same steps as the single-address path.
 */
import pino from 'pino';
import type { Logger } from 'pino';

import type { ResultStore } from '../store/store.js';
import { decideCatchAll, randomLocalPart } from '../verify/detect-catch-all.js';
import type { CatchAllMemory } from '../verify/detect-catch-all.js';
import { parseAddress } from '../verify/parse-address.js';
import type { ParsedAddress } from '../verify/parse-address.js';
import { listTargets } from '../verify/probe-mailbox.js';
import type { MailboxProbe } from '../verify/probe-mailbox.js';
import { resolveMailServers } from '../verify/resolve-mail-servers.js';
import type {
  Clock,
  Resolver,
  SocketOpener,
  SocketTarget,
  VerificationResult,
} from '../verify/types.js';
import {
  buildResult,
  flagAddress,
  judgeDomain,
  stageEvidence,
  toProbeSettings,
  withinDeadline,
} from '../verify/verification-steps.js';
import type { DomainJudgement, VerifierSettings } from '../verify/verification-steps.js';
import { CatchAllWatch } from './catch-all-watch.js';
import { createStoredCatchAllMemory } from './stored-catch-all-memory.js';
import type { CacheMode } from './stored-catch-all-memory.js';
import { DomainRate } from './domain-rate.js';
import { createRcptJob } from './rcpt-job.js';
import type { RcptJob } from './rcpt-job.js';
import { SessionDispatcher } from './session-dispatcher.js';

const DEFAULT_CATCH_ALL_LIFETIME_SECONDS = 7 * 86_400;

export interface BulkSettings extends VerifierSettings {
  /** SMTP sessions open at once, all servers together. */
  concurrency: number;
  /** SMTP sessions open at once to one mail server address. */
  perHostConcurrency: number;
  /** Refused RCPTs after which a session ends. */
  maxRejectedPerSession: number;
  /** RCPTs in one mail transaction. */
  maxRecipientsPerEnvelope: number;
  /** Most RCPTs per second to one domain; 0 is no limit. */
  domainRate: number;
}

export interface BulkDeps {
  resolver: Resolver;
  opener: SocketOpener;
  clock: Clock;
  random: () => number;
  logger?: Logger;
  store?: ResultStore;
  cacheMode?: CacheMode;
  catchAllLifetimeSeconds?: number;
}

export interface BulkStats {
  addresses: number;
  cacheHits: number;
  connections: number;
  commands: number;
  rcpts: number;
}

export interface BulkVerifier {
  verify(email: string): Promise<VerificationResult>;
  stats(): BulkStats;
  close(): Promise<void>;
}

/** The run was closed before this address got its answer. */
export class BulkClosedError extends Error {
  readonly code = 'BULK_CLOSED';

  constructor() {
    super('the bulk verifier was closed before the answer arrived');
    this.name = 'BulkClosedError';
  }
}

export function createBulkVerifier(settings: BulkSettings, deps: BulkDeps): BulkVerifier {
  return new BulkRun(settings, deps);
}

class BulkRun implements BulkVerifier {
  private readonly logger: Logger;
  private readonly dispatcher: SessionDispatcher;
  private readonly counts: BulkStats = {
    addresses: 0,
    cacheHits: 0,
    connections: 0,
    commands: 0,
    rcpts: 0,
  };
  private readonly startedAt: number;
  private readonly cacheMode: CacheMode;
  private readonly catchAll: CatchAllWatch;
  private readonly inFlight = new Map<string, Promise<VerificationResult>>();
  /** Without a store, finished results are remembered here for duplicates. */
  private readonly finished = new Map<string, VerificationResult>();
  private readonly domains = new Map<string, Promise<DomainJudgement>>();
  private readonly waiters = new Set<(error: Error) => void>();
  private isClosed = false;
  /** Recipients waiting for their domain's DNS answers. */
  private resolving = 0;

  constructor(
    private readonly settings: BulkSettings,
    private readonly deps: BulkDeps,
  ) {
    this.logger = deps.logger ?? pino({ level: 'silent' });
    this.startedAt = deps.clock.now();
    this.cacheMode = deps.store ? (deps.cacheMode ?? 'use') : 'off';
    const memory =
      deps.store && this.cacheMode !== 'off'
        ? createStoredCatchAllMemory(
            deps.store,
            deps.catchAllLifetimeSeconds ?? DEFAULT_CATCH_ALL_LIFETIME_SECONDS,
            deps.clock,
          )
        : undefined;
    this.catchAll = new CatchAllWatch({
      clock: deps.clock,
      memory,
      probe: (domain, server) => this.probeCatchAll(domain, server, memory),
    });

    const probeSettings = toProbeSettings(settings);
    this.dispatcher = new SessionDispatcher({
      settings: {
        ...probeSettings,
        maxRejectedPerSession: settings.maxRejectedPerSession,
        maxRecipientsPerEnvelope: settings.maxRecipientsPerEnvelope,
      },
      concurrency: settings.concurrency,
      perHostConcurrency: settings.perHostConcurrency,
      retryDelays: settings.greylistRetry,
      opener: deps.opener,
      clock: deps.clock,
      logger: this.logger,
      domainRate: new DomainRate(settings.domainRate, () => deps.clock.now()),
      acceptsAll: (domain, server) => this.catchAll.acceptsAll(domain, server),
      resolving: () => this.resolving,
      onCommand: () => void (this.counts.commands += 1),
      onConnection: () => void (this.counts.connections += 1),
      onRcpts: (count) => void (this.counts.rcpts += count),
    });
  }

  stats(): BulkStats {
    return { ...this.counts };
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.dispatcher.close();
    this.catchAll.close();
    const error = new BulkClosedError();
    for (const fail of this.waiters) fail(error);
    this.waiters.clear();
  }

  verify(email: string): Promise<VerificationResult> {
    if (this.isClosed) return Promise.reject(new BulkClosedError());
    const startedAt = this.deps.clock.now();

    const syntax = parseAddress(email);
    if (!syntax.ok) {
      this.counts.addresses += 1;
      const evidence = stageEvidence('syntax', syntax.detail);
      const finding = { verdict: 'undeliverable', reason: 'invalid_syntax' } as const;
      return Promise.resolve(buildResult(email, startedAt, this.deps.clock, {}, finding, evidence));
    }

    const key = syntax.address.normalized;
    const known = this.finished.get(key);
    if (known) return Promise.resolve(this.answered({ ...known, email }));

    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.verifyOnce(email, syntax.address, startedAt);
      this.inFlight.set(key, pending);
      void pending.then(
        (result) => {
          this.inFlight.delete(key);
          if (this.cacheMode === 'off') this.finished.set(key, result);
        },
        () => this.inFlight.delete(key),
      );
      return this.cancellable(pending);
    }
    return this.cancellable(pending.then((result) => this.answered({ ...result, email })));
  }

  private answered(result: VerificationResult): VerificationResult {
    this.counts.addresses += 1;
    return result;
  }

  /** Rejects with BulkClosedError when the run is closed first. */
  private cancellable(work: Promise<VerificationResult>): Promise<VerificationResult> {
    return new Promise((resolve, reject) => {
      this.waiters.add(reject);
      work.then(
        (result) => {
          this.waiters.delete(reject);
          resolve(result);
        },
        (error: unknown) => {
          this.waiters.delete(reject);
          reject(error);
        },
      );
    });
  }

  private async verifyOnce(
    email: string,
    parsed: ParsedAddress,
    startedAt: number,
  ): Promise<VerificationResult> {
    const store = this.deps.store;
    if (store && this.cacheMode !== 'off') {
      const stored = await store.getResult(parsed.normalized);
      const isFresh = stored !== null && stored.expiresAt > this.deps.clock.now();
      const isFromThisRun = stored !== null && stored.storedAt >= this.startedAt;
      if (stored && ((this.cacheMode === 'use' && isFresh) || isFromThisRun)) {
        this.counts.cacheHits += 1;
        this.counts.addresses += 1;
        return { ...stored.result, email };
      }
    }

    const result = await this.verifyLive(email, parsed, startedAt);
    if (store && this.cacheMode !== 'off') {
      await store.putResult(parsed.normalized, result, this.deps.clock.now());
    }
    this.counts.addresses += 1;
    return result;
  }

  private async verifyLive(
    email: string,
    parsed: ParsedAddress,
    startedAt: number,
  ): Promise<VerificationResult> {
    const clock = this.deps.clock;
    this.resolving += 1;
    const domain = await this.judgeDomainOnce(parsed.domain).finally(() => {
      this.resolving -= 1;
      this.dispatcher.wake();
    });
    if (domain.kind === 'decided') {
      const draft = { parsed, flags: flagAddress(parsed), mx: domain.mx };
      return buildResult(email, startedAt, clock, draft, domain.finding, domain.evidence);
    }

    const targets = listTargets(domain.servers, this.settings.smtpPort);
    const probe = await this.askWatched(parsed, targets);
    if (this.isClosed) throw new BulkClosedError();

    // Flags are worked out while other recipients wait for their servers,
    // not in the burst of a run's start, where they would hold up the
    // first DNS answers and sessions.
    const flags = flagAddress(parsed);
    const draft = { parsed, flags, mx: domain.mx };
    if (probe.isAccepted && probe.answeredBy && this.settings.catchAllProbe) {
      flags.catchAll = await this.catchAll.isCatchAll(parsed.domain, probe.answeredBy);
    }
    return buildResult(email, startedAt, clock, draft, probe, probe.evidence);
  }

  /**
   * Asks the servers, telling the catch-all watch what to expect and what
   * came. A recipient waiting out a greylisting delay is not expected
   * meanwhile, and is again once its retry is queued.
   */
  private async askWatched(parsed: ParsedAddress, targets: SocketTarget[]): Promise<MailboxProbe> {
    const domain = parsed.domain;
    const expectedAt = targets[0];
    let isPending = false;
    const expect = () => {
      if (!isPending && expectedAt) this.catchAll.expect(domain, expectedAt);
      isPending = expectedAt !== undefined;
    };
    const release = () => {
      if (isPending && expectedAt) this.catchAll.release(domain, expectedAt);
      isPending = false;
    };

    expect();
    const probe = await this.askServers(parsed, targets, { onDeferred: release, onRetry: expect });
    // The answer first: a refusal must be known before the watch sees
    // nothing else is coming and probes.
    this.catchAll.observe(domain, probe);
    release();
    return probe;
  }

  private judgeDomainOnce(domain: string): Promise<DomainJudgement> {
    let judgement = this.domains.get(domain);
    if (!judgement) {
      const lookup = resolveMailServers(domain, this.deps.resolver, { random: this.deps.random });
      judgement = withinDeadline(lookup, this.settings.timeout * 1000).then((answer) =>
        judgeDomain(answer, this.settings.allowPrivateMx),
      );
      this.domains.set(domain, judgement);
    }
    return judgement;
  }

  private askServers(
    parsed: ParsedAddress,
    targets: SocketTarget[],
    hooks: Pick<RcptJob, 'onDeferred' | 'onRetry'>,
  ): Promise<MailboxProbe> {
    return new Promise((settle) => {
      const job = createRcptJob({
        recipient: parsed.normalized,
        domain: parsed.domain,
        needsSmtpUtf8: parsed.needsSmtpUtf8,
        targets,
        isProbe: false,
        settle,
        ...hooks,
      });
      this.dispatcher.enqueue(job);
    });
  }

  /**
   * The catch-all probe, at most once per domain and server per run, after
   * a real address there was accepted, in a session that carries only
   * probes.
   */
  private async probeCatchAll(
    domain: string,
    server: SocketTarget,
    memory: CatchAllMemory | undefined,
  ): Promise<boolean | null> {
    const probe = await new Promise<MailboxProbe>((settle) => {
      const job = createRcptJob({
        recipient: `${randomLocalPart(this.deps.random)}@${domain}`,
        domain,
        needsSmtpUtf8: false,
        targets: [server],
        isProbe: true,
        settle,
      });
      this.dispatcher.enqueueProbe(job);
    });

    const isCatchAll = decideCatchAll(probe.isAccepted, probe.reason);
    if (isCatchAll !== null) await memory?.remember(domain, isCatchAll);
    return isCatchAll;
  }
}
