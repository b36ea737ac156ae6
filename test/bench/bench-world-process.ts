/**
 * The benchmark's world in a child process of its own: its mail servers,
 * latency proxies and DNS relay then run on the other core, and their
 * timers fire on time however busy the verifier under test keeps this
 * process, as real servers and a real network would. Only ports and
 * counts cross over, one line of JSON each way per request; the world's
 * addresses and truths follow from its options on both sides.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { checkWorldOptions, viewWorld } from './bench-world.js';
import type { BenchWorld, BenchWorldOptions, ServerTotals } from './bench-world.js';

/** The compiled entry point of the child; `npm run bench` builds it first. */
const CHILD_SCRIPT = fileURLToPath(
  new URL('../../dist/test/bench/bench-world-main.js', import.meta.url),
);
const ANSWER_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 5_000;

/** A request to the child, one line each; the first line is the options. */
export type WorldRequest = 'totals' | 'reset';

export interface WorldStarted {
  smtpPort: number;
  dnsServer: string;
}

export async function startBenchWorldProcess(options: BenchWorldOptions): Promise<BenchWorld> {
  checkWorldOptions(options);
  if (!existsSync(CHILD_SCRIPT)) {
    throw new Error(`${CHILD_SCRIPT} is missing: \`npm run bench\` compiles it before it runs`);
  }
  const child = spawn(process.execPath, [CHILD_SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
  let exitCode: number | null = null;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code ?? -1;
      resolve();
    }),
  );
  const lines = createInterface({ input: child.stdout });
  const waiting: { resolve: (line: string) => void; reject: (error: Error) => void }[] = [];
  lines.on('line', (line) => waiting.shift()?.resolve(line));
  void exited.then(() => {
    for (const pending of waiting.splice(0)) {
      pending.reject(new Error(`the world process exited with code ${exitCode}`));
    }
  });

  // Requests are answered in order, so each waits for the next line.
  const ask = (line: string): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      if (exitCode !== null) {
        reject(new Error(`the world process exited with code ${exitCode}`));
        return;
      }
      const timer = setTimeout(
        () => reject(new Error('the world process did not answer')),
        ANSWER_TIMEOUT_MS,
      );
      const settle =
        <T>(done: (value: T) => void) =>
        (value: T) => {
          clearTimeout(timer);
          done(value);
        };
      waiting.push({ resolve: settle(resolve), reject: settle(reject) });
      child.stdin.write(`${line}\n`);
    });
  const close = async (): Promise<void> => {
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  let started: WorldStarted;
  try {
    started = JSON.parse(await ask(JSON.stringify(options))) as WorldStarted;
  } catch (error) {
    await close();
    throw error;
  }
  return viewWorld(options, {
    ...started,
    totals: async () => JSON.parse(await ask('totals' satisfies WorldRequest)) as ServerTotals,
    reset: async () => void (await ask('reset' satisfies WorldRequest)),
    close,
  });
}
