/**
 * A list that is mostly unknown mailboxes, through the built `mailverify
 * check` with its default caps, against a real Postfix. Postfix slows every
 * reply down once a session has made smtpd_soft_error_limit (10) errors;
 * this instance disconnects there instead (smtpd_hard_error_limit = 10),
 * which it logs, so a session that reached the point where Postfix starts
 * to punish would show in its log and in the verdicts.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { VerificationResult } from '../../src/verify/types.js';
import { startDnsServer } from '../helpers/dns-server.js';
import type { DnsServer } from '../helpers/dns-server.js';
import { isPostfixInstalled, startPostfix } from '../helpers/postfix.js';
import type { RunningPostfix } from '../helpers/postfix.js';

const run = promisify(execFile);
const CLI = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
const MAILBOXES = ['alice', 'bob', 'carol', 'dan', 'erin'];

let postfix: RunningPostfix;
let dns: DnsServer;

beforeAll(async () => {
  if (!isPostfixInstalled()) {
    throw new Error('postfix is not installed: run .ci/run, or apt-get install -y postfix');
  }
  if (!existsSync(CLI)) throw new Error('the command is not built: run npm run build');

  postfix = await startPostfix({
    domain: 'bulk.test',
    mailboxes: MAILBOXES,
    mainCf: { smtpd_hard_error_limit: '10' },
  });
  dns = await startDnsServer({
    'bulk.test': { MX: [{ preference: 10, exchange: 'mx.bulk.test' }] },
    'mx.bulk.test': { A: [postfix.ip] },
  });
});

afterAll(async () => {
  await postfix?.stop();
  await dns?.close();
});

async function check(extra: string[], addresses: string[]): Promise<VerificationResult[]> {
  const { stdout } = await run(
    process.execPath,
    [
      CLI,
      'check',
      '--json',
      '--no-cache',
      '--allow-private-mx',
      '--dns-server',
      dns.server,
      '--smtp-port',
      String(postfix.port),
      '--helo',
      'verifier.mailverify.test',
      '--from',
      'probe@verifier.mailverify.test',
      '--greylist-retry',
      '0',
      ...extra,
      ...addresses,
    ],
    { timeout: 120_000, env: { ...process.env, MAILVERIFY_CONFIG: '' } },
  );
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as VerificationResult);
}

function listOf(unknown: number): string[] {
  const known = MAILBOXES.map((local) => `${local}@bulk.test`);
  const missing = Array.from({ length: unknown }, (_, index) => `nobody${index}@bulk.test`);
  // The known ones spread through the list, as in a real export.
  return missing.flatMap((email, index) =>
    index % 10 === 0 ? [known[index / 10]!, email] : email,
  );
}

async function errorLimitLines(): Promise<string[]> {
  const log = await readFile(postfix.maillogFile, 'utf8');
  return log.split('\n').filter((line) => line.includes('too many errors'));
}

describe('the bulk engine against Postfix error limits', () => {
  it('ends every session before Postfix counts 10 errors, with every verdict right', async () => {
    const addresses = listOf(50);
    expect(addresses).toHaveLength(55);

    const results = await check([], addresses);

    expect(results.map((result) => result.email)).toEqual(addresses);
    for (const result of results) {
      const exists = MAILBOXES.some((local) => result.email === `${local}@bulk.test`);
      expect(result, result.email).toMatchObject(
        exists
          ? { verdict: 'deliverable', reason: 'accepted' }
          : { verdict: 'undeliverable', reason: 'mailbox_not_found' },
      );
    }
    expect(await errorLimitLines()).toEqual([]);
  });

  it('would have been cut off by Postfix with a cap at its limit (the check can fail)', async () => {
    const addresses = listOf(30);

    await check(['--max-rejected-per-session', '10', '--per-host-concurrency', '1'], addresses);

    const lines = await errorLimitLines();
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/too many errors after (RCPT|QUIT)/);
  });
});
