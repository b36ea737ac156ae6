/**
 * Socket openers: the seam through which the SMTP session reaches a mail
 * server, either by dialling TCP directly or through a SOCKS5 proxy.
 *
 * Both dial the vetted IP address of the target, never its host name, so the
 * guard's decision cannot be undone by a second DNS lookup (here or at the
 * proxy).
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { SocksClient } from 'socks';
import type { SocketOpener, SocketTarget } from './types.js';

/** A proxy as parsed from `socks5://[user:pass@]host[:port]`. */
export interface ProxySettings {
  host: string;
  port: number;
  userId?: string;
  password?: string;
}

/** Error thrown or rejected by an opener; `code` follows Node's errno names. */
export type OpenerError = Error & { code: string };

// RFC 1928 has no default port; 1080 is the registered SOCKS port.
const DEFAULT_SOCKS_PORT = 1080;

// RFC 1929 2: user name and password are 1 to 255 octets each.
const MAX_SOCKS_CREDENTIAL_BYTES = 255;

export function createTcpOpener(options: { localAddress?: string } = {}): SocketOpener {
  const { localAddress } = options;
  if (localAddress !== undefined && net.isIP(localAddress) === 0) {
    throw new Error(`localAddress must be an IP address, got ${JSON.stringify(localAddress)}`);
  }

  return (target, timeoutMs) => {
    requireDialableTarget(target, timeoutMs);
    return connectTcp(target, timeoutMs, localAddress);
  };
}

export function createSocks5Opener(proxyUrl: string): SocketOpener {
  const proxy = parseProxyUrl(proxyUrl);

  return (target, timeoutMs) => {
    requireDialableTarget(target, timeoutMs);
    return connectSocks5(proxy, target, timeoutMs);
  };
}

/** Parses and checks a proxy URL; throws on anything but a usable socks5 URL. */
export function parseProxyUrl(url: string): ProxySettings {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`proxy URL is not a URL: ${JSON.stringify(redactUrl(url))}`);
  }

  const shown = JSON.stringify(redactUrl(url));
  if (parsed.protocol !== 'socks5:') {
    throw new Error(`proxy URL must use the socks5 scheme: ${shown}`);
  }
  if (parsed.hostname === '') {
    throw new Error(`proxy URL has no host: ${shown}`);
  }
  if (!['', '/'].includes(parsed.pathname) || parsed.search !== '' || parsed.hash !== '') {
    throw new Error(`proxy URL must not have a path, query or fragment: ${shown}`);
  }

  const port = parsed.port === '' ? DEFAULT_SOCKS_PORT : Number(parsed.port);
  if (port < 1) {
    throw new Error(`proxy URL port must be 1 to 65535: ${shown}`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port, ...readCredentials(parsed, shown) };
}

function connectTcp(
  target: SocketTarget,
  timeoutMs: number,
  localAddress: string | undefined,
): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.ip, port: target.port, localAddress });

    const settle = (error: OpenerError | null): void => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      if (error === null) {
        resolve(socket);
        return;
      }
      socket.destroy();
      reject(error);
    };
    const onConnect = (): void => settle(null);
    const onError = (error: NodeJS.ErrnoException): void => {
      const code = error.code ?? 'ECONNABORTED';
      settle(openerError(code, `connect to ${describe(target)} failed: ${error.message}`));
    };
    const timer = setTimeout(() => {
      const message = `connect to ${describe(target)} timed out after ${timeoutMs} ms`;
      settle(openerError('ETIMEDOUT', message));
    }, timeoutMs);

    socket.once('connect', onConnect);
    socket.once('error', onError);
  });
}

async function connectSocks5(
  proxy: ProxySettings,
  target: SocketTarget,
  timeoutMs: number,
): Promise<Duplex> {
  try {
    const { socket } = await SocksClient.createConnection({
      proxy: { host: proxy.host, port: proxy.port, type: 5, ...credentialsOf(proxy) },
      command: 'connect',
      destination: { host: target.ip, port: target.port },
      timeout: timeoutMs,
    });
    return socket;
  } catch (error) {
    throw translateSocksError(error, proxy);
  }
}

/**
 * The socks package reports failures as message strings; map the ones that
 * matter to errno codes so callers can tell a timeout and a refusal apart.
 */
function translateSocksError(error: unknown, proxy: ProxySettings): OpenerError {
  const message = error instanceof Error ? error.message : String(error);
  const via = `via SOCKS5 proxy ${proxy.host}:${proxy.port}`;

  if (/timed out/i.test(message)) {
    return openerError('ETIMEDOUT', `connect ${via} timed out: ${message}`);
  }
  if (/ConnectionRefused/.test(message)) {
    return openerError('ECONNREFUSED', `connect ${via} refused: ${message}`);
  }
  if (/HostUnreachable|NetworkUnreachable/.test(message)) {
    return openerError('EHOSTUNREACH', `connect ${via} unreachable: ${message}`);
  }
  if (/ECONNREFUSED/.test(message)) {
    return openerError('ECONNREFUSED', `proxy refused the connection ${via}: ${message}`);
  }
  return openerError('EPROXY', `connect ${via} failed: ${message}`);
}

function readCredentials(parsed: URL, shown: string): Pick<ProxySettings, 'userId' | 'password'> {
  if (parsed.username === '' && parsed.password === '') {
    return {};
  }

  const userId = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  const isWithinLimits = (value: string): boolean => {
    const bytes = Buffer.byteLength(value, 'utf8');
    return bytes >= 1 && bytes <= MAX_SOCKS_CREDENTIAL_BYTES;
  };
  if (!isWithinLimits(userId) || !isWithinLimits(password)) {
    throw new Error(`proxy URL credentials need a user and a password of 1 to 255 bytes: ${shown}`);
  }
  return { userId, password };
}

function credentialsOf(proxy: ProxySettings): Pick<ProxySettings, 'userId' | 'password'> {
  return proxy.userId === undefined ? {} : { userId: proxy.userId, password: proxy.password };
}

function requireDialableTarget(target: SocketTarget, timeoutMs: number): void {
  // A host name here would be resolved again, behind the guard's back.
  if (net.isIP(target.ip) === 0) {
    throw new Error(`socket target ip must be an IP address, got ${JSON.stringify(target.ip)}`);
  }
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
    throw new Error(`socket target port must be 1 to 65535, got ${target.port}`);
  }
  if (!(timeoutMs > 0)) {
    throw new Error(`connect timeout must be positive, got ${timeoutMs}`);
  }
}

function openerError(code: string, message: string): OpenerError {
  return Object.assign(new Error(message), { code });
}

function describe(target: SocketTarget): string {
  const ip = net.isIPv6(target.ip) ? `[${target.ip}]` : target.ip;
  return `${target.host} (${ip}:${target.port})`;
}

/** Keeps passwords out of error messages and logs. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
}
