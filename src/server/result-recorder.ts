/**
 * Job results on their way to the store: gathered and written in batches
 * (one transaction each) rather than one by one, which would cost a disk
 * sync per address. A crash loses at most one batch, whose addresses stay
 * pending and are verified again, from the cache, on resume.
 */
import type { Logger } from 'pino';

import type { ItemResult, JobStore } from '../store/job-store.js';
import type { Clock } from '../verify/types.js';

/** Results written in one transaction, or after this long, whichever comes first. */
const FLUSH_SIZE = 500;
const FLUSH_MS = 200;

export interface ResultRecorder {
  add(entry: ItemResult): void;
  flush(): Promise<void>;
  /** Later results (verifications that outlived the pass) are written one by one. */
  close(): void;
}

export function createResultRecorder(
  jobs: JobStore,
  jobId: string,
  clock: Clock,
  logger: Logger,
): ResultRecorder {
  let buffer: ItemResult[] = [];
  let timer: NodeJS.Timeout | null = null;
  let writing: Promise<void> = Promise.resolve();
  let isClosed = false;

  const write = (entries: ItemResult[]) => {
    writing = writing
      .then(() => jobs.recordResults(jobId, entries, clock.now()))
      .then(
        () => undefined,
        (error: unknown) => {
          // The items stay pending and are verified again on the next pass.
          logger.error({ err: error, results: entries.length }, 'job results not recorded');
        },
      );
    return writing;
  };

  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (buffer.length === 0) return writing;
    const entries = buffer;
    buffer = [];
    return write(entries);
  };

  return {
    add(entry) {
      if (isClosed) {
        void write([entry]);
        return;
      }
      buffer.push(entry);
      if (buffer.length >= FLUSH_SIZE) void flush();
      else timer ??= setTimeout(() => void flush(), FLUSH_MS);
    },
    flush,
    close() {
      isClosed = true;
    },
  };
}
