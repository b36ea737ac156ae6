/**
 * Progress of a file run on standard error. On a terminal, one line redrawn
 * in place with a carriage return; elsewhere (a log file, a CI job), a
 * plain line every few seconds, which stays readable once written.
 */
import { formatCount, formatDuration, formatRate } from './format-quantities.js';

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressCounts {
  done: number;
  /** What is known to be coming so far; all of it once `isTotalKnown`. */
  total: number;
  isTotalKnown: boolean;
}

/** Runs `tick` every `ms` milliseconds until the returned function is called. */
export type Every = (ms: number, tick: () => void) => () => void;

export interface ProgressReporterOptions {
  stream: ProgressStream;
  now: () => number;
  /** "verifying", "writing" */
  label: string;
  /** "addresses", "rows" */
  noun: string;
  /** Read at each redraw, so that the work never waits for the display. */
  read: () => ProgressCounts;
  every?: Every;
}

export interface ProgressReporter {
  /** Draws the last state and stops. */
  finish(): void;
}

const TTY_REDRAW_MS = 250;
const PLAIN_LINE_MS = 5_000;
const BAR_WIDTH = 20;
const DEFAULT_COLUMNS = 80;

export function createProgressReporter(options: ProgressReporterOptions): ProgressReporter {
  const { stream, now, label, noun, read } = options;
  const every = options.every ?? everyInterval;
  const isTty = stream.isTTY === true;
  const startedAt = now();
  let drawn = '';

  const draw = () => {
    const text = formatProgress(label, noun, read(), now() - startedAt);
    if (!isTty) {
      stream.write(`${text}\n`);
      return;
    }
    // A line wider than the terminal wraps, and \r then redraws only its tail.
    // A pseudo-terminal without a size reports 0 columns.
    const columns = stream.columns && stream.columns > 0 ? stream.columns : DEFAULT_COLUMNS;
    const line = text.slice(0, columns - 1);
    if (line === drawn) return;
    stream.write(`\r${line}\x1b[K`);
    drawn = line;
  };
  const stop = every(isTty ? TTY_REDRAW_MS : PLAIN_LINE_MS, draw);

  let isFinished = false;
  return {
    finish() {
      if (isFinished) return;
      isFinished = true;
      stop();
      draw();
      if (isTty) stream.write('\n');
    },
  };
}

/**
 * "verifying [########............]  41%  4,100/10,000 addresses  98/s  ETA 1m00s"
 * once the total is known; before, "verifying  4,100/12,000+ addresses  98/s".
 */
export function formatProgress(
  label: string,
  noun: string,
  counts: ProgressCounts,
  elapsedMs: number,
): string {
  const { done, total, isTotalKnown } = counts;
  const rate = formatRate(done, elapsedMs);
  if (!isTotalKnown) {
    return `${label}  ${formatCount(done)}/${formatCount(total)}+ ${noun}  ${rate}`;
  }

  const share = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(share * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
  const percent = `${Math.floor(share * 100)}%`.padStart(4);
  const counted = `${formatCount(done)}/${formatCount(total)} ${noun}`;
  return `${label} ${bar} ${percent}  ${counted}  ${rate}  ETA ${estimate(counts, elapsedMs)}`;
}

function estimate(counts: ProgressCounts, elapsedMs: number): string {
  const left = counts.total - counts.done;
  if (left <= 0) return '0s';
  if (counts.done === 0 || elapsedMs <= 0) return '?';
  return formatDuration((left * elapsedMs) / counts.done);
}

function everyInterval(ms: number, tick: () => void): () => void {
  const timer = setInterval(tick, ms);
  // Progress alone never keeps the process alive.
  timer.unref();
  return () => clearInterval(timer);
}
