import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { readCsvRecords } from '../../../connectors/csv/read-csv-records.js';
import type { CsvRecord, ReadCsvOptions } from '../../../connectors/csv/read-csv-records.js';

/** Reads `input` delivered in chunks of `chunkSize` bytes (all at once by default). */
async function read(
  input: string | Buffer,
  options: ReadCsvOptions = {},
  chunkSize = Infinity,
): Promise<CsvRecord[]> {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const chunks: Buffer[] = [];
  const size = Math.max(1, Math.min(chunkSize, bytes.length));
  for (let start = 0; start < bytes.length; start += size) {
    chunks.push(bytes.subarray(start, start + size));
  }

  const records: CsvRecord[] = [];
  for await (const record of readCsvRecords(chunks, options)) records.push(record);
  return records;
}

/** The bytes a writer gives back from the records alone. */
function reassemble(records: CsvRecord[]): Buffer {
  return Buffer.concat(
    records.map((record) =>
      Buffer.concat([Buffer.from(record.raw, record.encoding), Buffer.from(record.lineEnding)]),
    ),
  );
}

describe('readCsvRecords', () => {
  it('reads quoted fields holding delimiters, doubled quotes and line breaks', async () => {
    const input = 'name,note\r\n"Smith, Ann","say ""hi""\r\nand go"\r\nBob,plain\r\n';
    const records = await read(input);

    expect(records.map((record) => record.fields)).toEqual([
      ['name', 'note'],
      ['Smith, Ann', 'say "hi"\r\nand go'],
      ['Bob', 'plain'],
    ]);
    expect(records.map((record) => record.line)).toEqual([1, 2, 4]);
    expect(records[1]?.raw).toBe('"Smith, Ann","say ""hi""\r\nand go"');
    expect(records.every((record) => record.problem === null)).toBe(true);
    expect(reassemble(records).toString('utf8')).toBe(input);
  });

  it('gives every record back byte for byte, however the input is chunked', async () => {
    const field = fc.oneof(
      fc.string({ unit: fc.constantFrom('a', 'é', '€', ' ', ',', ';', '"', '\r', '\n', '\t') }),
      fc.emailAddress(),
    );
    const row = fc.array(field, { minLength: 1, maxLength: 4 });
    const file = fc.record({
      rows: fc.array(row, { minLength: 1, maxLength: 6 }),
      ending: fc.constantFrom('\r\n', '\n'),
      isEndingLast: fc.boolean(),
      hasBom: fc.boolean(),
      chunkSize: fc.integer({ min: 1, max: 17 }),
    });

    await fc.assert(
      fc.asyncProperty(file, async ({ rows, ending, isEndingLast, hasBom, chunkSize }) => {
        const lines = rows.map((cells) => cells.map(quote).join(','));
        const text = (hasBom ? '\uFEFF' : '') + lines.join(ending) + (isEndingLast ? ending : '');
        const records = await read(text, { delimiter: ',' }, chunkSize);

        expect(reassemble(records).toString('utf8')).toBe(text);
        const dataRecords = records.filter((record) => record.fields.length > 0);
        expect(dataRecords.map((record) => record.fields)).toEqual(
          rows.filter((cells) => cells.map(quote).join(',') !== ''),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a UTF-8 BOM in the first record but not in its first field', async () => {
    const records = await read('\uFEFF"email",name\nann@acme.test,Ann\n', {}, 2);

    expect(records[0]?.hasBom).toBe(true);
    expect(records[0]?.raw).toBe('\uFEFF"email",name');
    expect(records[0]?.fields).toEqual(['email', 'name']);
    expect(records[0]?.problem).toBeNull();
    expect(records[1]?.hasBom).toBe(false);
  });

  it('reports each line ending, a lone CR included, and none after the last record', async () => {
    const records = await read('a\r\nb\nc\rd');

    expect(records.map((record) => [record.raw, record.lineEnding, record.line])).toEqual([
      ['a', '\r\n', 1],
      ['b', '\n', 2],
      ['c', '\r', 3],
      ['d', '', 4],
    ]);
  });

  it('sniffs a semicolon or tab delimiter from the header line', async () => {
    const semicolon = await read('name;email\n"Smith; Ann";ann@acme.test\n');
    const tab = await read('name\temail\tnote\nAnn\tann@acme.test\ta,b;c\n');

    expect(semicolon[1]?.fields).toEqual(['Smith; Ann', 'ann@acme.test']);
    expect(semicolon[0]?.delimiter).toBe(';');
    expect(tab[1]?.fields).toEqual(['Ann', 'ann@acme.test', 'a,b;c']);
    expect(tab[0]?.delimiter).toBe('\t');
  });

  it('ignores delimiters inside quoted header names when sniffing', async () => {
    const records = await read('"a;b;c",email\n1,ann@acme.test\n');
    expect(records[0]?.delimiter).toBe(',');
  });

  it('reports an unterminated quote at the end of the input, keeping the bytes', async () => {
    const input = 'name,email\nAnn,"ann@acme.test\nBob,bob@acme.test\n';
    const records = await read(input);

    expect(records).toHaveLength(2);
    expect(records[1]?.hasUnclosedQuote).toBe(true);
    expect(records[1]?.problem).toContain('the quoted field opened on line 2 is never closed');
    expect(reassemble(records).toString('utf8')).toBe(input);
  });

  it('reports a stray quote and text after a closing quote, keeping the text', async () => {
    const records = await read('name,size\nTV,55" screen\n"Ann"x,1\n');

    expect(records[1]?.fields).toEqual(['TV', '55" screen']);
    expect(records[1]?.problem).toBe('a quote inside an unquoted field');
    expect(records[2]?.fields).toEqual(['Annx', '1']);
    expect(records[2]?.problem).toBe('text after the closing quote of a field');
  });

  it('reports a row whose field count differs from the first row', async () => {
    const records = await read('a,b,c\n1,2\n1,2,3\n1,2,3,4\n');

    expect(records.map((record) => record.problem)).toEqual([
      null,
      '2 fields where the first row has 3',
      null,
      '4 fields where the first row has 3',
    ]);
  });

  it('yields a blank line as a record without fields and without a problem', async () => {
    const records = await read('email,name\n\nann@acme.test,Ann\n\n');

    expect(records.map((record) => [record.fields, record.problem])).toEqual([
      [['email', 'name'], null],
      [[], null],
      [['ann@acme.test', 'Ann'], null],
      [[], null],
    ]);
  });

  it('caps a record over the limit, marks it, and says where its bytes are', async () => {
    const long = 'x'.repeat(100);
    const input = `email,note\nann@acme.test,${long}\nbob@acme.test,short\n`;
    const records = await read(input, { maxRecordBytes: 40 }, 7);

    const capped = records[1]!;
    expect(capped.isTruncated).toBe(true);
    expect(capped.raw).toBe(`ann@acme.test,${long}`.slice(0, 40));
    expect(capped.problem).toBe('the record is longer than 40 bytes');
    expect(capped.offset).toBe('email,note\n'.length);
    expect(capped.byteLength).toBe(`ann@acme.test,${long}`.length);
    expect(records[2]?.fields).toEqual(['bob@acme.test', 'short']);
    expect(records[2]?.offset).toBe(input.indexOf('bob'));
  });

  it('keeps bytes that are not UTF-8 (a Windows-1252 export) exactly', async () => {
    const latin = Buffer.from('name,email\nJos\xe9,jose@acme.test\n', 'latin1');
    const records = await read(latin);

    expect(records[1]?.encoding).toBe('latin1');
    expect(records[1]?.fields).toEqual(['José', 'jose@acme.test']);
    expect(reassemble(records).equals(latin)).toBe(true);
  });

  it('closes its source when the reader stops early', async () => {
    const source = Readable.from([
      Buffer.from('email\na@acme.test\n'),
      Buffer.from('b@acme.test\n'),
    ]);
    for await (const record of readCsvRecords(source)) {
      if (record.index === 0) break;
    }
    expect(source.destroyed).toBe(true);
  });

  it('yields nothing for an empty input', async () => {
    expect(await read('')).toEqual([]);
  });
});

function quote(cell: string): string {
  return /[",;\r\n\t]/.test(cell) ? `"${cell.replaceAll('"', '""')}"` : cell;
}
