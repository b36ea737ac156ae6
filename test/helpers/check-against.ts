/**
 * Runs the built `mailverify check --json` against a loopback world: a DNS
 * server and a mail server port, with the cache off and a fixed sender
 * identity, and reads back one result per address.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

import type { VerificationResult } from '../../src/verify/types.js';

const run = promisify(execFile);
export const CLI = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;

export interface CheckTarget {
  /** "127.0.0.1:PORT" of the DNS server. */
  dnsServer: string;
  smtpPort: number;
}

/** Throws unless the command is built; suites call it before they start. */
export function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error('the command is not built: run npm run build');
}

export async function checkAgainst(
  target: CheckTarget,
  addresses: readonly string[],
  options: { extraArgs?: readonly string[]; timeoutMs?: number } = {},
): Promise<VerificationResult[]> {
  const args = [
    CLI,
    'check',
    '--json',
    '--no-cache',
    '--allow-private-mx',
    '--dns-server',
    target.dnsServer,
    '--smtp-port',
    String(target.smtpPort),
    '--helo',
    'verifier.mailverify.test',
    '--from',
    'probe@verifier.mailverify.test',
    '--greylist-retry',
    '0',
    ...(options.extraArgs ?? []),
    ...addresses,
  ];
  const { stdout } = await run(process.execPath, args, {
    timeout: options.timeoutMs ?? 60_000,
    env: { ...process.env, MAILVERIFY_CONFIG: '' },
  });
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as VerificationResult);
}
