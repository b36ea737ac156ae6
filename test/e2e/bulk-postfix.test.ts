/**
 * A list that is mostly unknown mailboxes, through the built `mailverify
 * check` with its default caps, against a real Postfix. Postfix slows every
 * reply down once a session has made smtpd_soft_error_limit (10) errors;
 * this instance disconnects there instead (smtpd_hard_error_limit = 10),
 * which it logs, so a session that reached the point where Postfix starts
 * to punish would show in its log and in the verdicts.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { VerificationResult } from '../../src/verify/types.js';
import { checkAgainst, requireBuiltCli } from '../helpers/check-against.js';
import { startDnsServer } from '../helpers/dns-server.js';
import type { DnsServer } from '../helpers/dns-server.js';
import { isPostfixInstalled, startPostfix } from '../helpers/postfix.js';
import type { RunningPostfix } from '../helpers/postfix.js';

const MAILBOXES = ['alice', 'bob', 'carol', 'dan', 'erin'];

let postfix: RunningPostfix;
let dns: DnsServer;

beforeAll(async () => {
  if (!isPostfixInstalled()) {
    throw new Error('postfix is not installed: run .ci/run, or apt-get install -y postfix');
  }
  requireBuiltCli();

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

function check(extraArgs: string[], addresses: string[]): Promise<VerificationResult[]> {
  const target = { dnsServer: dns.server, smtpPort: postfix.port };
  return checkAgainst(target, addresses, { extraArgs, timeoutMs: 120_000 });
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

/** Refused RCPTs per session, read from Postfix's disconnect lines (rcpt=accepted/asked). */
async function refusedRcptsPerSession(): Promise<number[]> {
  const log = await readFile(postfix.maillogFile, 'utf8');
  return [...log.matchAll(/disconnect from .* rcpt=(\d+)\/(\d+)/g)].map(
    (match) => Number(match[2]) - Number(match[1]),
  );
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
    // Postfix's own count per session, e.g. "disconnect from ... rcpt=0/9 quit=1":
    // the default cap uses the budget to the last error before the limit.
    const refusedPerSession = await refusedRcptsPerSession();
    expect(Math.max(...refusedPerSession)).toBe(9);
  });

  it('would have been cut off by Postfix with a cap at its limit (the check can fail)', async () => {
    const addresses = listOf(30);

    await check(['--max-rejected-per-session', '10', '--per-host-concurrency', '1'], addresses);

    const lines = await errorLimitLines();
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/too many errors after (RCPT|QUIT)/);
  });
});
