/**
 * Counts SMTP sessions for /metrics by wrapping the socket opener: every
 * attempt by how it ended, and the sessions open now. The opener rejects
 * with Node's errno names (src/verify/open-socket.ts), which name the
 * outcome.
 */
import type { SocketOpener } from '../verify/types.js';
import type { Metrics, SessionOutcome } from './metrics.js';

const OUTCOMES: Record<string, SessionOutcome> = {
  ECONNREFUSED: 'refused',
  ECONNRESET: 'refused',
  ETIMEDOUT: 'timeout',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
};

export function observeOpener(opener: SocketOpener, metrics: Metrics): SocketOpener {
  return async (target, timeoutMs) => {
    try {
      const socket = await opener(target, timeoutMs);
      metrics.smtpSessions.inc({ outcome: 'connected' });
      metrics.smtpSessionsOpen.inc();
      socket.once('close', () => metrics.smtpSessionsOpen.dec());
      return socket;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      const outcome = (typeof code === 'string' && OUTCOMES[code]) || 'failed';
      metrics.smtpSessions.inc({ outcome });
      throw error;
    }
  };
}
