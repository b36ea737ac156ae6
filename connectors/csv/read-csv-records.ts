/**
 * A streaming RFC 4180 reader that keeps every record exactly as written, so
 * that the output can give the user's rows back byte for byte. Records are
 * split on bytes: the quote, the delimiters, CR and LF are ASCII, which
 * never occurs inside a UTF-8 sequence nor means anything else in the
 * single-byte code pages spreadsheets export (Windows-1252 and friends).
 *
 * Malformed records are reported in `problem` and still yielded. Memory is
 * bounded by the longest record kept, at most `maxRecordBytes`: a longer
 * record (often an unclosed quote that swallows the rest of the file) keeps
 * only its head and says where its bytes are, so a writer can copy them
 * from the file unchanged.
 */
import { isUtf8 } from 'node:buffer';

import { splitCsvFields } from './split-csv-fields.js';
import { sniffDelimiter } from './sniff-delimiter.js';
import type { Delimiter } from './sniff-delimiter.js';

export type LineEnding = '\r\n' | '\n' | '\r' | '';

/** How `raw` turns back into the input's bytes: valid UTF-8, or one byte a character. */
export type TextEncoding = 'utf8' | 'latin1';

export interface CsvRecord {
  /** 0-based, counting every record, blank lines included. */
  index: number;
  /** 1-based number of the record's first line. */
  line: number;
  /** The record's text as written, without its line ending; the first keeps a BOM. */
  raw: string;
  lineEnding: LineEnding;
  /** Empty for a blank line. */
  fields: string[];
  /** Why the record is malformed, or null. */
  problem: string | null;
  delimiter: Delimiter;
  encoding: TextEncoding;
  /** Where the record's bytes start in the input, and how many there are. */
  offset: number;
  byteLength: number;
  /** Longer than the limit: `raw` and `fields` hold only its head. */
  isTruncated: boolean;
  /** The input ends inside a quoted field of this record. */
  hasUnclosedQuote: boolean;
  /** The first record, and the input starts with a UTF-8 byte order mark. */
  hasBom: boolean;
}

export interface ReadCsvOptions {
  /** The field separator; sniffed from the first line when not given. */
  delimiter?: Delimiter;
  maxRecordBytes?: number;
}

/** Far beyond any contact row; a record this long is an unclosed quote or not a CSV. */
export const MAX_RECORD_BYTES = 1024 * 1024;

const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

export type ByteSource = AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;

export async function* readCsvRecords(
  source: ByteSource,
  options: ReadCsvOptions = {},
): AsyncGenerator<CsvRecord> {
  const maxRecordBytes = options.maxRecordBytes ?? MAX_RECORD_BYTES;
  const chunks = toBuffers(source);

  // A reader that stops early (a sample of the first rows) closes the source.
  try {
    const head = await readHead(chunks, maxRecordBytes);
    const hasBom = head.subarray(0, BOM.length).equals(BOM);
    const firstLine = head.subarray(hasBom ? BOM.length : 0, lineEndIn(head));
    const delimiter = options.delimiter ?? sniffDelimiter(firstLine.toString('latin1'));

    const splitter = new RecordSplitter(delimiter, maxRecordBytes, hasBom);
    const shaper = new RecordShaper(delimiter, maxRecordBytes);

    for (const record of splitter.push(head)) yield shaper.shape(record);
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      for (const record of splitter.push(next.value)) yield shaper.shape(record);
    }
    for (const record of splitter.end()) yield shaper.shape(record);
  } finally {
    await chunks.return(undefined);
  }
}

async function* toBuffers(source: ByteSource): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    if (typeof chunk === 'string') yield Buffer.from(chunk, 'utf8');
    else yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
  }
}

/** The input up to its first line feed (or the record limit): enough to sniff. */
async function readHead(chunks: AsyncIterator<Buffer>, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;

  while (length < limit) {
    const next = await chunks.next();
    if (next.done) break;
    parts.push(next.value);
    length += next.value.length;
    if (next.value.includes(LF)) break;
  }
  return Buffer.concat(parts, length);
}

function lineEndIn(head: Buffer): number {
  const end = head.indexOf(LF);
  return end === -1 ? head.length : end;
}

interface SplitRecord {
  bytes: Buffer;
  byteLength: number;
  offset: number;
  line: number;
  lineEnding: LineEnding;
  hasBom: boolean;
  /** The line where a quoted field opened and never closed, at the end of the input. */
  unclosedQuoteLine: number | null;
}

type SplitState = 'field_start' | 'unquoted' | 'quoted' | 'quote_in_quoted';

/**
 * Finds where records end: at CRLF, LF or a lone CR outside quotes. Tracks
 * line numbers, including the line breaks inside quoted fields.
 */
class RecordSplitter {
  private readonly delimiter: number;
  private state: SplitState = 'field_start';
  private pieces: Buffer[] = [];
  private heldBytes = 0;
  private recordBytes = 0;
  private recordOffset = 0;
  private recordLine = 1;
  private line = 1;
  private quoteLine = 1;
  private isCrPending = false;
  private wasCrInQuotes = false;
  private bomBytesToPass: number;
  private isFirstRecord = true;

  constructor(
    delimiter: Delimiter,
    private readonly maxRecordBytes: number,
    private readonly hasBom: boolean,
  ) {
    this.delimiter = delimiter.charCodeAt(0);
    this.bomBytesToPass = hasBom ? BOM.length : 0;
  }

  push(chunk: Buffer): SplitRecord[] {
    const records: SplitRecord[] = [];
    let start = 0;
    let index = Math.min(this.bomBytesToPass, chunk.length);
    this.bomBytesToPass -= index;

    for (; index < chunk.length; index += 1) {
      const byte = chunk[index]!;

      if (this.isCrPending) {
        this.isCrPending = false;
        this.hold(chunk, start, Math.max(start, index - 1));
        if (byte === LF) {
          records.push(this.finish('\r\n'));
          start = index + 1;
          continue;
        }
        records.push(this.finish('\r'));
        start = index;
      }

      if (this.state === 'quoted') {
        if (byte === QUOTE) this.state = 'quote_in_quoted';
        else this.countLineInQuotes(byte);
      } else if (byte === QUOTE) {
        this.openQuote();
      } else if (byte === this.delimiter) {
        this.state = 'field_start';
      } else if (byte === CR) {
        this.isCrPending = true;
      } else if (byte === LF) {
        this.hold(chunk, start, index);
        records.push(this.finish('\n'));
        start = index + 1;
      } else {
        this.state = 'unquoted';
      }
    }

    this.hold(chunk, start, chunk.length - (this.isCrPending ? 1 : 0));
    return records;
  }

  end(): SplitRecord[] {
    if (this.isCrPending) {
      this.isCrPending = false;
      return [this.finish('\r')];
    }
    if (this.recordBytes === 0) return [];
    return [this.finish('')];
  }

  /** A quote opens a field only at its start; elsewhere it is text (or a doubled quote). */
  private openQuote(): void {
    if (this.state === 'field_start') this.quoteLine = this.line;
    if (this.state === 'unquoted') return;
    this.state = 'quoted';
    this.wasCrInQuotes = false;
  }

  private countLineInQuotes(byte: number): void {
    if (byte === CR || (byte === LF && !this.wasCrInQuotes)) this.line += 1;
    this.wasCrInQuotes = byte === CR;
  }

  /** Keeps the record's bytes up to the limit; counts all of them. */
  private hold(chunk: Buffer, from: number, to: number): void {
    const length = to - from;
    if (length <= 0) return;

    this.recordBytes += length;
    const room = this.maxRecordBytes - this.heldBytes;
    if (room <= 0) return;
    const piece = chunk.subarray(from, from + Math.min(room, length));
    this.pieces.push(piece);
    this.heldBytes += piece.length;
  }

  private finish(lineEnding: LineEnding): SplitRecord {
    const record: SplitRecord = {
      bytes: Buffer.concat(this.pieces, this.heldBytes),
      byteLength: this.recordBytes,
      offset: this.recordOffset,
      line: this.recordLine,
      lineEnding,
      hasBom: this.isFirstRecord && this.hasBom,
      unclosedQuoteLine: this.state === 'quoted' ? this.quoteLine : null,
    };

    this.recordOffset += this.recordBytes + lineEnding.length;
    if (lineEnding !== '') this.line += 1;
    this.recordLine = this.line;
    this.pieces = [];
    this.heldBytes = 0;
    this.recordBytes = 0;
    this.state = 'field_start';
    this.isFirstRecord = false;
    return record;
  }
}

/** Decodes a split record, reads its fields and says what is wrong with it. */
class RecordShaper {
  private index = 0;
  private expectedFields: number | null = null;

  constructor(
    private readonly delimiter: Delimiter,
    private readonly maxRecordBytes: number,
  ) {}

  shape(record: SplitRecord): CsvRecord {
    const encoding: TextEncoding = isUtf8(record.bytes) ? 'utf8' : 'latin1';
    const raw = record.bytes.toString(encoding);
    const bomLength = record.hasBom ? (encoding === 'utf8' ? 1 : BOM.length) : 0;
    const content = raw.slice(bomLength);
    const isTruncated = record.byteLength > record.bytes.length;

    const isBlank = content === '' && !isTruncated;
    const split = isBlank ? null : splitCsvFields(content, this.delimiter);
    const problems = split ? [...split.problems] : [];
    if (record.unclosedQuoteLine !== null) {
      problems.push(`the quoted field opened on line ${record.unclosedQuoteLine} is never closed`);
    }
    if (isTruncated) {
      problems.push(`the record is longer than ${this.maxRecordBytes} bytes`);
    } else if (split) {
      this.expectedFields ??= split.fields.length;
      if (split.fields.length !== this.expectedFields) {
        problems.push(
          `${split.fields.length} fields where the first row has ${this.expectedFields}`,
        );
      }
    }

    const shaped: CsvRecord = {
      index: this.index,
      line: record.line,
      raw,
      lineEnding: record.lineEnding,
      fields: split ? split.fields : [],
      problem: problems.length > 0 ? problems.join('; ') : null,
      delimiter: this.delimiter,
      encoding,
      offset: record.offset,
      byteLength: record.byteLength,
      isTruncated,
      hasUnclosedQuote: record.unclosedQuoteLine !== null,
      hasBom: record.hasBom,
    };
    this.index += 1;
    return shaped;
  }
}
