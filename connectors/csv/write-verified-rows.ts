/**
 * Pass 2 of a file run: reads the input again and writes every row with its
 * result, looked up in the store by normalized address, in input order. A
 * CSV row is its own bytes, unchanged, then our columns; a JSON line is one
 * object per data row.
 */
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import type { Writable } from 'node:stream';

import type { Reason, StoredResult, Verdict, VerificationResult } from '../../src/index.js';
import { classifyRow } from './classify-row.js';
import type { RowTask } from './classify-row.js';
import {
  formatAddedHeader,
  formatRowSuffix,
  quoteCsvField,
  resultCells,
} from './format-csv-row.js';
import { formatJsonRow } from './format-json-row.js';
import { invalidAddressResult } from './invalid-address-result.js';
import type { CsvLayout } from './read-csv-layout.js';
import type { CsvRecord } from './read-csv-records.js';
import type { ResultLookup } from './verify-csv-rows.js';

export type OutputFormat = 'csv' | 'jsonl';

export interface WriteRowsOptions {
  output: Writable;
  format: OutputFormat;
  store: ResultLookup;
  isUsable: (stored: StoredResult) => boolean;
  /**
   * Stop before the first address without a usable result: an interrupted
   * run writes the rows up to there, a file a rerun completes.
   */
  isPartial: boolean;
  /** Aborted: stop after the row being written. */
  signal?: AbortSignal;
  /** The file the records come from: an over-long record is copied from it. */
  inputPath: string;
  now: () => number;
  /** Called after each row with the live tally (the same object each time). */
  onProgress?: (tally: Readonly<WriteTally>) => void;
}

export interface WriteTally {
  /** Data rows written: neither the header nor blank lines. */
  rows: number;
  /** Rows written with a verifier's result. */
  verified: number;
  byVerdict: Partial<Record<Verdict, number>>;
  byReason: Partial<Record<Reason, number>>;
  noEmail: number;
  invalid: number;
  malformed: number;
  /** The first malformed rows: where, and what is wrong. */
  malformedRows: { line: number; problem: string }[];
  /** Addresses written without a result: none, unless the store lost one. */
  missing: number;
  /** Every record was written; false when the output is a prefix of the input. */
  isComplete: boolean;
}

export const MALFORMED_ROWS_KEPT = 5;

interface Outcome {
  result: VerificationResult | null;
  problem: string | null;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

export async function writeVerifiedRows(
  records: AsyncIterable<CsvRecord>,
  layout: CsvLayout,
  options: WriteRowsOptions,
): Promise<WriteTally> {
  const tally = emptyTally();

  for await (const record of records) {
    if (options.signal?.aborted) return tally;
    const task = classifyRow(record, layout);
    const outcome = await settle(task, options);
    if (!outcome) return tally;

    count(tally, task, outcome, record.line);
    if (options.format === 'jsonl') await writeJsonRow(record, task, outcome, layout, options);
    else await writeCsvRow(record, task, outcome, layout, options);
    options.onProgress?.(tally);
  }

  tally.isComplete = true;
  return tally;
}

/** The row's result and problem; null to stop (a partial run reached a gap). */
async function settle(task: RowTask, options: WriteRowsOptions): Promise<Outcome | null> {
  switch (task.kind) {
    case 'address': {
      const stored = await options.store.getResult(task.normalized);
      if (stored && options.isUsable(stored)) {
        return { result: { ...stored.result, email: task.email }, problem: null };
      }
      if (options.isPartial) return null;
      return { result: null, problem: 'no result was stored for this address' };
    }
    case 'invalid': {
      const checkedAt = new Date(options.now()).toISOString();
      return { result: invalidAddressResult(task.email, task.detail, checkedAt), problem: null };
    }
    case 'malformed':
      return { result: null, problem: task.problem };
    case 'no_email':
      return { result: null, problem: 'the email column is empty' };
    case 'blank':
    case 'header':
      return { result: null, problem: null };
  }
}

function count(tally: WriteTally, task: RowTask, outcome: Outcome, line: number): void {
  if (task.kind === 'blank' || task.kind === 'header') return;
  tally.rows += 1;

  if (task.kind === 'malformed') {
    tally.malformed += 1;
    const isKept = tally.malformedRows.length < MALFORMED_ROWS_KEPT;
    if (isKept) tally.malformedRows.push({ line, problem: task.problem });
  }
  if (task.kind === 'no_email') tally.noEmail += 1;
  if (task.kind === 'invalid') tally.invalid += 1;
  if (task.kind === 'address' && !outcome.result) tally.missing += 1;
  if (task.kind === 'address' && outcome.result) tally.verified += 1;

  const { result } = outcome;
  if (result) {
    tally.byVerdict[result.verdict] = (tally.byVerdict[result.verdict] ?? 0) + 1;
    tally.byReason[result.reason] = (tally.byReason[result.reason] ?? 0) + 1;
  }
}

async function writeJsonRow(
  record: CsvRecord,
  task: RowTask,
  outcome: Outcome,
  layout: CsvLayout,
  options: WriteRowsOptions,
): Promise<void> {
  if (task.kind === 'blank' || task.kind === 'header') return;
  await put(options.output, formatJsonRow(record, layout, outcome.result, outcome.problem));
}

async function writeCsvRow(
  record: CsvRecord,
  task: RowTask,
  outcome: Outcome,
  layout: CsvLayout,
  options: WriteRowsOptions,
): Promise<void> {
  const { output } = options;
  const ending = csvSuffix(record, task, outcome, layout) + record.lineEnding;

  // A list without a header gets one, above its first line and after its BOM.
  const addsHeader = record.index === 0 && layout.headerIndex === null;
  if (addsHeader) {
    if (record.hasBom) await put(output, BOM);
    await put(output, formatAddedHeader(layout) + layout.lineEnding);
  }
  const skippedBytes = addsHeader && record.hasBom ? BOM.length : 0;

  // The common case in one write: UTF-8 text gives back its own bytes.
  if (!record.isTruncated && record.encoding === 'utf8' && skippedBytes === 0) {
    await put(output, record.raw + ending);
    return;
  }
  await putUserBytes(record, skippedBytes, options);
  await put(output, ending);
}

function csvSuffix(record: CsvRecord, task: RowTask, outcome: Outcome, layout: CsvLayout): string {
  if (task.kind === 'blank') return '';
  if (task.kind === 'header') {
    const names = layout.resultNames.map((name) => quoteCsvField(name, layout.delimiter));
    return layout.delimiter + names.join(layout.delimiter);
  }
  // Cells appended after an unclosed quote would become part of its field.
  if (record.hasUnclosedQuote) return '';
  return formatRowSuffix(record, layout, resultCells(outcome.result));
}

/** The record's own bytes: from `raw`, or from the file when it is over the limit. */
async function putUserBytes(
  record: CsvRecord,
  skippedBytes: number,
  options: WriteRowsOptions,
): Promise<void> {
  if (!record.isTruncated) {
    const bytes = Buffer.from(record.raw, record.encoding);
    await put(options.output, bytes.subarray(skippedBytes));
    return;
  }

  const start = record.offset + skippedBytes;
  const end = record.offset + record.byteLength - 1;
  for await (const chunk of createReadStream(options.inputPath, { start, end })) {
    await put(options.output, chunk as Buffer);
  }
}

/** Waits when the output is full; a write error (disk full) stops the run. */
async function put(output: Writable, data: string | Buffer): Promise<void> {
  if (output.errored) throw output.errored;
  // A destroyed stream would never emit 'drain'.
  if (output.destroyed) throw new Error('the output was closed before every row was written');
  if (!output.write(data)) await once(output, 'drain');
}

function emptyTally(): WriteTally {
  return {
    rows: 0,
    verified: 0,
    byVerdict: {},
    byReason: {},
    noEmail: 0,
    invalid: 0,
    malformed: 0,
    malformedRows: [],
    missing: 0,
    isComplete: false,
  };
}
