/**
 * The TLS handshake over a connection after the server's go-ahead for
 * STARTTLS (RFC 3207), bounded by its own timeout and by the session's
 * abort signal. The outcome is data: the TLS socket, or why there is none.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { ChannelFailure } from './reply-channel.js';

export interface SecureSocketOptions {
  /** The mail server's host name, for SNI; a trailing dot is dropped. */
  host: string;
  rejectUnauthorized: boolean;
  timeoutMs: number;
  signal: AbortSignal | undefined;
}

export type Secured = { ok: true; socket: tls.TLSSocket } | { ok: false; failure: ChannelFailure };

// TODO: Node's default floor is TLS 1.2, so a server that speaks only TLS
// 1.0 or 1.1 fails the handshake here; the caller's plain-text retry then
// probes it without TLS rather than over old TLS.
export function secureSocket(socket: Duplex, options: SecureSocketOptions): Promise<Secured> {
  const { signal, timeoutMs } = options;
  const host = options.host.replace(/\.$/, '');
  const secured = tls.connect({
    socket,
    // SNI carries host names only (RFC 6066 3), never address literals.
    servername: net.isIP(host) === 0 && host !== '' ? host : undefined,
    rejectUnauthorized: options.rejectUnauthorized,
  });

  return new Promise((resolve) => {
    const settle = (outcome: Secured): void => {
      clearTimeout(timer);
      secured.off('secureConnect', onSecure);
      secured.off('error', onError);
      secured.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
      if (!outcome.ok) {
        secured.on('error', ignoreError);
        secured.destroy();
      }
      resolve(outcome);
    };
    const onSecure = (): void => settle({ ok: true, socket: secured });
    const onError = (error: NodeJS.ErrnoException): void => {
      const failure: ChannelFailure = {
        kind: signal?.aborted === true ? 'timeout' : 'tls_failed',
        message: `TLS handshake failed: ${error.message}`,
      };
      settle({
        ok: false,
        failure: error.code === undefined ? failure : { ...failure, code: error.code },
      });
    };
    const onClose = (): void => {
      const message = 'connection closed during the TLS handshake';
      settle({
        ok: false,
        failure: { kind: signal?.aborted === true ? 'timeout' : 'tls_failed', message },
      });
    };
    const onAbort = (): void => {
      settle({
        ok: false,
        failure: { kind: 'timeout', message: 'aborted: the overall deadline passed' },
      });
    };
    const timer = setTimeout(() => {
      const message = `TLS handshake took longer than ${timeoutMs} ms`;
      settle({ ok: false, failure: { kind: 'tls_failed', message, code: 'ETIMEDOUT' } });
    }, timeoutMs);

    secured.once('secureConnect', onSecure);
    secured.once('error', onError);
    secured.once('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function ignoreError(): void {}
