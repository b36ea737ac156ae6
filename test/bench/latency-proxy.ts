/**
 * A TCP proxy that puts a simulated network between a verifier and one
 * loopback mail server: every chunk waits half a round trip in each
 * direction, in order, without waiting for the chunk before it. Commands
 * pipelined in one write therefore arrive together and their replies come
 * back together one round trip later, as on a real link; a conversation
 * that waits for each reply pays one round trip per command.
 *
 * A connection costs what TCP makes it cost: the server accepts it once
 * the handshake is done (SYN out, SYN-ACK back, ACK out: a round trip and
 * a half), so the proxy dials the server that long after accepting, and
 * the banner takes half a round trip more to come back: two round trips
 * before a client reads 220.
 */
import net from 'node:net';
import type { Socket } from 'node:net';

export interface LatencyProxyOptions {
  ip: string;
  port: number;
  upstream: { ip: string; port: number };
  rttMs: number;
}

export interface LatencyProxy {
  ip: string;
  close(): Promise<void>;
}

export async function startLatencyProxy(options: LatencyProxyOptions): Promise<LatencyProxy> {
  const halfMs = options.rttMs / 2;
  const sockets = new Set<Socket>();

  // Half-open sockets pass a FIN on like any other chunk: a client that
  // has finished sending still gets the replies that are on their way.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    relayWithDelay(client, options.upstream, halfMs, sockets);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.ip, () => {
      server.off('error', reject);
      resolve();
    });
  });

  return {
    ip: options.ip,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function relayWithDelay(
  client: Socket,
  upstreamAddress: { ip: string; port: number },
  halfMs: number,
  sockets: Set<Socket>,
): void {
  let upstream: Socket | null = null;
  let isConnected = false;
  let hasClientEnded = false;
  const waiting: Buffer[] = [];

  const later = (step: () => void): void => {
    setTimeout(step, halfMs);
  };
  const destroyBoth = (): void => {
    client.destroy();
    upstream?.destroy();
  };
  const sendUp = (chunk: Buffer): void => {
    if (!isConnected) waiting.push(chunk);
    else if (upstream !== null && !upstream.destroyed) upstream.write(chunk);
  };
  const sendDown = (chunk: Buffer): void => {
    if (!client.destroyed) client.write(chunk);
  };

  // A closing side is ended, not destroyed, so that chunks still on the
  // delay line behind it are delivered first.
  client.on('data', (chunk: Buffer) => later(() => sendUp(chunk)));
  client.on('end', () =>
    later(() => {
      hasClientEnded = true;
      if (isConnected) upstream?.end();
    }),
  );
  client.on('close', () => later(() => upstream?.end()));
  client.on('error', () => later(destroyBoth));

  // The server accepts once the handshake's last ACK arrives.
  setTimeout(() => {
    if (client.destroyed) return;
    const target = { host: upstreamAddress.ip, port: upstreamAddress.port };
    const socket = net.connect({ ...target, allowHalfOpen: true });
    upstream = socket;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('connect', () => {
      isConnected = true;
      for (const chunk of waiting.splice(0)) socket.write(chunk);
      if (hasClientEnded) socket.end();
    });
    socket.on('data', (chunk: Buffer) => later(() => sendDown(chunk)));
    socket.on('end', () => later(() => client.end()));
    socket.on('close', () => later(() => client.end()));
    socket.on('error', () => later(destroyBoth));
  }, 3 * halfMs);
}
