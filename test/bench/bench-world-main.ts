/**
 * Child process of the benchmark (see bench-world-process.ts): starts the
 * world its first input line describes, answers each later line, and
 * closes the world when its input ends.
 */
import { createInterface } from 'node:readline';

import { startBenchWorld } from './bench-world.js';
import type { BenchWorld, BenchWorldOptions } from './bench-world.js';
import type { WorldRequest, WorldStarted } from './bench-world-process.js';

const answer = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value)}\n`);

let world: Promise<BenchWorld> | null = null;
// Lines are handled one after another, so answers keep the requests' order.
let turn: Promise<void> = Promise.resolve();

createInterface({ input: process.stdin }).on('line', (line) => {
  turn = turn.then(async () => {
    if (!world) {
      world = startBenchWorld(JSON.parse(line) as BenchWorldOptions);
      const started = await world;
      answer({ smtpPort: started.smtpPort, dnsServer: started.dnsServer } satisfies WorldStarted);
      return;
    }
    const running = await world;
    const request = line as WorldRequest;
    if (request === 'totals') answer(await running.totals());
    else if (request === 'reset') {
      await running.reset();
      answer({});
    } else answer({ error: `unknown request ${line}` });
  });
  turn.catch((error: Error) => {
    process.stderr.write(`bench world: ${error.message}\n`);
    process.exit(1);
  });
});

process.stdin.on('end', () => {
  void turn.then(async () => (await world)?.close()).finally(() => process.exit(0));
});
