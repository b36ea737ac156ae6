/**
 * The verdict rules and the score, as pure functions. The README's verdict
 * table is this file in prose; change them together.
 */
import type { Flags, Reason, Verdict } from './types.js';

export interface Finding {
  verdict: Verdict;
  reason: Reason;
}

/**
 * Applies what the flags add to what the mail server said. A mailbox that
 * accepts at a catch-all domain proves nothing (the domain accepts every
 * address), and a disposable domain is risky whatever its server says.
 */
export function decideVerdict(finding: Finding, flags: Flags): Finding {
  const isAccepted = finding.verdict === 'deliverable';
  const isAcceptedAtCatchAll = finding.verdict === 'risky' && finding.reason === 'catch_all';

  if (flags.disposable && (isAccepted || isAcceptedAtCatchAll)) {
    return { verdict: 'risky', reason: 'disposable' };
  }
  if (isAccepted && flags.catchAll === true) {
    return { verdict: 'risky', reason: 'catch_all' };
  }
  return finding;
}

/** Base score per reason: how likely a message would be delivered, 0 to 100. */
const BASE_SCORE: Record<Reason, number> = {
  accepted: 95,
  catch_all: 60,
  greylisted: 50,
  temporary_failure: 45,
  blocked: 40,
  timeout: 40,
  dns_error: 40,
  connection_failed: 35,
  protocol_error: 35,
  rejected: 30,
  disposable: 30,
  mailbox_full: 25,
  private_mail_server: 20,
  smtputf8_unsupported: 5,
  mailbox_disabled: 3,
  mailbox_not_found: 2,
  no_mail_server: 0,
  domain_not_found: 0,
  invalid_syntax: 0,
};

export function scoreResult(finding: Finding, flags: Flags): number {
  let score = BASE_SCORE[finding.reason];
  if (finding.verdict === 'undeliverable') return Math.min(score, 5);

  // Role mailboxes (info@, sales@) are often lists or unread aliases, and
  // complaints from them weigh on sender reputation.
  if (flags.role) score -= 10;
  return Math.max(0, Math.min(100, score));
}
