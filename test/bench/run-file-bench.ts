/**
 * `npm run bench:file`: the built command line, `mailverify file`, over a
 * generated CSV file of BENCH_ROWS rows (a million by default) against the
 * benchmark world, in a child process whose peak resident memory is read
 * from /proc. Prints rows per second and the peak RSS against its target;
 * a measurement, so only a crash fails the run.
 *
 * A million addresses behind a simulated round trip take long, so this
 * mode has no delay unless BENCH_RTT_MS asks for one.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { test } from 'vitest';

import { describeBenchOptions, readBenchOptions } from './bench-options.js';
import type { BenchOptions } from './bench-options.js';
import { formatTable, megabytes, passOrFail } from './bench-measure.js';
import { startBenchWorld } from './bench-world.js';
import type { BenchWorld, ServerTotals } from './bench-world.js';
import { splitCsvLine } from './split-csv-line.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli', 'bin.js');

const TARGET_PEAK_RSS_BYTES = 300 * 1024 * 1024;
const RUN_TIMEOUT_MS = 3 * 60 * 60_000;
/** The child is killed after this, plus a few milliseconds per row. */
const CHILD_BASE_DEADLINE_MS = 10 * 60_000;
const CHILD_DEADLINE_MS_PER_ROW = 5;
const RSS_POLL_MS = 100;
/** Kept from the child's standard error, to show when it fails. */
const MAX_STDERR_TAIL_CHARS = 8_192;
const ROWS_PER_WRITE = 1_000;

const print = (...lines: string[]): void => {
  process.stdout.write(`${lines.join('\n')}\n`);
};

test(
  'measures the file command over a large CSV file',
  async () => {
    const options = readBenchOptions(process.env, { rttMs: 0 });
    print(
      '',
      'mailverify benchmark: `mailverify file` over a generated CSV file',
      ...describeBenchOptions(options, [
        'rows',
        'domains',
        'servers',
        'rttMs',
        'concurrency',
        'perHostConcurrency',
        'maxRejectedPerSession',
        'seed',
      ]),
    );
    if (!process.env.BENCH_RTT_MS) {
      print('  (no simulated network delay in this mode unless BENCH_RTT_MS is set)');
    }
    if (!existsSync(CLI)) {
      print('', `${CLI} is missing: run \`npm run build\` first.`);
      return;
    }

    const world = await startBenchWorld({ ...options, greylistSeconds: 1 });
    const folder = await mkdtemp(join(tmpdir(), 'mailverify-bench-'));
    try {
      await measureFileCommand(world, folder, options);
    } finally {
      await rm(folder, { recursive: true, force: true });
      await world.close();
    }
  },
  RUN_TIMEOUT_MS,
);

async function measureFileCommand(
  world: BenchWorld,
  folder: string,
  options: BenchOptions,
): Promise<void> {
  const input = join(folder, 'contacts.csv');
  const output = join(folder, 'verified.csv');

  const writtenAt = performance.now();
  await writeContacts(input, options.rows, world);
  const size = (await stat(input)).size;
  const writeSeconds = (performance.now() - writtenAt) / 1000;
  print('', `wrote ${options.rows} rows (${megabytes(size)} MB) in ${writeSeconds.toFixed(1)} s`);

  await world.reset();
  print(`running ${['mailverify', ...cliArguments(world, options, input, output)].join(' ')}`);
  const child = await runChild(cliArguments(world, options, input, output), options.rows);

  if (/unknown command/i.test(child.stderrTail)) {
    print('', 'the `file` command does not exist yet in dist/src/cli/main.js:', child.stderrTail);
    return;
  }
  if (child.exitCode !== 0 || !existsSync(output)) {
    print(
      '',
      `the command ended with ${child.signal ?? `exit status ${child.exitCode}`}` +
        (child.isKilled ? ' (killed at the deadline)' : ''),
      child.stderrTail,
    );
  }
  const verified = existsSync(output) ? await readVerified(output, world) : null;
  report(await world.totals(), options, child, verified);
}

function cliArguments(
  world: BenchWorld,
  options: BenchOptions,
  input: string,
  output: string,
): string[] {
  const settings = world.settings();
  return [
    'file',
    input,
    '-o',
    output,
    '--no-cache',
    '--allow-private-mx',
    '--no-starttls',
    '--dns-server',
    world.dnsServer,
    '--smtp-port',
    String(world.smtpPort),
    '--greylist-retry',
    settings.greylistRetry.join(','),
    '--concurrency',
    String(options.concurrency),
    '--per-host-concurrency',
    String(options.perHostConcurrency),
    '--max-rejected-per-session',
    String(options.maxRejectedPerSession),
    '--helo',
    settings.heloName,
    '--from',
    settings.mailFrom,
  ];
}

/** Streams the rows to disk a thousand at a time, waiting whenever the stream is full. */
async function writeContacts(path: string, rows: number, world: BenchWorld): Promise<void> {
  const stream = createWriteStream(path);
  stream.write('id,first_name,email,company\n');

  for (let start = 0; start < rows; start += ROWS_PER_WRITE) {
    const lines: string[] = [];
    for (let index = start; index < Math.min(rows, start + ROWS_PER_WRITE); index += 1) {
      const email = world.addressAt(index);
      const first = capitalize(email.slice(0, email.indexOf('.')));
      const company = capitalize(email.slice(email.indexOf('@') + 1, email.indexOf('-')));
      lines.push(`${index + 1},${first},${email},${company}\n`);
    }
    if (!stream.write(lines.join(''))) await once(stream, 'drain');
  }

  stream.end();
  await once(stream, 'finish');
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

interface ChildRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  isKilled: boolean;
  wallMs: number;
  /** Null where /proc is not available. */
  peakRssBytes: number | null;
  stderrTail: string;
}

async function runChild(args: string[], rows: number): Promise<ChildRun> {
  const startedAt = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: withoutMailverifySettings(process.env),
    stdio: ['ignore', 'ignore', 'pipe'],
  });

  let stderrTail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderrTail = (stderrTail + text).slice(-MAX_STDERR_TAIL_CHARS);
  });

  let peakRssBytes: number | null = null;
  const poll = setInterval(() => {
    const sampled = child.pid === undefined ? null : readPeakRss(child.pid);
    if (sampled !== null) peakRssBytes = Math.max(peakRssBytes ?? 0, sampled);
  }, RSS_POLL_MS);

  let isKilled = false;
  const deadline = setTimeout(
    () => {
      isKilled = true;
      child.kill('SIGKILL');
    },
    CHILD_BASE_DEADLINE_MS + rows * CHILD_DEADLINE_MS_PER_ROW,
  );

  const [exitCode, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearInterval(poll);
  clearTimeout(deadline);
  return {
    exitCode,
    signal,
    isKilled,
    wallMs: performance.now() - startedAt,
    peakRssBytes,
    stderrTail,
  };
}

/** The child reads only its flags, not a configuration the user left in the environment. */
function withoutMailverifySettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(env).filter(([name]) => !name.startsWith('MAILVERIFY_')),
  );
}

/**
 * VmHWM is the kernel's own high-water mark of the resident set (proc(5)).
 * `mailverify file` hands its work to a heap-limited child process, so the
 * marks of the whole process tree are added up: an upper bound of the peak.
 */
function readPeakRss(pid: number): number | null {
  let total = 0;
  const pending = [pid];
  for (let seen = 0; pending.length > 0 && seen < MAX_TREE_PROCESSES; seen += 1) {
    const current = pending.pop()!;
    try {
      const status = readFileSync(`/proc/${current}/status`, 'utf8');
      const kilobytes = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
      if (kilobytes !== undefined) total += Number(kilobytes) * 1024;
      const children = readFileSync(`/proc/${current}/task/${current}/children`, 'utf8');
      pending.push(...children.trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      if (current === pid) return null;
    }
  }
  return total;
}

/** Processes looked at in the tree: the command and its child. */
const MAX_TREE_PROCESSES = 16;

interface Verified {
  rows: number;
  verdicts: Map<string, number>;
  /** Rows whose verdict and reason are what the world knows them to be. */
  truthful: number;
}

async function readVerified(path: string, world: BenchWorld): Promise<Verified> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  const verified: Verified = { rows: 0, verdicts: new Map(), truthful: 0 };
  let columns: { email: number; verdict: number; reason: number } | null = null;

  for await (const line of lines) {
    const cells = splitCsvLine(line);
    if (columns === null) {
      columns = {
        email: cells.indexOf('email'),
        verdict: cells.indexOf('verdict'),
        reason: cells.indexOf('reason'),
      };
      continue;
    }
    verified.rows += 1;
    const verdict = cells[columns.verdict] ?? '';
    verified.verdicts.set(verdict, (verified.verdicts.get(verdict) ?? 0) + 1);
    const truth = world.truthOf(cells[columns.email] ?? '');
    if (truth.verdict === verdict && truth.reason === cells[columns.reason]) {
      verified.truthful += 1;
    }
  }
  return verified;
}

function report(
  server: ServerTotals,
  options: BenchOptions,
  child: ChildRun,
  verified: Verified | null,
): void {
  const seconds = child.wallMs / 1000;
  const perRow = (count: number) => (count / options.rows).toFixed(3);
  const peak = child.peakRssBytes;
  const verdicts = [...(verified?.verdicts ?? new Map<string, number>()).entries()]
    .map(([verdict, count]) => `${verdict || '(empty)'} ${count}`)
    .join(', ');

  print(
    '',
    ...formatTable(
      ['', 'mailverify file'],
      [
        ['rows in', String(options.rows)],
        ['rows out', verified ? String(verified.rows) : 'no output'],
        ['wall time (s)', seconds.toFixed(1)],
        ['rows per second', (options.rows / seconds).toFixed(0)],
        ['peak RSS of the child (MB)', peak === null ? 'unavailable' : megabytes(peak)],
        ['SMTP connections per row', perRow(server.connections)],
        ['SMTP commands per row', perRow(server.commands)],
        ['peak rejected RCPTs in one session', String(server.peakRejectedInSession)],
        ['peak sessions at one server', String(server.peakOpenSessions)],
        ['sessions dropped at 20 errors', String(server.droppedSessions)],
        ['verdicts as the world has them', verified ? `${verified.truthful}` : '-'],
      ],
    ),
    '',
    `verdicts: ${verdicts || 'none'}`,
    '',
    passOrFail(
      peak !== null && peak <= TARGET_PEAK_RSS_BYTES,
      `peak RSS <= ${megabytes(TARGET_PEAK_RSS_BYTES)} MB ` +
        `(${peak === null ? 'not measured' : `${megabytes(peak)} MB`})`,
    ),
    passOrFail(
      child.exitCode === 0 && verified?.rows === options.rows,
      'every row verified and written',
    ),
    passOrFail(
      server.peakRejectedInSession <= options.maxRejectedPerSession &&
        server.peakOpenSessions <= options.perHostConcurrency,
      `no session over ${options.maxRejectedPerSession} refused RCPTs, no server over ` +
        `${options.perHostConcurrency} sessions at once (server side)`,
    ),
    '',
  );
}
