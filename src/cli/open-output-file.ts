/**
 * The output of a file run, written to a temporary file in the final
 * folder and renamed over the final name only when complete (rename is
 * atomic within a file system, POSIX rename(2)): a crash never leaves a
 * half-written file under the name the user asked for.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, rmSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';

export interface OutputFile {
  stream: Writable;
  /** Flushes and gives the output its final name. */
  commit(): Promise<void>;
  /** Drops an uncommitted output; synchronous, for the way out of a second Ctrl-C. */
  discard(): void;
}

export async function openOutputFile(path: string): Promise<OutputFile> {
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const temporary = join(dirname(path), `.${basename(path)}.${suffix}.tmp`);
  const stream = createWriteStream(temporary, { flags: 'wx' });
  // Kept by the stream (`errored`) and thrown by the next write or commit.
  stream.on('error', () => {});
  await once(stream, 'open');

  let isDone = false;
  return {
    stream,
    async commit() {
      stream.end();
      await finished(stream);
      await rename(temporary, path);
      isDone = true;
    },
    discard() {
      if (isDone) return;
      isDone = true;
      stream.destroy();
      rmSync(temporary, { force: true });
    },
  };
}

/** Standard output: nothing to rename, and never ended (the process owns it). */
export function standardOutput(stdout: Writable): OutputFile {
  return {
    stream: stdout,
    async commit() {
      if (stdout.writableNeedDrain) await once(stdout, 'drain');
    },
    discard() {},
  };
}
