import { PassThrough, Readable } from 'node:stream';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { formatLogLine } from '../../src/cli/compose.js';
import { EXIT_OK, EXIT_USAGE, run } from '../../src/cli/main.js';
import type { VerificationResult } from '../../src/verify/types.js';
import { startTestWorld } from '../helpers/test-world.js';
import type { TestWorld } from '../helpers/test-world.js';

let world: TestWorld;

beforeAll(async () => {
  world = await startTestWorld(
    { '127.0.0.61': { kind: 'smtp', mailboxes: ['ann', 'bob'] } },
    {
      'acme.test': { MX: [{ preference: 10, exchange: 'mx.acme.test' }] },
      'mx.acme.test': { A: ['127.0.0.61'] },
    },
  );
});
afterAll(() => world.close());

interface Outcome {
  status: number;
  stdout: string;
}

async function mailverify(args: string[], stdinText = '', env = {}): Promise<Outcome> {
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const database = join(mkdtempSync(join(tmpdir(), 'mailverify-cli-')), 'cache.db');

  const status = await run(args, {
    stdin: Readable.from([stdinText]),
    stdout,
    env: { MAILVERIFY_DATABASE: database, MAILVERIFY_LOG_LEVEL: 'silent', ...env },
  });
  return { status, stdout: text };
}

const worldFlags = () => [
  '--allow-private-mx',
  '--dns-server',
  world.dns.server,
  '--smtp-port',
  String(world.port),
  '--helo',
  'verifier.mailverify.test',
  '--from',
  'probe@verifier.mailverify.test',
  '--greylist-retry',
  '0',
];

function parseLines(stdout: string): VerificationResult[] {
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as VerificationResult);
}

describe('mailverify check', () => {
  it('prints one JSON object per address, in input order, with status 0', async () => {
    const addresses = ['nobody@acme.test', 'ann@acme.test', 'not an address', 'bob@acme.test'];
    const { status, stdout } = await mailverify(['check', '--json', ...worldFlags(), ...addresses]);

    expect(status).toBe(EXIT_OK);
    const results = parseLines(stdout);
    expect(results.map((result) => result.email)).toEqual(addresses);
    expect(results.map((result) => result.reason)).toEqual([
      'mailbox_not_found',
      'accepted',
      'invalid_syntax',
      'accepted',
    ]);
    for (const result of results) {
      expect(Object.keys(result)).toEqual(
        expect.arrayContaining(['normalized', 'score', 'flags', 'mx', 'evidence', 'checkedAt']),
      );
    }
  });

  it('reads addresses from standard input when given none or "-"', async () => {
    const input = 'ann@acme.test\n\n  nobody@acme.test  \r\n';
    for (const args of [[], ['-']]) {
      const { status, stdout } = await mailverify(
        ['check', '--json', ...worldFlags(), ...args],
        input,
      );
      expect(status).toBe(EXIT_OK);
      expect(parseLines(stdout).map((result) => result.verdict)).toEqual([
        'deliverable',
        'undeliverable',
      ]);
    }
  });

  it('prints a readable table without --json', async () => {
    const { status, stdout } = await mailverify(['check', ...worldFlags(), 'ann@acme.test']);
    expect(status).toBe(EXIT_OK);
    const [header, row] = stdout.trim().split('\n');
    expect(header).toMatch(/^ADDRESS\s+VERDICT\s+REASON\s+SCORE\s+FLAGS\s+DETAIL$/);
    expect(row).toMatch(/^ann@acme\.test\s+deliverable\s+accepted\s+95\s/);
  });

  it('answers a repeated check from the cache without asking the server', async () => {
    const database = join(mkdtempSync(join(tmpdir(), 'mailverify-cli-')), 'cache.db');
    const env = { MAILVERIFY_DATABASE: database };
    const rcptsBefore = world.logs.get('127.0.0.61')!.rcptTo.length;

    await mailverify(['check', '--json', ...worldFlags(), 'bob@acme.test'], '', env);
    const rcptsAfterFirst = world.logs.get('127.0.0.61')!.rcptTo.length;
    const { stdout } = await mailverify(
      ['check', '--json', ...worldFlags(), 'bob@acme.test'],
      '',
      env,
    );

    expect(rcptsAfterFirst).toBeGreaterThan(rcptsBefore);
    expect(world.logs.get('127.0.0.61')!.rcptTo.length).toBe(rcptsAfterFirst);
    expect(parseLines(stdout)[0]?.verdict).toBe('deliverable');
  });

  it('exits 2 with a clear message for an unknown option', async () => {
    const { status } = await mailverify(['check', '--no-such-option', 'ann@acme.test']);
    expect(status).toBe(EXIT_USAGE);
  });

  it('exits 2 for a bad option value, naming the option', async () => {
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => errors.push(String(chunk)) > 0) as typeof write;
    try {
      const { status, stdout } = await mailverify(['check', '--proxy', 'http://x:1', 'a@b.test']);
      expect(status).toBe(EXIT_USAGE);
      expect(stdout).toBe('');
    } finally {
      process.stderr.write = write;
    }
    expect(errors.join('')).toContain('--proxy (MAILVERIFY_PROXY)');
  });

  it('exits 2 for a bad environment value', async () => {
    const { status } = await mailverify(['check', 'a@b.test'], '', { MAILVERIFY_SMTP_PORT: 'x' });
    expect(status).toBe(EXIT_USAGE);
  });
});

describe('formatLogLine', () => {
  it('turns a pino line into one plain sentence with its fields', () => {
    const line = JSON.stringify({
      level: 40,
      time: 1,
      pid: 2,
      hostname: 'vm',
      heloName: 'vm',
      msg: 'helo name is not fully qualified',
    });
    expect(formatLogLine(line)).toBe(
      'mailverify: warn: helo name is not fully qualified (heloName=vm)\n',
    );
  });
});
