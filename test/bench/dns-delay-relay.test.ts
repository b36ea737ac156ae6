import { afterEach, describe, expect, it } from 'vitest';

import { createResolver } from '../../src/verify/create-resolver.js';
import { startDnsDelayRelay } from './dns-delay-relay.js';
import { startDnsServer } from '../helpers/dns-server.js';

const RTT_MS = 100;
const EARLY_MS = 5;

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startRelayedZone() {
  const dns = await startDnsServer({
    'acme.test': { MX: [{ preference: 10, exchange: 'mx1.mailhost.test' }] },
    'mx1.mailhost.test': { A: ['127.0.4.10'] },
  });
  cleanups.push(() => dns.close());
  const relay = await startDnsDelayRelay({ upstreamPort: dns.port, rttMs: RTT_MS });
  cleanups.push(() => relay.close());
  return { dns, resolver: createResolver({ servers: [relay.server], timeoutMs: 2_000 }) };
}

describe('startDnsDelayRelay', () => {
  it('answers through the relay one round trip later', async () => {
    const { resolver } = await startRelayedZone();

    const startedAt = Date.now();
    const records = await resolver.resolveMx('acme.test');

    expect(records).toEqual([{ exchange: 'mx1.mailhost.test', priority: 10 }]);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(RTT_MS - EARLY_MS);
  });

  it('keeps answers apart for questions asked at the same time', async () => {
    const { resolver, dns } = await startRelayedZone();

    const [mx, address] = await Promise.all([
      resolver.resolveMx('acme.test'),
      resolver.resolve4('mx1.mailhost.test'),
    ]);

    expect(mx[0]?.exchange).toBe('mx1.mailhost.test');
    expect(address).toEqual(['127.0.4.10']);
    expect(dns.queries).toHaveLength(2);
  });

  it('passes a missing name on as NXDOMAIN', async () => {
    const { resolver } = await startRelayedZone();

    await expect(resolver.resolveMx('nowhere.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});
