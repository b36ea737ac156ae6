/**
 * What we add to each row of a CSV file: five result columns after the
 * user's own, quoted as RFC 4180 section 2 asks for the file's delimiter.
 * The user's text is never rewritten; only these cells are ours.
 */
import type { Flags, VerificationResult } from '../../src/index.js';
import type { CsvLayout } from './read-csv-layout.js';
import type { CsvRecord } from './read-csv-records.js';
import type { Delimiter } from './sniff-delimiter.js';

export const RESULT_COLUMNS = ['verdict', 'reason', 'score', 'flags', 'checked_at'] as const;

/**
 * Our column names. When the header already has one of them (a rerun on
 * our own output), all five take a prefix, `mailverify_verdict` and so on,
 * then `mailverify_2_verdict`: nothing of the user's is ever replaced.
 */
export function resultColumnNames(headers: readonly string[] | null): string[] {
  const taken = new Set((headers ?? []).map((header) => header.trim().toLowerCase()));

  // Each taken name spoils at most one prefix, so one of these is free.
  for (let attempt = 0; attempt <= taken.size; attempt += 1) {
    const prefix = attempt === 0 ? '' : attempt === 1 ? 'mailverify_' : `mailverify_${attempt}_`;
    const names = RESULT_COLUMNS.map((name) => `${prefix}${name}`);
    if (names.every((name) => !taken.has(name))) return names;
  }
  throw new Error('resultColumnNames: no free prefix, which cannot happen');
}

/** Empty cells for a row without a result: no address, or a malformed row. */
export function resultCells(result: VerificationResult | null): string[] {
  if (!result) return RESULT_COLUMNS.map(() => '');
  return [
    result.verdict,
    result.reason,
    String(result.score),
    flagNames(result.flags).join('|'),
    result.checkedAt,
  ];
}

export function flagNames(flags: Flags): string[] {
  const names: [string, boolean | null][] = [
    ['role', flags.role],
    ['free', flags.free],
    ['disposable', flags.disposable],
    ['catch_all', flags.catchAll],
    ['smtputf8', flags.smtputf8],
  ];
  return names.filter(([, isSet]) => isSet === true).map(([name]) => name);
}

/**
 * What follows the user's text on one line: empty cells up to the header's
 * width when the row is short (so our columns line up), then ours.
 */
export function formatRowSuffix(record: CsvRecord, layout: CsvLayout, cells: string[]): string {
  const missing = record.isTruncated ? 0 : Math.max(0, layout.width - record.fields.length);
  const own = cells.map((cell) => quoteCsvField(cell, layout.delimiter));
  return layout.delimiter.repeat(missing) + layout.delimiter + own.join(layout.delimiter);
}

/** The header line we write above a list that has none. */
export function formatAddedHeader(layout: CsvLayout): string {
  const userColumns = Array.from({ length: layout.width }, (_, index) =>
    index === layout.column ? 'email' : '',
  );
  const names = [...userColumns, ...layout.resultNames];
  return names.map((name) => quoteCsvField(name, layout.delimiter)).join(layout.delimiter);
}

export function quoteCsvField(value: string, delimiter: Delimiter): string {
  const needsQuotes =
    value.includes(delimiter) ||
    value.includes('"') ||
    value.includes('\r') ||
    value.includes('\n');
  return needsQuotes ? `"${value.replaceAll('"', '""')}"` : value;
}
