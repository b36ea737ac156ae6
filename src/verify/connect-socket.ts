/**
 * Dialling the mail server for a session: the socket opener runs under the
 * connect timeout and the session's abort signal, and whatever happens the
 * answer is data. A socket that arrives after the answer was given is closed.
 */
import type { Duplex } from 'node:stream';
import type { SessionFailure } from './smtp-session.js';
import type { SocketOpener, SocketTarget } from './types.js';

/** Extra time the opener gets past its own timeout before it is given up on. */
const OPENER_GRACE_MS = 1_000;

export interface ConnectOptions {
  opener: SocketOpener;
  target: SocketTarget;
  timeoutMs: number;
  signal: AbortSignal | undefined;
}

export type Connected = { ok: true; socket: Duplex } | { ok: false; failure: SessionFailure };

/** Runs the opener under the connect timeout and the abort signal. */
export function connectSocket(options: ConnectOptions): Promise<Connected> {
  const { opener, target, timeoutMs, signal } = options;
  if (signal?.aborted === true) {
    return Promise.resolve({ ok: false, failure: abortedFailure() });
  }

  // A synchronous throw here is a programming error and propagates.
  const dialing = opener(target, timeoutMs);

  return new Promise((resolve) => {
    let isSettled = false;
    const settle = (outcome: Connected): void => {
      isSettled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const onAbort = (): void => settle({ ok: false, failure: abortedFailure() });
    const timer = setTimeout(() => {
      const message = `opener gave no answer within ${timeoutMs} ms`;
      settle({ ok: false, failure: { kind: 'timeout', stage: 'connect', message } });
    }, timeoutMs + OPENER_GRACE_MS);
    signal?.addEventListener('abort', onAbort, { once: true });

    dialing.then(
      (socket) => {
        if (isSettled) {
          socket.destroy();
          return;
        }
        settle({ ok: true, socket });
      },
      (error: unknown) => {
        if (!isSettled) {
          settle({ ok: false, failure: connectFailure(error) });
        }
      },
    );
  });
}

function connectFailure(error: unknown): SessionFailure {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const kind = code === 'ETIMEDOUT' ? 'timeout' : 'connection_failed';

  return code === undefined
    ? { kind, stage: 'connect', message }
    : { kind, stage: 'connect', message, code };
}

function abortedFailure(): SessionFailure {
  return { kind: 'timeout', stage: 'connect', message: 'aborted: the overall deadline passed' };
}
