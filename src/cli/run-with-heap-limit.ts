/**
 * `mailverify file` streams any number of rows in bounded memory, but V8
 * sizes its heap limit from the machine's memory (gigabytes here) and lets
 * short-lived garbage pile up to hundreds of megabytes before collecting.
 * The command therefore runs itself again under a heap limit: a
 * million-row file then stays near 200 MB of RSS instead of 370 MB.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/** Old-space limit for the `file` command, in megabytes. */
const FILE_HEAP_LIMIT_MB = 160;

const HEAP_FLAG = '--max-old-space-size';

/** True when this process should hand `file` over to a heap-limited one. */
export function needsHeapLimit(args: readonly string[], env: NodeJS.ProcessEnv): boolean {
  const hasLimit =
    process.execArgv.some((flag) => flag.startsWith(HEAP_FLAG)) ||
    (env.NODE_OPTIONS ?? '').includes(HEAP_FLAG);
  return args[0] === 'file' && !hasLimit;
}

/**
 * Runs the same command in a child with the heap limit and returns its
 * exit status. Ctrl-C in a terminal reaches the child through the process
 * group, so this process only ignores it; SIGTERM is passed on.
 */
export function runWithHeapLimit(script: string, args: readonly string[]): Promise<number> {
  const flags = [`${HEAP_FLAG}=${FILE_HEAP_LIMIT_MB}`, ...process.execArgv];
  const child = spawn(process.execPath, [...flags, script, ...args], { stdio: 'inherit' });

  const ignore = () => undefined;
  const passOn = () => child.kill('SIGTERM');
  process.on('SIGINT', ignore);
  process.on('SIGTERM', passOn);

  return new Promise((resolve) => {
    const finish = (status: number) => {
      process.off('SIGINT', ignore);
      process.off('SIGTERM', passOn);
      resolve(status);
    };
    child.once('error', () => finish(1));
    child.once('exit', (code, signal) => {
      if (code !== null) return finish(code);
      finish(128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}
