/**
 * Child process of the benchmark: runs the delay network described by the
 * first line of its input (see delay-network.ts) until its input ends.
 */
import { createInterface } from 'node:readline';

import { startDelayNetwork } from './delay-network.js';
import type { DelayNetwork, DelayNetworkPlan } from './delay-network.js';

const lines = createInterface({ input: process.stdin });
let network: DelayNetwork | null = null;

lines.once('line', (line) => {
  startDelayNetwork(JSON.parse(line) as DelayNetworkPlan).then(
    (started) => {
      network = started;
      process.stdout.write(`${JSON.stringify({ dnsServer: started.dnsServer })}\n`);
    },
    (error: NodeJS.ErrnoException) => {
      process.stdout.write(`${JSON.stringify({ error: error.message, code: error.code })}\n`);
    },
  );
});

process.stdin.on('end', () => {
  void (network?.close() ?? Promise.resolve()).then(() => process.exit(0));
});
