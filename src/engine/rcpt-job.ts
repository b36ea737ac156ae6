/**
 * One recipient waiting for a mail server's answer in the bulk engine. A job
 * moves through its domain's mail servers in preference order and settles
 * once with the answer that decides.
 */
import type { MailboxProbe } from '../verify/judge-conversation.js';
import type { SocketTarget } from '../verify/types.js';

export interface RcptJob {
  recipient: string;
  domain: string;
  needsSmtpUtf8: boolean;
  /** The domain's mail server addresses, most preferred first. */
  targets: SocketTarget[];
  targetIndex: number;
  /** RCPT attempts so far, as reported in the evidence. */
  attempts: number;
  /** Deferral retries used from the greylisting schedule. */
  retriesDone: number;
  /** Fresh-session retries used after "too many recipients" answers. */
  newSessionRetries: number;
  /** A catch-all probe: asked only in probe sessions, never retried. */
  isProbe: boolean;
  /** The most telling trouble met at servers passed over. */
  lastTrouble: MailboxProbe | null;
  settle(probe: MailboxProbe): void;
  /** The answer was a deferral: the job waits out a retry delay. */
  onDeferred?: () => void;
  /** The delay is over: the job is queued to be asked again. */
  onRetry?: () => void;
}

/** What a new job needs; the counters start at their first attempt. */
export type NewRcptJob = Pick<
  RcptJob,
  | 'recipient'
  | 'domain'
  | 'needsSmtpUtf8'
  | 'targets'
  | 'isProbe'
  | 'settle'
  | 'onDeferred'
  | 'onRetry'
>;

export function createRcptJob(fields: NewRcptJob): RcptJob {
  return {
    ...fields,
    targetIndex: 0,
    attempts: 1,
    retriesDone: 0,
    newSessionRetries: 0,
    lastTrouble: null,
  };
}

export function currentTarget(job: RcptJob): SocketTarget | undefined {
  return job.targets[job.targetIndex];
}

export function targetKey(target: SocketTarget): string {
  return `${target.ip}|${target.port}`;
}
