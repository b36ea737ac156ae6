/**
 * The simulated network between a verifier and the benchmark's servers:
 * a latency proxy in front of each mail server and a delayed relay in
 * front of the DNS server. It runs in this process, or in a child process
 * of its own, where its timers fire on time however busy the verifier
 * under test keeps this one; a real network does not wait on the
 * verifier's CPU either.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

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

/** The compiled entry point of the child process; `npm run bench` builds it. */
const CHILD_SCRIPT = fileURLToPath(
  new URL('../../dist/test/bench/delay-network-main.js', import.meta.url),
);
const CHILD_START_TIMEOUT_MS = 20_000;
const CHILD_EXIT_TIMEOUT_MS = 5_000;

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

/**
 * The same network in a child process. The child reads its plan from its
 * first line of input, answers with one line of JSON, and closes when its
 * input ends, so it never outlives this process.
 */
export async function startDelayNetworkProcess(plan: DelayNetworkPlan): Promise<DelayNetwork> {
  if (!existsSync(CHILD_SCRIPT)) {
    throw new Error(`${CHILD_SCRIPT} is missing: \`npm run bench\` compiles it before it runs`);
  }
  const child = spawn(process.execPath, [CHILD_SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout });
  child.stdin.write(`${JSON.stringify(plan)}\n`);

  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('the delay network did not start')),
      CHILD_START_TIMEOUT_MS,
    );
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the delay network exited with code ${code} before it started`));
    });
  });
  const reply = JSON.parse(first) as { dnsServer?: string; error?: string; code?: string };
  if (reply.dnsServer === undefined) {
    child.stdin.end();
    await exited;
    throw Object.assign(new Error(reply.error ?? 'the delay network failed'), { code: reply.code });
  }

  return {
    dnsServer: reply.dnsServer,
    close: async () => {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_EXIT_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
