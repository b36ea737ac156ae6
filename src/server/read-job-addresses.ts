/**
 * Addresses out of a job upload, as a stream: plain text (one address a
 * line) or CSV (the email column found as `mailverify file` finds it).
 * Nothing is held beyond the current line or record, so a million-line
 * upload costs the memory of one line; the byte count is bounded as it
 * arrives, since these bodies bypass the JSON parser and its limit.
 */
import { readCsvRecords } from '../../connectors/csv/read-csv-records.js';
import type { CsvRecord } from '../../connectors/csv/read-csv-records.js';
import { detectEmailColumn, SAMPLE_ROWS } from '../../connectors/csv/detect-email-column.js';
import { ApiError } from './api-error.js';

/** Far above RFC 5321's 254 octets: a longer "address" is not one. */
export const MAX_ADDRESS_CHARS = 1_024;

const LF = 0x0a;

/** Passes the chunks on, refusing the body once it passes `maxBytes`. */
export async function* limitBytes(
  source: AsyncIterable<Uint8Array | string>,
  maxBytes: number,
): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of source) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
    total += buffer.length;
    if (total > maxBytes) {
      throw new ApiError('payload_too_large', `the body is larger than ${maxBytes} bytes`, {
        limitBytes: maxBytes,
      });
    }
    yield buffer;
  }
}

/** One address a line; blank lines are skipped, spaces around an address dropped. */
export async function* readAddressLines(source: AsyncIterable<Buffer>): AsyncGenerator<string> {
  let pending: Buffer = Buffer.alloc(0);
  let line = 1;

  for await (const chunk of source) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let start = 0;
    for (let end = pending.indexOf(LF, start); end !== -1; end = pending.indexOf(LF, start)) {
      const address = addressOf(pending.subarray(start, end).toString('utf8'), line);
      if (address !== null) yield address;
      line += 1;
      start = end + 1;
    }
    pending = pending.subarray(start);
    if (pending.length > MAX_ADDRESS_CHARS * 4) throw tooLong(line);
  }

  const last = addressOf(pending.toString('utf8'), line);
  if (last !== null) yield last;
}

/**
 * The addresses of a CSV file's email column. The column is the one named
 * by `column`, else the one whose header or content says email (see
 * connectors/csv/detect-email-column.ts); a header row is skipped.
 */
export async function* readCsvAddresses(
  source: AsyncIterable<Buffer>,
  column?: string,
): AsyncGenerator<string> {
  const records = readCsvRecords(source)[Symbol.asyncIterator]();
  const sample: CsvRecord[] = [];

  let first: CsvRecord | null = null;
  while (sample.length < SAMPLE_ROWS) {
    const next = await records.next();
    if (next.done) break;
    if (next.value.fields.length === 0) continue;
    if (first) sample.push(next.value);
    else first = next.value;
  }
  if (!first) return;

  const rows = sample.filter((record) => record.problem === null).map((record) => record.fields);
  const choice = detectEmailColumn(first.fields, rows, column);
  if (!choice.ok) {
    throw new ApiError('validation_failed', `no email column: ${choice.problem}`, [
      { path: column === undefined ? 'body' : 'column', message: choice.problem },
    ]);
  }

  const cellOf = (record: CsvRecord) => addressOf(record.fields[choice.index] ?? '', record.line);
  const head = choice.hasHeader ? sample : [first, ...sample];
  for (const record of head) {
    const address = cellOf(record);
    if (address !== null) yield address;
  }
  for (let next = await records.next(); !next.done; next = await records.next()) {
    const address = cellOf(next.value);
    if (address !== null) yield address;
  }
}

function addressOf(text: string, line: number): string | null {
  const address = text.trim();
  if (address === '') return null;
  if (address.length > MAX_ADDRESS_CHARS) throw tooLong(line);
  return address;
}

function tooLong(line: number): ApiError {
  const message = `line ${line} is longer than ${MAX_ADDRESS_CHARS} characters`;
  return new ApiError('validation_failed', message, [{ path: `line ${line}`, message }]);
}
