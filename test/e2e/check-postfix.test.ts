/**
 * `mailverify check --json`, the built command, against a real Postfix from
 * Debian's packages, reached through the loopback DNS server. Postfix's own
 * replies are not ours to shape, so this suite shows the verdicts hold
 * against a server the test world did not write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { VerificationResult } from '../../src/verify/types.js';
import { checkAgainst, requireBuiltCli } from '../helpers/check-against.js';
import { startDnsServer } from '../helpers/dns-server.js';
import type { DnsServer } from '../helpers/dns-server.js';
import { isPostfixInstalled, startPostfix } from '../helpers/postfix.js';
import type { RunningPostfix } from '../helpers/postfix.js';

let postfix: RunningPostfix;
let dns: DnsServer;

beforeAll(async () => {
  if (!isPostfixInstalled()) {
    throw new Error('postfix is not installed: run .ci/run, or apt-get install -y postfix');
  }
  requireBuiltCli();

  postfix = await startPostfix({
    domain: 'e2e.test',
    mailboxes: ['alice', 'bob'],
  });
  dns = await startDnsServer({
    'e2e.test': { MX: [{ preference: 10, exchange: 'mx.e2e.test' }] },
    'mx.e2e.test': { A: [postfix.ip] },
  });
});

afterAll(async () => {
  await postfix?.stop();
  await dns?.close();
});

function check(...addresses: string[]): Promise<VerificationResult[]> {
  return checkAgainst({ dnsServer: dns.server, smtpPort: postfix.port }, addresses);
}

describe('mailverify check against Postfix', () => {
  it('gives every address the right verdict, in input order', async () => {
    const results = await check('alice@e2e.test', 'nobody@e2e.test', 'bob@e2e.test');

    expect(results.map((result) => result.email)).toEqual([
      'alice@e2e.test',
      'nobody@e2e.test',
      'bob@e2e.test',
    ]);
    expect(results[0]).toMatchObject({ verdict: 'deliverable', reason: 'accepted' });
    expect(results[0]!.flags.catchAll).toBe(false);
    expect(results[1]).toMatchObject({ verdict: 'undeliverable', reason: 'mailbox_not_found' });
    expect(results[1]!.evidence).toMatchObject({ stage: 'rcpt', code: 550, enhancedCode: '5.1.1' });
    expect(results[1]!.evidence?.text).toContain('User unknown');
    expect(results[2]).toMatchObject({ verdict: 'deliverable', reason: 'accepted' });
  });

  it('reports a domain Postfix does not serve as blocked, not undeliverable', async () => {
    await dns.close();
    dns = await startDnsServer({
      'e2e.test': { MX: [{ preference: 10, exchange: 'mx.e2e.test' }] },
      'mx.e2e.test': { A: [postfix.ip] },
      'elsewhere.test': { MX: [{ preference: 10, exchange: 'mx.e2e.test' }] },
    });

    const [result] = await check('carol@elsewhere.test');
    // Postfix answers "554 5.7.1 <...>: Relay access denied": about us, not the mailbox.
    expect(result).toMatchObject({ verdict: 'unknown', reason: 'blocked' });
  });
});
