/**
 * The flow of one address (DESIGN.md): syntax, DNS, guard, SMTP, catch-all,
 * verdict. Every phase's outcome is data; the first phase that settles the
 * verdict ends the flow.
 */
import pino from 'pino';
import type { Logger } from 'pino';

import type { Finding } from './decide-verdict.js';
import { detectCatchAll } from './detect-catch-all.js';
import type { CatchAllMemory } from './detect-catch-all.js';
import { parseAddress } from './parse-address.js';
import { probeMailbox } from './probe-mailbox.js';
import { resolveMailServers } from './resolve-mail-servers.js';
import type { Clock, Evidence, Resolver, SocketOpener, VerificationResult } from './types.js';
import {
  buildResult,
  flagAddress,
  judgeDomain,
  stageEvidence,
  toProbeSettings,
  withinDeadline,
} from './verification-steps.js';
import type { Draft, VerifierSettings } from './verification-steps.js';

export type { VerifierSettings } from './verification-steps.js';

/** Least time the SMTP pass gets, even when DNS was slow. */
const MIN_PASS_MS = 1_000;

export interface VerifierDeps {
  resolver: Resolver;
  opener: SocketOpener;
  clock: Clock;
  random: () => number;
  logger?: Logger;
  catchAllMemory?: CatchAllMemory;
}

export async function verifyAddress(
  email: string,
  settings: VerifierSettings,
  deps: VerifierDeps,
): Promise<VerificationResult> {
  const startedAt = deps.clock.now();
  const logger = deps.logger ?? pino({ level: 'silent' });
  const finish = (draft: Partial<Draft>, finding: Finding, evidence: Evidence | null) =>
    buildResult(email, startedAt, deps.clock, draft, finding, evidence);

  const syntax = parseAddress(email);
  if (!syntax.ok) {
    const evidence = stageEvidence('syntax', syntax.detail);
    return finish({}, { verdict: 'undeliverable', reason: 'invalid_syntax' }, evidence);
  }
  const parsed = syntax.address;
  const flags = flagAddress(parsed);

  const deadlineMs = settings.timeout * 1000;
  const lookup = await withinDeadline(
    resolveMailServers(parsed.domain, deps.resolver, { random: deps.random }),
    deadlineMs,
  );
  const domain = judgeDomain(lookup, settings.allowPrivateMx);
  const draft: Draft = { parsed, flags, mx: domain.mx };
  if (domain.kind === 'decided') return finish(draft, domain.finding, domain.evidence);
  const servers = domain.servers;

  const probeSettings = toProbeSettings(settings);
  const timeLeft = deadlineMs - (deps.clock.now() - startedAt);
  const firstPassTimeoutMs = Math.max(MIN_PASS_MS, Math.min(deadlineMs, timeLeft));
  const probeDeps = { opener: deps.opener, clock: deps.clock, logger };
  const probe = await probeMailbox(
    parsed.normalized,
    parsed.needsSmtpUtf8,
    servers,
    { ...probeSettings, firstPassTimeoutMs },
    probeDeps,
  );

  if (probe.isAccepted && probe.answeredBy && settings.catchAllProbe) {
    flags.catchAll = await detectCatchAll(parsed.domain, probe.answeredBy, probeSettings, {
      ...probeDeps,
      random: deps.random,
      memory: deps.catchAllMemory,
    });
  }

  return finish(draft, probe, probe.evidence);
}
