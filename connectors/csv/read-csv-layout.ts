/**
 * The shape of a file, read from its first rows once, then used unchanged
 * by both passes: the delimiter, the header, the email column and the
 * names of the columns we add.
 */
import { detectEmailColumn, SAMPLE_ROWS } from './detect-email-column.js';
import { resultColumnNames } from './format-csv-row.js';
import type { CsvRecord, LineEnding } from './read-csv-records.js';
import type { Delimiter } from './sniff-delimiter.js';

export interface CsvLayout {
  delimiter: Delimiter;
  /** 0-based index of the email column. */
  column: number;
  /** Record index of the header, or null for a list without one. */
  headerIndex: number | null;
  /** Header names, trimmed; null without a header. */
  headers: string[] | null;
  /** Fields in the first row: the width every row should have. */
  width: number;
  /** Names of the result columns we add, free of clashes with the header. */
  resultNames: string[];
  /** For the header line we add to a list without one. */
  lineEnding: Exclude<LineEnding, ''>;
  how: 'named' | 'header' | 'content';
}

export type LayoutOutcome =
  { ok: true; layout: CsvLayout } | { ok: false; problem: string; headers: string[] };

/** Reads as few records as it needs; the caller may drop the rest of the stream. */
export async function readCsvLayout(
  records: AsyncIterable<CsvRecord>,
  columnName?: string,
): Promise<LayoutOutcome> {
  let first: CsvRecord | null = null;
  const rows: string[][] = [];

  for await (const record of records) {
    if (record.fields.length === 0) continue;
    if (!first) first = record;
    else if (record.problem === null) rows.push(record.fields);
    if (rows.length >= SAMPLE_ROWS) break;
  }
  if (!first) return { ok: false, problem: 'the file has no rows', headers: [] };

  const choice = detectEmailColumn(first.fields, rows, columnName);
  if (!choice.ok) return choice;

  const headers = choice.hasHeader ? first.fields.map((cell) => cell.trim()) : null;
  const layout: CsvLayout = {
    delimiter: first.delimiter,
    column: choice.index,
    headerIndex: choice.hasHeader ? first.index : null,
    headers,
    width: first.fields.length,
    resultNames: resultColumnNames(headers),
    lineEnding: first.lineEnding === '' ? '\r\n' : first.lineEnding,
    how: choice.how,
  };
  return { ok: true, layout };
}
