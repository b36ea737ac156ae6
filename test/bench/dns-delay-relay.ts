/**
 * A UDP relay in front of the loopback DNS server that delays every
 * datagram by half a round trip each way, so that a lookup costs what it
 * costs on a real network whoever asks: the verifiers in this process and
 * the command line in a child process alike.
 *
 * Only UDP is relayed. The benchmark zone's answers fit in 512 bytes, so
 * the resolver never needs to repeat a question over TCP (RFC 1035 4.2.1).
 */
import dgram from 'node:dgram';
import type { Socket } from 'node:dgram';

export interface DnsDelayRelay {
  /** "127.0.0.1:PORT", to give to a resolver. */
  server: string;
  close(): Promise<void>;
}

/**
 * c-ares uses a handful of sockets and may open new ones over a long run;
 * the oldest upstream socket is let go beyond this many.
 */
const MAX_CLIENT_ENDPOINTS = 256;

export async function startDnsDelayRelay(options: {
  upstreamPort: number;
  rttMs: number;
}): Promise<DnsDelayRelay> {
  const halfMs = options.rttMs / 2;
  const relay = await bindUdp();
  const upstreams = new Map<string, Promise<Socket>>();
  let isClosed = false;

  // One upstream socket per client endpoint, so an answer finds its way
  // back to the socket that asked.
  const upstreamFor = (address: string, port: number): Promise<Socket> => {
    const key = `${address}:${port}`;
    const known = upstreams.get(key);
    if (known) return known;
    const [oldestKey, oldest] = upstreams.entries().next().value ?? [];
    if (upstreams.size >= MAX_CLIENT_ENDPOINTS && oldestKey !== undefined && oldest) {
      upstreams.delete(oldestKey);
      void oldest.then(closeSocket);
    }

    const opened = bindUdp().then((socket) => {
      socket.on('message', (answer) => {
        setTimeout(() => {
          if (!isClosed) sendQuietly(relay, answer, port, address);
        }, halfMs);
      });
      return socket;
    });
    upstreams.set(key, opened);
    return opened;
  };

  relay.on('message', (question, peer) => {
    setTimeout(() => {
      if (isClosed) return;
      void upstreamFor(peer.address, peer.port).then((socket) => {
        if (!isClosed) sendQuietly(socket, question, options.upstreamPort, '127.0.0.1');
      });
    }, halfMs);
  });

  return {
    server: `127.0.0.1:${relay.address().port}`,
    close: async () => {
      isClosed = true;
      const sockets = await Promise.all(upstreams.values());
      await Promise.all([relay, ...sockets].map(closeSocket));
    },
  };
}

function bindUdp(): Promise<Socket> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

/** A socket closed meanwhile drops the datagram, as a network may. */
function sendQuietly(socket: Socket, message: Buffer, port: number, address: string): void {
  try {
    socket.send(message, port, address);
  } catch {
    // dropped
  }
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}
