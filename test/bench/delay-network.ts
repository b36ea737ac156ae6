/**
 * The simulated network between a verifier and the benchmark's servers:
 * a latency proxy in front of each mail server and a delayed relay in
 * front of the DNS server.
 */
import { startDnsDelayRelay } from './dns-delay-relay.js';
import { startLatencyProxy } from './latency-proxy.js';
import type { LatencyProxy } from './latency-proxy.js';

export interface DelayLink {
  /** Where the proxy listens. */
  ip: string;
  port: number;
  upstream: { ip: string; port: number };
}

export interface DelayNetworkPlan {
  rttMs: number;
  links: DelayLink[];
  /** The port of the DNS server on 127.0.0.1 that the relay fronts. */
  dnsUpstreamPort: number;
}

export interface DelayNetwork {
  /** The delayed DNS server, "127.0.0.1:PORT". */
  dnsServer: string;
  close(): Promise<void>;
}

export async function startDelayNetwork(plan: DelayNetworkPlan): Promise<DelayNetwork> {
  const proxies: LatencyProxy[] = [];
  try {
    for (const link of plan.links)
      proxies.push(await startLatencyProxy({ ...link, rttMs: plan.rttMs }));
    const relay = await startDnsDelayRelay({
      upstreamPort: plan.dnsUpstreamPort,
      rttMs: plan.rttMs,
    });
    return {
      dnsServer: relay.server,
      close: async () => {
        await relay.close();
        await Promise.all(proxies.map((proxy) => proxy.close()));
      },
    };
  } catch (error) {
    await Promise.all(proxies.map((proxy) => proxy.close()));
    throw error;
  }
}
