/**
 * Stops an HTTP server gracefully: no new connections, idle keep-alive
 * connections closed at once, requests in progress given until the
 * deadline, then every connection still open is cut.
 */
import type { Server } from 'node:http';

/** How often idle keep-alive connections are swept while requests finish. */
const IDLE_SWEEP_MS = 100;

/** Resolves true when every request finished in time, false when some were cut. */
export async function closeHttpServer(server: Server, deadlineMs: number): Promise<boolean> {
  if (!server.listening) return true;

  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // A connection that finishes its request becomes idle; close it then.
  const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);

  let deadline: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    deadline = setTimeout(() => resolve(false), deadlineMs);
  });
  try {
    const isClean = await Promise.race([closed.then(() => true), timedOut]);
    if (!isClean) {
      server.closeAllConnections();
      await closed;
    }
    return isClean;
  } finally {
    clearInterval(sweep);
    clearTimeout(deadline);
  }
}
