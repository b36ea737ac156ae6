/**
 * The vocabulary of a verification: verdicts, reasons, flags, evidence and
 * the seams (resolver, socket opener, clock) through which the core touches
 * the world. See DESIGN.md, "Words".
 */
import type { Duplex } from 'node:stream';

export type Verdict = 'deliverable' | 'undeliverable' | 'risky' | 'unknown';

export const REASONS = [
  'accepted',
  'invalid_syntax',
  'domain_not_found',
  'no_mail_server',
  'mailbox_not_found',
  'mailbox_disabled',
  'mailbox_full',
  'catch_all',
  'disposable',
  'smtputf8_unsupported',
  'greylisted',
  'blocked',
  'private_mail_server',
  'timeout',
  'connection_failed',
  'temporary_failure',
  'rejected',
  'dns_error',
  'protocol_error',
] as const;

export type Reason = (typeof REASONS)[number];

export interface Flags {
  role: boolean;
  free: boolean;
  disposable: boolean;
  /** null when the catch-all probe did not run or gave no answer. */
  catchAll: boolean | null;
  smtputf8: boolean;
}

/** The SMTP step whose answer decided the verdict. */
export type Stage =
  'syntax' | 'dns' | 'guard' | 'connect' | 'banner' | 'ehlo' | 'tls' | 'mail' | 'rcpt';

export interface SmtpReply {
  code: number;
  /** RFC 3463 enhanced status code from the first line, e.g. "5.1.1". */
  enhancedCode: string | null;
  /** Every line's text, joined with "\n", without codes. */
  text: string;
}

export interface Evidence {
  stage: Stage;
  host: string | null;
  ip: string | null;
  code: number | null;
  enhancedCode: string | null;
  text: string | null;
  /** How many times the deciding step was tried (greylisting retries). */
  attempts: number;
}

export interface MailServer {
  host: string;
  preference: number;
}

export interface VerificationResult {
  /** The address exactly as given. */
  email: string;
  /** Lower-cased A-label domain; local part kept as given. Null when unparseable. */
  normalized: string | null;
  verdict: Verdict;
  reason: Reason;
  score: number;
  flags: Flags;
  /** A likely intended address when the domain looks like a typo. */
  suggestion: string | null;
  mx: MailServer[];
  evidence: Evidence | null;
  durationMs: number;
  checkedAt: string;
}

/**
 * The DNS questions the core asks. Failures reject with Node's error codes
 * (ENOTFOUND, ENODATA, ESERVFAIL, ETIMEOUT, ...), which the core tells apart.
 */
export interface Resolver {
  resolveMx(domain: string): Promise<{ exchange: string; priority: number }[]>;
  resolve4(host: string): Promise<string[]>;
  resolve6(host: string): Promise<string[]>;
}

/** What `mailverify doctor` also asks of DNS: SPF records and reverse names. */
export interface IdentityResolver extends Resolver {
  resolveTxt(name: string): Promise<string[][]>;
  reverse(ip: string): Promise<string[]>;
}

export interface SocketTarget {
  host: string;
  ip: string;
  port: number;
}

/**
 * Opens a byte stream to a mail server. The default dials TCP directly;
 * a SOCKS5 opener tunnels through a proxy. Rejects on failure.
 */
export type SocketOpener = (target: SocketTarget, timeoutMs: number) => Promise<Duplex>;

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};
