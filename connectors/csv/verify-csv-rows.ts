/**
 * Pass 1 of a file run: reads every row and asks the verifier about its
 * address, with a bounded number of answers pending. A million-row file
 * costs the memory of MAX_IN_FLIGHT promises, not of its rows, and an
 * address waiting for its greylisting retry does not hold up the rows
 * after it. The verifier keeps each result in the store, where pass 2
 * finds them in input order.
 */
import type { StoredResult, VerificationResult } from '../../src/index.js';
import { classifyRow } from './classify-row.js';
import type { CsvLayout } from './read-csv-layout.js';
import type { CsvRecord } from './read-csv-records.js';

export interface AddressVerifier {
  verify(email: string): Promise<VerificationResult>;
}

export interface ResultLookup {
  getResult(normalized: string): Promise<StoredResult | null>;
}

export interface VerifyProgress {
  /** Data rows read: neither the header nor blank lines. */
  rows: number;
  /** Rows with an address to verify. */
  addresses: number;
  /** Addresses with a result so far. */
  answered: number;
  /** Answered by a result stored before, without asking the verifier. */
  fromStore: number;
  isReadingDone: boolean;
}

export interface VerifyRowsOptions {
  verifier: AddressVerifier;
  store: ResultLookup;
  /** Whether a stored result answers this run: fresh, or stored during it. */
  isUsable: (stored: StoredResult) => boolean;
  /** Aborted on interruption: no row is taken after it. */
  signal: AbortSignal;
  maxInFlight?: number;
  /** Called on each change with the live counts (the same object each time). */
  onProgress?: (progress: Readonly<VerifyProgress>) => void;
}

/**
 * Far above what the verifier runs at once (its concurrency, plus the
 * greylisted addresses waiting minutes for a retry), so that reading never
 * starves it; small enough to cost a few megabytes.
 */
export const MAX_IN_FLIGHT = 10_000;

export async function verifyCsvRows(
  records: AsyncIterable<CsvRecord>,
  layout: CsvLayout,
  options: VerifyRowsOptions,
): Promise<VerifyProgress> {
  const { verifier, store, isUsable, signal } = options;
  const maxInFlight = options.maxInFlight ?? MAX_IN_FLIGHT;
  const progress: VerifyProgress = {
    rows: 0,
    addresses: 0,
    answered: 0,
    fromStore: 0,
    isReadingDone: false,
  };
  const report = () => options.onProgress?.(progress);
  const inFlight = new InFlight(signal);
  const failures: unknown[] = [];

  try {
    let isStopped = false;
    for await (const record of records) {
      // A verifier that fails (not a mailbox fact: a fault) ends the run.
      isStopped = signal.aborted || failures.length > 0;
      if (isStopped) break;
      const task = classifyRow(record, layout);
      if (task.kind === 'blank' || task.kind === 'header') continue;
      progress.rows += 1;
      if (task.kind !== 'address') continue;
      progress.addresses += 1;

      const stored = await store.getResult(task.normalized);
      if (stored && isUsable(stored)) {
        progress.answered += 1;
        progress.fromStore += 1;
        report();
        continue;
      }

      await inFlight.waitBelow(maxInFlight);
      isStopped = signal.aborted;
      if (isStopped) break;
      const answer = ask(verifier, task.email).then(
        () => {
          progress.answered += 1;
          report();
        },
        (error: unknown) => {
          // After an interruption the verifier refuses what is pending: expected.
          if (!signal.aborted && failures.length === 0) failures.push(error);
        },
      );
      inFlight.add(answer);
      report();
    }
    progress.isReadingDone = !isStopped;
    report();

    await inFlight.waitBelow(1);
  } finally {
    inFlight.release();
  }

  if (failures.length > 0 && !signal.aborted) throw failures[0];
  return progress;
}

function ask(verifier: AddressVerifier, email: string): Promise<VerificationResult> {
  try {
    return verifier.verify(email);
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Counts pending answers; waits, without polling, for room or for an abort. */
class InFlight {
  private count = 0;
  private wake: (() => void) | null = null;
  private readonly onAbort = () => this.wakeUp();

  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener('abort', this.onAbort);
  }

  add(answer: Promise<void>): void {
    this.count += 1;
    void answer.then(() => {
      this.count -= 1;
      this.wakeUp();
    });
  }

  async waitBelow(limit: number): Promise<void> {
    while (this.count >= limit && !this.signal.aborted) {
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  release(): void {
    this.signal.removeEventListener('abort', this.onAbort);
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
