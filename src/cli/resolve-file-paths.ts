/**
 * Where `mailverify file` reads and writes, checked before any work: the
 * input exists and is a regular file (it is read twice), and the output can
 * never be the input, whatever path, link or case leads to it.
 */
import { accessSync, constants, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { extname, resolve } from 'node:path';

export type FileFormat = 'csv' | 'jsonl';

export interface FilePaths {
  /** null: standard input. */
  input: string | null;
  /** null: standard output. */
  output: string | null;
}

export type PathsOutcome = { ok: true; paths: FilePaths } | { ok: false; problem: string };

export function resolveFilePaths(
  input: string,
  output: string | undefined,
  format: FileFormat,
  cwd: string,
): PathsOutcome {
  const inputPath = input === '-' ? null : resolve(cwd, input);
  if (inputPath) {
    const problem = checkInput(inputPath, input);
    if (problem) return { ok: false, problem };
  }

  let outputPath: string | null = null;
  if (output !== undefined && output !== '-') outputPath = resolve(cwd, output);
  if (output === undefined && inputPath) outputPath = defaultOutputPath(inputPath, format);
  if (!outputPath) return { ok: true, paths: { input: inputPath, output: null } };

  const outputStats = statOrNull(outputPath);
  if (outputStats?.isDirectory()) {
    return { ok: false, problem: `${output ?? outputPath} is a folder; name a file with -o` };
  }
  const inputStats = inputPath ? statOrNull(inputPath) : null;
  const isInput =
    outputPath === inputPath ||
    (inputStats !== null && outputStats !== null && isSameFile(inputStats, outputStats));
  if (isInput) {
    const problem = `refusing to overwrite the input file ${input}; choose another output with -o`;
    return { ok: false, problem };
  }
  return { ok: true, paths: { input: inputPath, output: outputPath } };
}

/** `contacts.csv` gives `contacts.verified.csv` next to it; a TSV stays a TSV. */
export function defaultOutputPath(inputPath: string, format: FileFormat): string {
  const extension = extname(inputPath);
  const stem = inputPath.slice(0, inputPath.length - extension.length);
  if (format === 'jsonl') return `${stem}.verified.jsonl`;
  return `${stem}.verified${extension.toLowerCase() === '.tsv' ? '.tsv' : '.csv'}`;
}

function checkInput(path: string, given: string): string | null {
  const stats = statOrNull(path);
  if (!stats) return `cannot read ${given}: no such file`;
  if (!stats.isFile()) return `${given} is not a regular file; use - to read standard input`;
  try {
    accessSync(path, constants.R_OK);
  } catch {
    return `cannot read ${given}: permission denied`;
  }
  return null;
}

/** Hard links, symbolic links and case-insensitive file systems all lead here. */
function isSameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}
