/**
 * The CSV connector: file in, file out. A streaming reader that keeps each
 * row's bytes, email column detection, and the two passes of a file run.
 */
export { readCsvRecords, MAX_RECORD_BYTES } from './read-csv-records.js';
export type {
  ByteSource,
  CsvRecord,
  LineEnding,
  ReadCsvOptions,
  TextEncoding,
} from './read-csv-records.js';
export { sniffDelimiter } from './sniff-delimiter.js';
export type { Delimiter } from './sniff-delimiter.js';
export { detectEmailColumn } from './detect-email-column.js';
export type { ColumnChoice } from './detect-email-column.js';
export { readCsvLayout } from './read-csv-layout.js';
export type { CsvLayout, LayoutOutcome } from './read-csv-layout.js';
export { verifyCsvRows, MAX_IN_FLIGHT } from './verify-csv-rows.js';
export type {
  AddressVerifier,
  ResultLookup,
  VerifyProgress,
  VerifyRowsOptions,
} from './verify-csv-rows.js';
export { writeVerifiedRows } from './write-verified-rows.js';
export type { OutputFormat, WriteRowsOptions, WriteTally } from './write-verified-rows.js';
export { RESULT_COLUMNS } from './format-csv-row.js';
