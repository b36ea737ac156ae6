/**
 * Standard input copied to a private temporary file, so that a file run can
 * read it twice (once to verify, once to write).
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface SpooledInput {
  path: string;
  /** Synchronous, so that it can also run on the way out of a second Ctrl-C. */
  remove(): void;
}

export async function spoolStandardInput(stdin: Readable): Promise<SpooledInput> {
  const folder = mkdtempSync(join(tmpdir(), 'mailverify-input-'));
  const remove = () => rmSync(folder, { recursive: true, force: true });
  const path = join(folder, 'input.csv');

  try {
    await pipeline(stdin, createWriteStream(path, { mode: 0o600 }));
  } catch (error) {
    remove();
    throw error;
  }
  return { path, remove };
}
