/**
 * The built `mailverify serve` in a child process, for end-to-end tests and
 * the API benchmark: started, awaited until it prints its listening line,
 * signalled, and awaited until it exits. Needs `npm run build` first.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BUILT_CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

const LISTENING_PATTERN = /^mailverify listening on (http:\/\/\S+)$/;
const MAX_STDERR_CHARS = 16_384;

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  /** The last few kilobytes the child wrote on standard error. */
  stderr(): string;
  /** Resolves with how the child ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function isBuilt(): boolean {
  return existsSync(BUILT_CLI);
}

export async function startServiceProcess(
  args: string[],
  env: NodeJS.ProcessEnv,
  startTimeoutMs = 20_000,
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [BUILT_CLI, 'serve', ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-MAX_STDERR_CHARS);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start within ${startTimeoutMs} ms:\n${stderr}`));
    }, startTimeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = LISTENING_PATTERN.exec(line);
      if (!match) return;
      clearTimeout(timer);
      resolve(match[1]!);
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code ?? signal}) before listening:\n${stderr}`));
    });
  });

  return { url, child, stderr: () => stderr, exited };
}

/** Creates an API key in `database` with the built CLI; returns the key. */
export async function createKeyWithCli(database: string, name = 'tests'): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [BUILT_CLI, 'keys', 'create', '--name', name, '--json', '--database', database],
    { env: { PATH: process.env.PATH } },
  );
  return (JSON.parse(stdout) as { key: string }).key;
}
