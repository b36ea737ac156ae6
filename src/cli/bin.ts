#!/usr/bin/env node
/**
 * The `mailverify` executable. It decides, before loading the rest of the
 * command line, whether the command must run in a heap-limited process of
 * its own (see run-with-heap-limit.ts), so the hand-over costs no memory.
 */
import { needsHeapLimit, runWithHeapLimit } from './run-with-heap-limit.js';

const args = process.argv.slice(2);
if (needsHeapLimit(args, process.env)) {
  process.exitCode = await runWithHeapLimit(process.argv[1]!, args);
} else {
  const { run } = await import('./main.js');
  const io = { stdin: process.stdin, stdout: process.stdout, env: process.env };
  process.exitCode = await run(args, io);
}
