import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';

import {
  createSocks5Opener,
  createTcpOpener,
  parseProxyUrl,
} from '../../src/verify/open-socket.js';
import type { SocketTarget } from '../../src/verify/types.js';
import { findClosedPort, startLineServer, startStalledListener } from '../helpers/smtp-servers.js';
import { startSocks5Server } from '../helpers/socks5-server.js';

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

async function startBannerServer() {
  const server = await startLineServer({ banner: '220 mx.example.test ESMTP ready' });
  cleanups.push(() => server.close());
  return server;
}

function readFirstLine(socket: Duplex): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('\r\n')) {
        resolve(text.slice(0, text.indexOf('\r\n')));
      }
    });
    socket.once('error', reject);
  });
}

async function captureError(attempt: Promise<unknown>): Promise<NodeJS.ErrnoException> {
  try {
    await attempt;
  } catch (error) {
    return error as NodeJS.ErrnoException;
  }
  throw new Error('expected the opener to reject');
}

describe('createTcpOpener', () => {
  it('connects to the target IP and yields a working byte stream', async () => {
    const server = await startBannerServer();

    const socket = await createTcpOpener()(server.target, 2_000);
    cleanups.push(() => void socket.destroy());

    expect(await readFirstLine(socket)).toBe('220 mx.example.test ESMTP ready');
  });

  it('binds the local address when one is given', async () => {
    const server = await startBannerServer();

    const socket = await createTcpOpener({ localAddress: '127.0.0.2' })(server.target, 2_000);
    cleanups.push(() => void socket.destroy());
    await readFirstLine(socket);

    expect(server.connections[0]?.socket.remoteAddress).toBe('127.0.0.2');
  });

  it('rejects with ECONNREFUSED when nothing listens', async () => {
    const port = await findClosedPort();
    const target = { host: 'mx.example.test', ip: '127.0.0.1', port };

    const error = await captureError(createTcpOpener()(target, 2_000));

    expect(error.code).toBe('ECONNREFUSED');
    expect(error.message).toContain(`mx.example.test (127.0.0.1:${port})`);
  });

  it('rejects with ETIMEDOUT when the connection is not accepted in time', async () => {
    const stalled = await startStalledListener();
    cleanups.push(() => stalled.close());
    const started = Date.now();

    const error = await captureError(createTcpOpener()(stalled.target, 300));

    expect(error.code).toBe('ETIMEDOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('refuses a host name in place of the vetted IP', () => {
    const target: SocketTarget = { host: 'mx.example.test', ip: 'mx.example.test', port: 25 };

    expect(() => createTcpOpener()(target, 1_000)).toThrow(/must be an IP address/);
  });

  it('refuses an out-of-range port and a non-positive timeout', () => {
    const opener = createTcpOpener();

    expect(() => opener({ host: 'a', ip: '127.0.0.1', port: 0 }, 1_000)).toThrow(/port/);
    expect(() => opener({ host: 'a', ip: '127.0.0.1', port: 25 }, 0)).toThrow(/timeout/);
  });

  it('refuses a local address that is not an IP', () => {
    expect(() => createTcpOpener({ localAddress: 'eth0' })).toThrow(/localAddress/);
  });
});

describe('parseProxyUrl', () => {
  it('reads host, port and credentials', () => {
    expect(parseProxyUrl('socks5://alice:s%40cret@proxy.example.test:1085')).toEqual({
      host: 'proxy.example.test',
      port: 1085,
      userId: 'alice',
      password: 's@cret',
    });
  });

  it('defaults to port 1080 and no credentials', () => {
    expect(parseProxyUrl('socks5://10.1.2.3')).toEqual({ host: '10.1.2.3', port: 1080 });
  });

  it('unwraps an IPv6 host', () => {
    expect(parseProxyUrl('socks5://[::1]:9050/')).toEqual({ host: '::1', port: 9050 });
  });

  it.each([
    ['a non-URL', 'proxy.example.test:1080', /not a URL|socks5 scheme/],
    ['an http proxy', 'http://proxy.example.test:3128', /socks5 scheme/],
    ['socks4', 'socks4://proxy.example.test:1080', /socks5 scheme/],
    ['a port out of range', 'socks5://proxy.example.test:70000', /not a URL/],
    ['port zero', 'socks5://proxy.example.test:0', /port/],
    ['a path', 'socks5://proxy.example.test:1080/tunnel', /path/],
    ['a user without a password', 'socks5://alice@proxy.example.test:1080', /credentials/],
    ['no host', 'socks5://:1080', /not a URL|no host/],
  ])('refuses %s', (_name, url, message) => {
    expect(() => parseProxyUrl(url)).toThrow(message);
  });

  it('keeps the password out of the error message', () => {
    expect(() => parseProxyUrl('socks5://alice:hunter2@proxy.example.test/x')).toThrow(
      /alice:\*\*\*@/,
    );
    expect(() => parseProxyUrl('socks5://alice:hunter2@proxy.example.test/x')).not.toThrow(
      /hunter2/,
    );
  });
});

describe('createSocks5Opener', () => {
  it('refuses a malformed proxy URL when created', () => {
    expect(() => createSocks5Opener('https://proxy.example.test')).toThrow(/socks5 scheme/);
  });

  it('tunnels to the target IP through the proxy, never sending the host name', async () => {
    const server = await startBannerServer();
    const proxy = await startSocks5Server();
    cleanups.push(() => proxy.close());

    const opener = createSocks5Opener(`socks5://${proxy.host}:${proxy.port}`);
    const socket = await opener(server.target, 2_000);
    cleanups.push(() => void socket.destroy());

    expect(await readFirstLine(socket)).toBe('220 mx.example.test ESMTP ready');
    expect(proxy.requests).toEqual([
      { addressType: 'ipv4', host: '127.0.0.1', port: server.target.port, userId: null },
    ]);
  });

  it('authenticates with the credentials from the URL', async () => {
    const server = await startBannerServer();
    const proxy = await startSocks5Server({ credentials: { userId: 'alice', password: 'p w' } });
    cleanups.push(() => proxy.close());

    const opener = createSocks5Opener(`socks5://alice:p%20w@${proxy.host}:${proxy.port}`);
    const socket = await opener(server.target, 2_000);
    cleanups.push(() => void socket.destroy());

    expect(await readFirstLine(socket)).toMatch(/^220 /);
    expect(proxy.requests[0]?.userId).toBe('alice');
  });

  it('rejects with EPROXY when the proxy refuses the credentials', async () => {
    const server = await startBannerServer();
    const proxy = await startSocks5Server({ credentials: { userId: 'alice', password: 'right' } });
    cleanups.push(() => proxy.close());

    const opener = createSocks5Opener(`socks5://alice:wrong@${proxy.host}:${proxy.port}`);
    const error = await captureError(opener(server.target, 2_000));

    expect(error.code).toBe('EPROXY');
    expect(error.message).toContain(`via SOCKS5 proxy ${proxy.host}:${proxy.port}`);
  });

  it('rejects with ECONNREFUSED when the proxy reports the target refused', async () => {
    const proxy = await startSocks5Server();
    cleanups.push(() => proxy.close());
    const port = await findClosedPort();

    const opener = createSocks5Opener(`socks5://${proxy.host}:${proxy.port}`);
    const error = await captureError(opener({ host: 'mx', ip: '127.0.0.1', port }, 2_000));

    expect(error.code).toBe('ECONNREFUSED');
  });

  it('rejects with ECONNREFUSED when the proxy itself is down', async () => {
    const port = await findClosedPort();

    const opener = createSocks5Opener(`socks5://127.0.0.1:${port}`);
    const error = await captureError(opener({ host: 'mx', ip: '127.0.0.1', port: 25 }, 2_000));

    expect(error.code).toBe('ECONNREFUSED');
  });

  it('rejects with ETIMEDOUT when the proxy never answers', async () => {
    const proxy = await startSocks5Server({ isSilent: true });
    cleanups.push(() => proxy.close());
    const started = Date.now();

    const opener = createSocks5Opener(`socks5://${proxy.host}:${proxy.port}`);
    const error = await captureError(opener({ host: 'mx', ip: '127.0.0.1', port: 25 }, 300));

    expect(error.code).toBe('ETIMEDOUT');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('refuses a host name in place of the vetted IP', () => {
    const opener = createSocks5Opener('socks5://127.0.0.1:1080');

    expect(() => opener({ host: 'mx', ip: 'mx.example.test', port: 25 }, 1_000)).toThrow(
      /must be an IP address/,
    );
  });
});
