import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CommandExit, EXIT_INTERRUPTED } from '../../src/cli/command-exit.js';
import type { ExitKind } from '../../src/cli/command-exit.js';
import { createFileCommand } from '../../src/cli/file-command.js';
import type { FileCommandDeps } from '../../src/cli/file-command.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, run } from '../../src/cli/main.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { createFakeBulkVerifier, resultFor } from '../helpers/fake-bulk-verifier.js';
import type { FakeBulkOptions, FakeBulkVerifier } from '../helpers/fake-bulk-verifier.js';
import { startTestWorld } from '../helpers/test-world.js';
import type { TestWorld } from '../helpers/test-world.js';

const LIFETIMES = { deliverable: 3600, undeliverable: 3600, risky: 3600, unknown: 3600 };
const CHECKED_AT = resultFor('ann@acme.test').checkedAt;

interface Outcome {
  status: number;
  stdout: string;
  stderr: string;
  /** The fake verifier of the run; null when the run ended before composing one. */
  verifier: FakeBulkVerifier | null;
}

interface RunOptions {
  stdin?: string;
  fake?: FakeBulkOptions;
  /** Shared by runs that resume one another; a fresh one otherwise. */
  database?: string;
  deps?: Partial<FileCommandDeps>;
  /** Receives the function that simulates Ctrl-C. */
  onInterruptSource?: (interrupt: () => void) => void;
}

function folder(): string {
  return mkdtempSync(join(tmpdir(), 'mailverify-file-'));
}

function statusOf(kind: ExitKind): number {
  return { usage: EXIT_USAGE, failure: EXIT_FAILURE, interrupted: EXIT_INTERRUPTED }[kind];
}

/** Runs `mailverify file ARGS` with a fake verifier over a real SQLite store. */
async function mailverifyFile(args: string[], options: RunOptions = {}): Promise<Outcome> {
  const stdout = collect();
  const stderr = collect();
  const database = options.database ?? join(folder(), 'cache.db');
  let verifier: FakeBulkVerifier | null = null;

  const deps: FileCommandDeps = {
    stderr: stderr.stream,
    compose: () => {
      const store = new SqliteStore({ path: database, lifetimes: LIFETIMES });
      const bulk = createFakeBulkVerifier(store, options.fake);
      verifier = bulk;
      return {
        verifier: bulk,
        store,
        close: async () => {
          await bulk.close();
          await store.close();
        },
      };
    },
    interrupts: (onInterrupt) => {
      options.onInterruptSource?.(onInterrupt);
      return () => {};
    },
    exitNow: () => {
      throw new Error('exitNow called without a test expecting it');
    },
    ...options.deps,
  };
  const io = {
    stdin: Readable.from([options.stdin ?? '']),
    stdout: stdout.stream,
    env: { MAILVERIFY_LOG_LEVEL: 'silent', MAILVERIFY_DATABASE: database },
  };

  let status = EXIT_OK;
  try {
    await createFileCommand(io, deps).exitOverride().parseAsync(args, { from: 'user' });
  } catch (error) {
    if (error instanceof CommandExit) status = statusOf(error.kind);
    else if (error instanceof CommanderError) status = EXIT_USAGE;
    else status = EXIT_FAILURE;
  }
  return { status, stdout: stdout.text(), stderr: stderr.text(), verifier };
}

function collect() {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

/** Our five columns for an address the fake answers, as the file writes them. */
function cellsFor(email: string, delimiter = ','): string {
  const result = resultFor(email);
  const flags = [result.flags.role && 'role', result.flags.catchAll && 'catch_all']
    .filter(Boolean)
    .join('|');
  return [result.verdict, result.reason, result.score, flags, CHECKED_AT].join(delimiter);
}

function writeInput(name: string, content: string | Buffer): string {
  const path = join(folder(), name);
  writeFileSync(path, content);
  return path;
}

describe('mailverify file', () => {
  it('writes every row back byte for byte with five result columns, in input order', async () => {
    const input = writeInput(
      'contacts.csv',
      'Name,Email,Note\r\n' +
        '"Smith, Ann",ann@acme.test,"said ""hi""\r\nthen left"\r\n' +
        'Bob,nobody@acme.test,\r\n' +
        'Info desk,info@acme.test,"a, b"\r\n',
    );
    const { status, stderr } = await mailverifyFile([input]);

    expect(status).toBe(EXIT_OK);
    const output = readFileSync(input.replace(/\.csv$/, '.verified.csv'), 'utf8');
    expect(output).toBe(
      'Name,Email,Note,verdict,reason,score,flags,checked_at\r\n' +
        `"Smith, Ann",ann@acme.test,"said ""hi""\r\nthen left",${cellsFor('ann@acme.test')}\r\n` +
        `Bob,nobody@acme.test,,${cellsFor('nobody@acme.test')}\r\n` +
        `Info desk,info@acme.test,"a, b",${cellsFor('info@acme.test')}\r\n`,
    );
    expect(stderr).toMatch(/3 rows in/);
    expect(stderr).toMatch(/deliverable 1, undeliverable 1, risky 1/);
  });

  it('keeps input order when answers complete in another order', async () => {
    const emails = Array.from({ length: 40 }, (_, index) => `user${index}@acme.test`);
    const input = writeInput('many.csv', `email\n${emails.join('\n')}\n`);
    const lateMs = (email: string) => 40 - Number(/\d+/.exec(email)?.[0] ?? 0);

    const { status } = await mailverifyFile([input], { fake: { lateMs } });

    expect(status).toBe(EXIT_OK);
    const lines = readFileSync(join(input, '..', 'many.verified.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(lines.slice(1).map((line) => line.split(',')[0])).toEqual(emails);
  });

  it('keeps a BOM and CRLF line endings and leaves a missing final newline missing', async () => {
    const input = writeInput('bom.csv', '\uFEFFemail;name\r\nann@acme.test;Ann');
    await mailverifyFile([input]);

    const output = readFileSync(join(input, '..', 'bom.verified.csv'));
    expect(output.subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    expect(output.toString('utf8')).toBe(
      '\uFEFFemail;name;verdict;reason;score;flags;checked_at\r\n' +
        `ann@acme.test;Ann;${cellsFor('ann@acme.test', ';')}`,
    );
  });

  it('writes its columns with the delimiter of a semicolon or tab file', async () => {
    for (const [delimiter, name] of [
      [';', 'semi.csv'],
      ['\t', 'tabs.tsv'],
    ] as const) {
      const input = writeInput(name, `Name${delimiter}E-Mail\nAnn${delimiter}ann@acme.test\n`);
      const { status } = await mailverifyFile([input]);
      const outputName = name.replace(/\.(csv|tsv)$/, '.verified.$1');

      expect(status).toBe(EXIT_OK);
      expect(readFileSync(join(input, '..', outputName), 'utf8')).toBe(
        ['Name', 'E-Mail', 'verdict', 'reason', 'score', 'flags', 'checked_at'].join(delimiter) +
          `\nAnn${delimiter}ann@acme.test${delimiter}${cellsFor('ann@acme.test', delimiter)}\n`,
      );
    }
  });

  it('gives a rows-only list a header line and verifies its first line too', async () => {
    const input = writeInput('list.txt', 'ann@acme.test\nnobody@acme.test\n');
    const { status } = await mailverifyFile([input]);

    expect(status).toBe(EXIT_OK);
    expect(readFileSync(join(input, '..', 'list.verified.csv'), 'utf8')).toBe(
      'email,verdict,reason,score,flags,checked_at\n' +
        `ann@acme.test,${cellsFor('ann@acme.test')}\n` +
        `nobody@acme.test,${cellsFor('nobody@acme.test')}\n`,
    );
  });

  it('uses the column named by --column, whatever its case', async () => {
    const input = writeInput('two.csv', 'Email,Backup\nann@acme.test,nobody@acme.test\n');
    const { status, verifier } = await mailverifyFile([input, '--column', 'backup']);

    expect(status).toBe(EXIT_OK);
    expect(verifier!.calls).toEqual(['nobody@acme.test']);
    expect(readFileSync(join(input, '..', 'two.verified.csv'), 'utf8')).toContain(
      `ann@acme.test,nobody@acme.test,${cellsFor('nobody@acme.test')}`,
    );
  });

  it('fails with status 2 and lists the headers for an unknown --column', async () => {
    const input = writeInput('named.csv', 'First Name,Work Mail\nAnn,ann@acme.test\n');
    const { status, stderr } = await mailverifyFile([input, '--column', 'Courriel']);

    expect(status).toBe(EXIT_USAGE);
    expect(stderr).toContain('no column named "Courriel"');
    expect(stderr).toContain('"First Name", "Work Mail"');
    expect(existsSync(join(input, '..', 'named.verified.csv'))).toBe(false);
  });

  it('fails with status 2 and lists the headers when no column holds addresses', async () => {
    const input = writeInput('people.csv', 'First Name,Last Name\nAnn,Smith\nBob,Jones\n');
    const { status, stderr } = await mailverifyFile([input]);

    expect(status).toBe(EXIT_USAGE);
    expect(stderr).toContain('no column looks like email addresses');
    expect(stderr).toContain('"First Name", "Last Name"');
    expect(stderr).toContain('--column');
  });

  it('fails with status 2 for a missing input file, saying which', async () => {
    const missing = join(folder(), 'missing.csv');
    const { status, stderr } = await mailverifyFile([missing]);

    expect(status).toBe(EXIT_USAGE);
    expect(stderr).toContain(`cannot read ${missing}: no such file`);
  });

  it('refuses to write over its input, however the output path names it', async () => {
    const input = writeInput('mine.csv', 'email\nann@acme.test\n');
    const link = join(input, '..', 'link.csv');
    symlinkSync(input, link);

    for (const output of [input, join(input, '..', '.', 'mine.csv'), link]) {
      const { status, stderr, verifier } = await mailverifyFile([input, '-o', output]);
      expect(status).toBe(EXIT_USAGE);
      expect(stderr).toContain('refusing to overwrite the input file');
      expect(verifier).toBeNull();
    }
    expect(readFileSync(input, 'utf8')).toBe('email\nann@acme.test\n');
  });

  it('keeps malformed rows unchanged, without a verdict, and names their lines', async () => {
    const input = writeInput(
      'broken.csv',
      'name,email\n' +
        'Ann,ann@acme.test\n' +
        'Bob,bob@acme.test,extra\n' +
        'Carl,carl@acme.test\n' +
        'Dee,"dee@acme.test\nnever closed',
    );
    const { status, stderr, verifier } = await mailverifyFile([input]);

    expect(status).toBe(EXIT_OK);
    expect(verifier!.calls).toEqual(['ann@acme.test', 'carl@acme.test']);
    expect(readFileSync(join(input, '..', 'broken.verified.csv'), 'utf8')).toBe(
      'name,email,verdict,reason,score,flags,checked_at\n' +
        `Ann,ann@acme.test,${cellsFor('ann@acme.test')}\n` +
        'Bob,bob@acme.test,extra,,,,,\n' +
        `Carl,carl@acme.test,${cellsFor('carl@acme.test')}\n` +
        'Dee,"dee@acme.test\nnever closed',
    );
    expect(stderr).toMatch(/malformed\s+2 rows kept unchanged, not verified:\n/);
    expect(stderr).toContain('line 3: 3 fields where the first row has 2\n');
    expect(stderr).toContain('line 5: the quoted field opened on line 5 is never closed');
  });

  it('leaves blank email cells empty and marks invalid addresses invalid_syntax', async () => {
    const input = writeInput('gaps.csv', 'name,email\nAnn,\nBob,not an address\n\nCid,  \n');
    const { status, stderr, verifier } = await mailverifyFile([input]);

    expect(status).toBe(EXIT_OK);
    expect(verifier!.calls).toEqual([]);
    const lines = readFileSync(join(input, '..', 'gaps.verified.csv'), 'utf8').split('\n');
    expect(lines[1]).toBe('Ann,,,,,,');
    expect(lines[2]).toMatch(/^Bob,not an address,undeliverable,invalid_syntax,0,,\d{4}-/);
    expect(lines[3]).toBe('');
    expect(lines[4]).toBe('Cid,  ,,,,,');
    expect(stderr).toMatch(/no address\s+2 rows with an empty email cell/);
    expect(stderr).toMatch(/invalid\s+1 address with invalid syntax/);
  });

  it('writes the same result on every row of a duplicated address', async () => {
    const input = writeInput('dupes.csv', 'email\nann@acme.test\nANN@ACME.TEST\nann@acme.test\n');
    const { status } = await mailverifyFile([input]);

    expect(status).toBe(EXIT_OK);
    const lines = readFileSync(join(input, '..', 'dupes.verified.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(lines.slice(1).map((line) => line.split(',').slice(1, 3).join(','))).toEqual([
      'deliverable,accepted',
      'deliverable,accepted',
      'deliverable,accepted',
    ]);
  });

  it('adds prefixed columns when the file already has ours, replacing nothing', async () => {
    const input = writeInput('again.csv', 'email,verdict,reason\nann@acme.test,old,kept\n');
    await mailverifyFile([input]);

    expect(readFileSync(join(input, '..', 'again.verified.csv'), 'utf8')).toBe(
      'email,verdict,reason,mailverify_verdict,mailverify_reason,mailverify_score,' +
        'mailverify_flags,mailverify_checked_at\n' +
        `ann@acme.test,old,kept,${cellsFor('ann@acme.test')}\n`,
    );
  });

  it('writes JSON lines with --json: the row by header, the result, the problem', async () => {
    const input = writeInput('rows.csv', 'name,email\nAnn,ann@acme.test\nBob,\nCid,a,b\n');
    const { status } = await mailverifyFile([input, '--json']);

    expect(status).toBe(EXIT_OK);
    const text = readFileSync(join(input, '..', 'rows.verified.jsonl'), 'utf8');
    const lines = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      {
        line: 2,
        row: { name: 'Ann', email: 'ann@acme.test' },
        result: resultFor('ann@acme.test'),
        problem: null,
      },
      {
        line: 3,
        row: { name: 'Bob', email: '' },
        result: null,
        problem: 'the email column is empty',
      },
      {
        line: 4,
        row: ['Cid', 'a', 'b'],
        result: null,
        problem: '3 fields where the first row has 2',
      },
    ]);
  });

  it('reads standard input with "-" and writes standard output with -o -', async () => {
    const { status, stdout } = await mailverifyFile(['-', '-o', '-'], {
      stdin: 'email\nann@acme.test\n',
    });

    expect(status).toBe(EXIT_OK);
    expect(stdout).toBe(
      `email,verdict,reason,score,flags,checked_at\nann@acme.test,${cellsFor('ann@acme.test')}\n`,
    );
  });

  it('writes to standard output by default when reading standard input', async () => {
    const { status, stdout } = await mailverifyFile(['-', '--json'], {
      stdin: 'ann@acme.test\n',
    });

    expect(status).toBe(EXIT_OK);
    expect(JSON.parse(stdout)).toMatchObject({ line: 1, row: ['ann@acme.test'] });
  });

  it('keeps at most --max-in-flight answers pending while reading', async () => {
    const emails = Array.from({ length: 30 }, (_, index) => `user${index}@acme.test`);
    const input = writeInput('bounded.csv', `email\n${emails.join('\n')}\n`);
    const { status, verifier } = await mailverifyFile([input], {
      fake: { lateMs: () => 5 },
      deps: { maxInFlight: 4 },
    });

    expect(status).toBe(EXIT_OK);
    expect(verifier!.calls).toHaveLength(30);
    expect(verifier!.maxPending).toBe(4);
  });

  it('passes a row over 1 MiB through unchanged, unverified, and goes on', async () => {
    const huge = `"${'x'.repeat(700_000)}\n${'y'.repeat(700_000)}"`;
    const input = writeInput(
      'huge.csv',
      `email,note\nbig@acme.test,${huge}\nann@acme.test,small\n`,
    );
    const { status, stderr, verifier } = await mailverifyFile([input]);

    expect(status).toBe(EXIT_OK);
    expect(verifier!.calls).toEqual(['ann@acme.test']);
    expect(readFileSync(join(input, '..', 'huge.verified.csv'), 'utf8')).toBe(
      'email,note,verdict,reason,score,flags,checked_at\n' +
        `big@acme.test,${huge},,,,,\n` +
        `ann@acme.test,small,${cellsFor('ann@acme.test')}\n`,
    );
    expect(stderr).toContain('line 2: the record is longer than 1048576 bytes');
  });

  it('gives back the bytes of a file that is not UTF-8 (a Windows-1252 export)', async () => {
    const latin = Buffer.from('Nom;Courriel\r\nJos\xe9 M\xfcller;jose@acme.test\r\n', 'latin1');
    const input = writeInput('export.csv', latin);
    await mailverifyFile([input]);

    const output = readFileSync(join(input, '..', 'export.verified.csv'));
    const expected = Buffer.concat([
      Buffer.from('Nom;Courriel;verdict;reason;score;flags;checked_at\r\n'),
      Buffer.from('Jos\xe9 M\xfcller;jose@acme.test', 'latin1'),
      Buffer.from(`;${cellsFor('jose@acme.test', ';')}\r\n`),
    ]);
    expect(output.equals(expected)).toBe(true);
  });

  it('leaves no file under the output name when the run fails', async () => {
    const input = writeInput('fails.csv', 'email\nann@acme.test\nbob@acme.test\n');
    const { status } = await mailverifyFile([input], {
      fake: { fails: (email) => (email.startsWith('bob') ? new Error('engine fault') : null) },
    });

    expect(status).toBe(EXIT_FAILURE);
    expect(readdirSync(join(input, '..'))).toEqual(['fails.csv']);
  });
});

describe('mailverify file, interrupted', () => {
  const emails = Array.from({ length: 10 }, (_, index) => `user${index}@acme.test`);
  const content = `email,n\n${emails.map((email, index) => `${email},${index}`).join('\n')}\n`;
  const isStuck = (email: string) => email === 'user5@acme.test';

  it('writes the rows before the first unanswered one, exits 130, then resumes', async () => {
    const input = writeInput('resume.csv', content);
    const output = join(input, '..', 'resume.verified.csv');
    const database = join(folder(), 'cache.db');
    let interrupt = () => {};

    const first = await mailverifyFile([input], {
      database,
      fake: { hangs: isStuck, onAnswer: (answers) => answers === 9 && interrupt() },
      onInterruptSource: (onInterrupt) => (interrupt = onInterrupt),
    });

    expect(first.status).toBe(EXIT_INTERRUPTED);
    expect(first.stderr).toContain(
      'interrupted after 5 of 10 rows; run the same command again to resume',
    );
    expect(readFileSync(output, 'utf8')).toBe(
      'email,n,verdict,reason,score,flags,checked_at\n' +
        emails
          .slice(0, 5)
          .map((email, index) => `${email},${index},${cellsFor(email)}\n`)
          .join(''),
    );

    const second = await mailverifyFile([input], { database });

    expect(second.status).toBe(EXIT_OK);
    expect(second.verifier!.calls).toEqual(['user5@acme.test']);
    expect(readFileSync(output, 'utf8')).toBe(
      'email,n,verdict,reason,score,flags,checked_at\n' +
        emails.map((email, index) => `${email},${index},${cellsFor(email)}\n`).join(''),
    );
    expect(second.stderr).toMatch(/10 addresses, 9 of them answered from the cache/);
  });

  it('stops reading rows once interrupted', async () => {
    const input = writeInput('early.csv', content);
    let interrupt = () => {};

    const { status, stderr, verifier } = await mailverifyFile([input], {
      fake: { hangs: () => true, onCall: (calls) => calls === 3 && interrupt() },
      deps: { maxInFlight: 3 },
      onInterruptSource: (onInterrupt) => (interrupt = onInterrupt),
    });

    expect(status).toBe(EXIT_INTERRUPTED);
    expect(verifier!.calls).toEqual(emails.slice(0, 3));
    expect(stderr).toContain('interrupted after 0 rows; run the same command again to resume');
    expect(readFileSync(join(input, '..', 'early.verified.csv'), 'utf8')).toBe(
      'email,n,verdict,reason,score,flags,checked_at\n',
    );
  });

  it('quits at once on a second Ctrl-C and removes its temporary files', async () => {
    const input = writeInput('twice.csv', content);
    const exits: number[] = [];
    let interrupt = () => {};
    let filesAtExit: string[] = [];

    await mailverifyFile([input], {
      fake: {
        hangs: isStuck,
        onAnswer: (answers) => {
          if (answers !== 9) return;
          interrupt();
          interrupt();
        },
      },
      onInterruptSource: (onInterrupt) => (interrupt = onInterrupt),
      deps: {
        exitNow: (status) => {
          exits.push(status);
          filesAtExit = readdirSync(join(input, '..'));
        },
      },
    });

    expect(exits).toEqual([EXIT_INTERRUPTED]);
    expect(filesAtExit).toEqual(['twice.csv']);
  });
});

describe('mailverify file through the program', () => {
  let world: TestWorld;

  beforeAll(async () => {
    world = await startTestWorld(
      { '127.0.0.71': { kind: 'smtp', mailboxes: ['ann', 'bob'] } },
      {
        'acme.test': { MX: [{ preference: 10, exchange: 'mx.acme.test' }] },
        'mx.acme.test': { A: ['127.0.0.71'] },
      },
    );
  });
  afterAll(() => world.close());

  async function mailverify(args: string[]) {
    const stdout = new PassThrough();
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => errors.push(String(chunk)) > 0) as typeof write;
    try {
      const status = await run(args, {
        stdin: Readable.from(['']),
        stdout,
        env: { MAILVERIFY_LOG_LEVEL: 'silent', MAILVERIFY_DATABASE: join(folder(), 'c.db') },
      });
      return { status, stderr: errors.join('') };
    } finally {
      process.stderr.write = write;
    }
  }

  it('verifies a file with the bulk engine against loopback mail servers', async () => {
    const input = writeInput('real.csv', 'Email,Name\nann@acme.test,Ann\nnobody@acme.test,X\n');
    const { status, stderr } = await mailverify([
      'file',
      input,
      '--no-catch-all',
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
    ]);

    expect(status).toBe(EXIT_OK);
    const lines = readFileSync(join(input, '..', 'real.verified.csv'), 'utf8').split('\n');
    expect(lines[0]).toBe('Email,Name,verdict,reason,score,flags,checked_at');
    expect(lines[1]).toMatch(/^ann@acme\.test,Ann,deliverable,accepted,95,,\d{4}-/);
    expect(lines[2]).toMatch(/^nobody@acme\.test,X,undeliverable,mailbox_not_found,\d,role,\d{4}-/);
    expect(stderr).toContain('mailverify: 2 rows in');
  });

  it('exits 2 for a missing input file', async () => {
    const { status, stderr } = await mailverify(['file', join(folder(), 'nothing-here.csv')]);
    expect(status).toBe(EXIT_USAGE);
    expect(stderr).toContain('no such file');
  });
});
