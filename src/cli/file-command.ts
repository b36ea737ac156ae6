/**
 * `mailverify file INPUT [-o OUTPUT] [--column NAME] [--json]`: verifies the
 * addresses of a CSV file (or a plain list) and writes a copy of it with
 * results. Two passes over the input: the first verifies with a bounded
 * number of answers pending, the second writes every row in input order
 * with its result from the store. Progress and the summary go to standard
 * error. Ctrl-C writes what is verified so far; the same command resumes.
 */
import { createReadStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { Command } from 'commander';

import {
  readCsvLayout,
  readCsvRecords,
  verifyCsvRows,
  writeVerifiedRows,
} from '../../connectors/csv/index.js';
import type {
  CsvLayout,
  CsvRecord,
  Delimiter,
  LayoutOutcome,
  VerifyProgress,
  WriteTally,
} from '../../connectors/csv/index.js';
import type { Config } from '../config.js';
import type { CacheMode } from '../engine/stored-catch-all-memory.js';
import type { StoredResult } from '../store/store.js';
import { systemClock } from '../verify/types.js';
import type { Clock } from '../verify/types.js';
import type { CommandIo } from './check-command.js';
import { CommandExit, EXIT_INTERRUPTED } from './command-exit.js';
import { composeBulkVerifier, createLogger } from './compose.js';
import type { ComposedVerifier } from './compose.js';
import { openOutputFile, standardOutput } from './open-output-file.js';
import type { OutputFile } from './open-output-file.js';
import { createProgressReporter } from './progress-reporter.js';
import type { Every, ProgressCounts, ProgressStream } from './progress-reporter.js';
import { resolveFilePaths } from './resolve-file-paths.js';
import type { FileFormat, FilePaths } from './resolve-file-paths.js';
import { RunControl } from './run-control.js';
import { formatInterruption, formatRunSummary } from './run-summary.js';
import { spoolStandardInput } from './spool-standard-input.js';
import { TemporaryFiles } from './temporary-files.js';
import { addVerificationOptions, loadCommandConfig } from './verification-options.js';
import { processInterrupts } from './watch-interrupts.js';
import type { InterruptSource } from './watch-interrupts.js';

export type ComposeBulk = (config: Config, cacheMode: CacheMode) => ComposedVerifier;

/** The seams of the command, each with its production default. */
export interface FileCommandDeps {
  stderr?: Writable & ProgressStream;
  compose?: ComposeBulk;
  interrupts?: InterruptSource;
  /** What a second Ctrl-C ends with, once temporary files are gone. */
  exitNow?: (status: number) => void;
  clock?: Clock;
  cwd?: string;
  every?: Every;
  maxInFlight?: number;
}

interface FileOptions {
  output?: string;
  column?: string;
  json?: boolean;
  refresh?: boolean;
}

/** What the command line asked for, checked. */
interface FileRequest {
  io: CommandIo;
  deps: FileCommandDeps;
  stderr: Writable & ProgressStream;
  clock: Clock;
  config: Config;
  cacheMode: CacheMode;
  format: FileFormat;
  paths: FilePaths;
  inputName: string;
  column: string | undefined;
}

/** A run under way: the request and what was opened for it. */
interface FileJob extends FileRequest {
  inputPath: string;
  layout: CsvLayout;
  output: OutputFile;
  composed: ComposedVerifier;
  isUsable: (stored: StoredResult) => boolean;
  control: RunControl;
}

const HEADERS_LISTED = 20;

export function createFileCommand(io: CommandIo, deps: FileCommandDeps = {}): Command {
  const command = new Command('file')
    .description('verify the addresses of a CSV file or list; write a copy with results')
    .argument('<input>', 'CSV file, or "-" for standard input')
    .option(
      '-o, --output <path>',
      'output file, "-" for standard output (default: INPUT.verified.csv)',
    )
    .option('--column <name>', 'header of the email column (default: detected)')
    .option('--json', 'JSON lines instead of CSV')
    .option('--refresh', 'ignore cached results (new results are still stored)');
  addVerificationOptions(command);

  command.action(async (input: string, options: FileOptions) => {
    const stderr = deps.stderr ?? process.stderr;
    const format: FileFormat = options.json ? 'jsonl' : 'csv';
    const cwd = deps.cwd ?? process.cwd();
    const resolved = resolveFilePaths(input, options.output, format, cwd);
    if (!resolved.ok) throw usageError(stderr, resolved.problem);

    const config = loadCommandConfig(command, io.env);
    await verifyFile({
      io,
      deps,
      stderr,
      clock: deps.clock ?? systemClock,
      config,
      cacheMode: !config.cache ? 'off' : options.refresh ? 'refresh' : 'use',
      format,
      paths: resolved.paths,
      inputName: input,
      column: options.column,
    });
  });
  return command;
}

async function verifyFile(request: FileRequest): Promise<void> {
  const { deps, stderr, clock } = request;
  const startedAt = clock.now();
  const temporaryFiles = new TemporaryFiles();
  const control = new RunControl(stderr, () => {
    temporaryFiles.removeAll();
    (deps.exitNow ?? process.exit)(EXIT_INTERRUPTED);
  });
  const stopListening = (deps.interrupts ?? processInterrupts)(() => control.interrupt());
  let composed: ComposedVerifier | null = null;

  try {
    const inputPath = await prepareInput(request, temporaryFiles);
    const layout = await readLayout(inputPath, request);
    const output = await openOutput(request);
    temporaryFiles.add(() => output.discard());
    composed = (deps.compose ?? composeDefault)(request.config, request.cacheMode);
    const isUsable = usableSince(startedAt, request.cacheMode);
    const job: FileJob = { ...request, inputPath, layout, output, composed, isUsable, control };

    control.enter('verify');
    const verified = await verifyPass(job);
    await composed.verifier.close();

    control.enter('write');
    const tally = await writePass(job, verified);
    await output.commit();
    control.enter('done');

    stderr.write(
      formatRunSummary({
        tally,
        fromCache: verified.fromStore + composed.verifier.stats().cacheHits,
        durationMs: clock.now() - startedAt,
        output: request.paths.output ?? 'standard output',
      }),
    );
    endRun(job, tally, verified);
  } finally {
    stopListening();
    temporaryFiles.removeAll();
    await composed?.close();
  }
}

/** Standard input is read twice, so it is first copied to a file. */
async function prepareInput(request: FileRequest, files: TemporaryFiles): Promise<string> {
  if (request.paths.input) return request.paths.input;
  const spooled = await spoolStandardInput(request.io.stdin);
  files.add(() => spooled.remove());
  return spooled.path;
}

async function readLayout(inputPath: string, request: FileRequest): Promise<CsvLayout> {
  const outcome = await readCsvLayout(readRecords(inputPath), request.column);
  if (outcome.ok) return outcome.layout;
  throw usageError(request.stderr, describeLayoutProblem(outcome, request));
}

async function openOutput(request: FileRequest): Promise<OutputFile> {
  const path = request.paths.output;
  if (!path) return standardOutput(request.io.stdout);
  try {
    return await openOutputFile(path);
  } catch (error) {
    throw usageError(request.stderr, `cannot write ${path}: ${(error as Error).message}`);
  }
}

async function verifyPass(job: FileJob): Promise<VerifyProgress> {
  let live: Readonly<VerifyProgress> | null = null;
  const reporter = startProgress(job, 'verifying', 'addresses', () => ({
    done: live?.answered ?? 0,
    total: live?.addresses ?? 0,
    isTotalKnown: live?.isReadingDone ?? false,
  }));
  // Once interrupted, pending answers are refused at once rather than awaited.
  const signal = job.control.verifying.signal;
  const closeVerifier = () => void job.composed.verifier.close();
  signal.addEventListener('abort', closeVerifier);

  try {
    return await verifyCsvRows(readRecords(job.inputPath, job.layout.delimiter), job.layout, {
      verifier: job.composed.verifier,
      store: job.composed.store,
      isUsable: job.isUsable,
      signal,
      maxInFlight: job.deps.maxInFlight,
      onProgress: (progress) => (live = progress),
    });
  } finally {
    signal.removeEventListener('abort', closeVerifier);
    reporter.finish();
  }
}

async function writePass(job: FileJob, verified: VerifyProgress): Promise<WriteTally> {
  let live: Readonly<WriteTally> | null = null;
  const reporter = startProgress(job, 'writing', 'rows', () => ({
    done: live?.rows ?? 0,
    total: verified.rows,
    isTotalKnown: verified.isReadingDone,
  }));

  try {
    return await writeVerifiedRows(readRecords(job.inputPath, job.layout.delimiter), job.layout, {
      output: job.output.stream,
      format: job.format,
      store: job.composed.store,
      isUsable: job.isUsable,
      isPartial: job.control.wasInterrupted,
      signal: job.control.writing.signal,
      inputPath: job.inputPath,
      now: () => job.clock.now(),
      onProgress: (tally) => (live = tally),
    });
  } finally {
    reporter.finish();
  }
}

function startProgress(job: FileJob, label: string, noun: string, read: () => ProgressCounts) {
  const now = () => job.clock.now();
  return createProgressReporter({
    stream: job.stderr,
    now,
    label,
    noun,
    read,
    every: job.deps.every,
  });
}

/** Exit status 0, unless interrupted (130) or an address lost its result (1). */
function endRun(job: FileJob, tally: WriteTally, verified: VerifyProgress): void {
  if (job.control.wasInterrupted) {
    if (!tally.isComplete) {
      const total = verified.isReadingDone ? verified.rows : null;
      job.stderr.write(formatInterruption(tally.rows, total));
    }
    throw new CommandExit('interrupted', 'interrupted by Ctrl-C');
  }
  if (tally.missing > 0) {
    const problem = `${tally.missing} addresses got no result; run the same command again`;
    job.stderr.write(`mailverify: ${problem}\n`);
    throw new CommandExit('failure', problem);
  }
}

/**
 * Whether a stored result answers this run: stored during it, or (reading
 * the cache) fresh when it started. Judged at the start, so that a result
 * answered early in a long run does not expire before pass 2 looks for it.
 */
function usableSince(startedAt: number, cacheMode: CacheMode) {
  return (stored: StoredResult) =>
    stored.storedAt >= startedAt || (cacheMode === 'use' && stored.expiresAt > startedAt);
}

function readRecords(path: string, delimiter?: Delimiter): AsyncGenerator<CsvRecord> {
  return readCsvRecords(createReadStream(path), { delimiter });
}

function composeDefault(config: Config, cacheMode: CacheMode): ComposedVerifier {
  return composeBulkVerifier(config, createLogger(config), cacheMode);
}

type LayoutProblem = Exclude<LayoutOutcome, { ok: true }>;

function describeLayoutProblem(outcome: LayoutProblem, request: FileRequest): string {
  const name = request.paths.input ? request.inputName : 'standard input';
  if (outcome.headers.length === 0) return `${name} has no rows to verify`;

  // JSON quoting shows empty names and keeps control characters off the terminal.
  const listed = outcome.headers.slice(0, HEADERS_LISTED).map((header) => JSON.stringify(header));
  if (outcome.headers.length > HEADERS_LISTED) listed.push('...');
  const hint = request.column === undefined ? '; name the email column with --column NAME' : '';
  return `${outcome.problem} in ${name}; its first row has: ${listed.join(', ')}${hint}`;
}

function usageError(stderr: Writable, problem: string): CommandExit {
  stderr.write(`mailverify: ${problem}\n`);
  return new CommandExit('usage', problem);
}
