/**
 * The built `mailverify file` as a user runs it: the command hands itself
 * to a heap-limited child process, and the exit status and output must
 * come through that hand-over unchanged.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

import { needsHeapLimit } from '../../src/cli/run-with-heap-limit.js';

const run = promisify(execFile);
const CLI = new URL('../../dist/src/cli/bin.js', import.meta.url).pathname;

function cleanEnv(): NodeJS.ProcessEnv {
  const entries = Object.entries(process.env).filter(
    ([name]) => !name.startsWith('MAILVERIFY_') && name !== 'NODE_OPTIONS',
  );
  return Object.fromEntries(entries);
}

describe('mailverify file as a process', () => {
  it('writes the verified copy and exits 0 through the heap-limited child', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'mailverify-file-process-'));
    const input = join(folder, 'contacts.csv');
    writeFileSync(input, 'name,email\r\nAnn,not an address\r\nBob,\r\n');

    await run(process.execPath, [CLI, 'file', input, '--no-cache', '--dns-server', '127.0.0.1:9'], {
      env: cleanEnv(),
      timeout: 30_000,
    });

    const output = readFileSync(join(folder, 'contacts.verified.csv'), 'utf8');
    expect(output.split('\r\n')[0]).toBe('name,email,verdict,reason,score,flags,checked_at');
    expect(output).toContain('Ann,not an address,undeliverable,invalid_syntax,0,');
  });

  it('passes the usage exit status of the child on', async () => {
    const missing = join(tmpdir(), 'mailverify-no-such-file.csv');
    const failure = await run(process.execPath, [CLI, 'file', missing], {
      env: cleanEnv(),
      timeout: 30_000,
    }).catch((error: { code: number; stderr: string }) => error);

    expect((failure as { code: number }).code).toBe(2);
    expect((failure as { stderr: string }).stderr).toContain(missing);
  });

  it('limits the heap of file runs only, and only when no limit is set', () => {
    expect(needsHeapLimit(['file', 'a.csv'], {})).toBe(true);
    expect(needsHeapLimit(['check', 'a@b.test'], {})).toBe(false);
    expect(needsHeapLimit(['file', 'a.csv'], { NODE_OPTIONS: '--max-old-space-size=512' })).toBe(
      false,
    );
  });
});
