/**
 * A minimal SOCKS5 proxy on 127.0.0.1 for opener tests: RFC 1928 CONNECT
 * with "no authentication" or RFC 1929 user/password, recording every
 * request. It forwards only to loopback addresses, so no test can reach
 * beyond this machine through it.
 */
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface Socks5Request {
  addressType: 'ipv4' | 'ipv6' | 'domain';
  host: string;
  port: number;
  /** The RFC 1929 user name, when the client authenticated. */
  userId: string | null;
}

export interface Socks5ServerOptions {
  /** Demands RFC 1929 authentication with exactly these credentials. */
  credentials?: { userId: string; password: string };
  /** Accepts the TCP connection and then never answers. */
  isSilent?: boolean;
}

export interface Socks5Server {
  host: string;
  port: number;
  requests: Socks5Request[];
  close(): Promise<void>;
}

const VERSION = 0x05;
const NO_AUTH = 0x00;
const USER_PASS = 0x02;
const NO_ACCEPTABLE_METHOD = 0xff;

// RFC 1928 6: reply codes.
const SUCCEEDED = 0x00;
const NOT_ALLOWED = 0x02;
const HOST_UNREACHABLE = 0x04;
const CONNECTION_REFUSED = 0x05;
const ADDRESS_TYPE_NOT_SUPPORTED = 0x08;

type Stage = 'greeting' | 'auth' | 'request' | 'relaying';

export async function startSocks5Server(options: Socks5ServerOptions = {}): Promise<Socks5Server> {
  const requests: Socks5Request[] = [];
  const sockets = new Set<net.Socket>();

  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    client.once('close', () => sockets.delete(client));
    if (options.isSilent !== true) {
      serveClient(client, options, requests, sockets);
    }
  });

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    host: '127.0.0.1',
    port,
    requests,
    close: async () => {
      for (const socket of sockets) {
        socket.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function serveClient(
  client: net.Socket,
  options: Socks5ServerOptions,
  requests: Socks5Request[],
  sockets: Set<net.Socket>,
): void {
  let buffer = Buffer.alloc(0);
  let stage: Stage = 'greeting';
  let userId: string | null = null;

  const onData = (chunk: Buffer): void => {
    buffer = Buffer.concat([buffer, chunk]);

    // Each pass either consumes a whole message or waits for more bytes.
    while (stage !== 'relaying') {
      const used = step();
      if (used === 0) {
        return;
      }
      buffer = buffer.subarray(used);
    }
  };

  const step = (): number => {
    if (stage === 'greeting') {
      return readGreeting();
    }
    if (stage === 'auth') {
      return readAuth();
    }
    return readRequest();
  };

  const readGreeting = (): number => {
    const count = buffer[1];
    if (buffer.length < 2 || count === undefined || buffer.length < 2 + count) {
      return 0;
    }
    const methods = [...buffer.subarray(2, 2 + count)];
    const wanted = options.credentials === undefined ? NO_AUTH : USER_PASS;
    if (buffer[0] !== VERSION || !methods.includes(wanted)) {
      client.end(Buffer.from([VERSION, NO_ACCEPTABLE_METHOD]));
      return 0;
    }
    client.write(Buffer.from([VERSION, wanted]));
    stage = wanted === USER_PASS ? 'auth' : 'request';
    return 2 + count;
  };

  // RFC 1929 2: VER=1, ULEN, UNAME, PLEN, PASSWD.
  const readAuth = (): number => {
    const userLength = buffer[1] ?? 0;
    const passwordLength = buffer[2 + userLength];
    if (buffer.length < 2 || passwordLength === undefined) {
      return 0;
    }
    const size = 3 + userLength + passwordLength;
    if (buffer.length < size) {
      return 0;
    }
    const user = buffer.subarray(2, 2 + userLength).toString('utf8');
    const password = buffer.subarray(3 + userLength, size).toString('utf8');
    const isAccepted =
      user === options.credentials?.userId && password === options.credentials.password;
    if (!isAccepted) {
      client.end(Buffer.from([0x01, 0x01]));
      return 0;
    }
    client.write(Buffer.from([0x01, 0x00]));
    userId = user;
    stage = 'request';
    return size;
  };

  const readRequest = (): number => {
    const parsed = parseRequest(buffer);
    if (parsed === null) {
      return 0;
    }
    const request: Socks5Request = { ...parsed.destination, userId };
    requests.push(request);
    stage = 'relaying';
    client.off('data', onData);
    client.pause();
    relay(client, request, buffer.subarray(parsed.size), sockets);
    return parsed.size;
  };

  client.on('data', onData);
}

function parseRequest(
  buffer: Buffer,
): { destination: Omit<Socks5Request, 'userId'>; size: number } | null {
  const addressType = buffer[3];
  if (buffer.length < 5 || addressType === undefined) {
    return null;
  }

  const domainLength = buffer[4] ?? 0;
  const addressLength = { 1: 4, 3: 1 + domainLength, 4: 16 }[addressType] ?? 0;
  const size = 4 + addressLength + 2;
  if (addressLength === 0 || buffer.length < size) {
    return addressLength === 0 ? { destination: unknownAddress(), size: buffer.length } : null;
  }

  const address = buffer.subarray(4, 4 + addressLength);
  const port = buffer.readUInt16BE(4 + addressLength);
  if (addressType === 1) {
    return { destination: { addressType: 'ipv4', host: [...address].join('.'), port }, size };
  }
  if (addressType === 4) {
    const groups = Array.from({ length: 8 }, (_, index) => address.readUInt16BE(index * 2));
    const host = groups.map((group) => group.toString(16)).join(':');
    return { destination: { addressType: 'ipv6', host, port }, size };
  }
  const host = address.subarray(1).toString('ascii');
  return { destination: { addressType: 'domain', host, port }, size };
}

function unknownAddress(): Omit<Socks5Request, 'userId'> {
  return { addressType: 'domain', host: '', port: 0 };
}

function relay(
  client: net.Socket,
  request: Socks5Request,
  early: Buffer,
  sockets: Set<net.Socket>,
): void {
  const answer = (code: number): Buffer =>
    Buffer.from([VERSION, code, 0x00, 0x01, 127, 0, 0, 1, 0, 0]);

  if (request.addressType === 'domain') {
    client.end(answer(ADDRESS_TYPE_NOT_SUPPORTED));
    return;
  }
  if (!isLoopback(request.host)) {
    client.end(answer(NOT_ALLOWED));
    return;
  }

  const upstream = net.connect({ host: request.host, port: request.port });
  sockets.add(upstream);
  upstream.once('close', () => sockets.delete(upstream));
  upstream.once('connect', () => {
    upstream.off('error', onConnectError);
    upstream.on('error', () => client.destroy());
    client.write(answer(SUCCEEDED));
    if (early.length > 0) {
      upstream.write(early);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  });
  const onConnectError = (error: NodeJS.ErrnoException): void => {
    client.end(answer(error.code === 'ECONNREFUSED' ? CONNECTION_REFUSED : HOST_UNREACHABLE));
  };
  upstream.once('error', onConnectError);
  client.once('close', () => upstream.destroy());
}

function isLoopback(host: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === '0:0:0:0:0:0:0:1';
}
