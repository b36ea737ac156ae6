/**
 * One JSON line per data row, for programs: where the row was, what it
 * held, its result, and why it has none when it has none.
 */
import type { VerificationResult } from '../../src/index.js';
import type { CsvLayout } from './read-csv-layout.js';
import type { CsvRecord } from './read-csv-records.js';

export interface JsonRow {
  line: number;
  /** Keyed by header when the header names are distinct and the row fits them. */
  row: Record<string, string> | string[];
  result: VerificationResult | null;
  problem: string | null;
}

export function formatJsonRow(
  record: CsvRecord,
  layout: CsvLayout,
  result: VerificationResult | null,
  problem: string | null,
): string {
  const line: JsonRow = { line: record.line, row: rowValue(record, layout), result, problem };
  return `${JSON.stringify(line)}\n`;
}

/**
 * A row that does not fit the header is kept whole, as an array: no cell is lost.
 *
 * TODO: a record over the size limit shows only its head here (its problem
 * says so), where the CSV output copies it whole from the input file.
 * TODO: rows that are not UTF-8 are decoded as Latin-1, so the Windows-1252
 * characters 0x80-0x9F (the euro sign, curly quotes) come out as C1 control
 * characters in JSON; the CSV output gives back the bytes themselves.
 */
function rowValue(record: CsvRecord, layout: CsvLayout): JsonRow['row'] {
  const { headers } = layout;
  const fitsHeader = headers !== null && record.fields.length === headers.length;
  if (!fitsHeader || new Set(headers).size !== headers.length) return record.fields;
  return Object.fromEntries(headers.map((header, index) => [header, record.fields[index] ?? '']));
}
