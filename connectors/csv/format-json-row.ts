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
 */
function rowValue(record: CsvRecord, layout: CsvLayout): JsonRow['row'] {
  const fields = record.encoding === 'latin1' ? record.fields.map(asWindows1252) : record.fields;
  const headers = layout.headers?.map(asWindows1252) ?? null;
  const fitsHeader = headers !== null && fields.length === headers.length;
  if (!fitsHeader || new Set(headers).size !== headers.length) return fields;
  return Object.fromEntries(headers.map((header, index) => [header, fields[index] ?? '']));
}

/**
 * The characters Windows-1252 gives the bytes 0x80-0x9F; the five it
 * leaves undefined keep their code point, as the WHATWG Encoding
 * Standard's table does.
 */
const WINDOWS_1252_HIGH = [
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021',
  '\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f',
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014',
  '\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178',
].join('');

/**
 * A record that is not UTF-8 was read one byte a character (Latin-1), so
 * that the CSV output can give its bytes back. Such files are almost always
 * Windows-1252 (Excel's export), whose 0x80-0x9F are the euro sign, curly
 * quotes and dashes, not C1 controls: that is what the JSON shows.
 */
function asWindows1252(text: string): string {
  const toWindows1252 = (char: string) => WINDOWS_1252_HIGH[char.charCodeAt(0) - 0x80]!;
  return text.replace(/[\u0080-\u009f]/g, toWindows1252);
}
