import { describe, expect, it } from 'vitest';

import { formatJsonRow } from '../../../connectors/csv/format-json-row.js';
import { readCsvLayout } from '../../../connectors/csv/read-csv-layout.js';
import { readCsvRecords } from '../../../connectors/csv/read-csv-records.js';
import type { CsvRecord } from '../../../connectors/csv/read-csv-records.js';

async function jsonRowsOf(bytes: Buffer): Promise<unknown[]> {
  const outcome = await readCsvLayout(readCsvRecords([bytes]));
  if (!outcome.ok) throw new Error(outcome.problem);
  const rows: unknown[] = [];
  for await (const record of readCsvRecords([bytes]) as AsyncIterable<CsvRecord>) {
    if (record.index === 0) continue;
    rows.push(JSON.parse(formatJsonRow(record, outcome.layout, null, null)));
  }
  return rows;
}

describe('formatJsonRow', () => {
  it('shows a Windows-1252 row with its euro sign, quotes and dashes', async () => {
    // Excel's CSV export on Windows: "Caf\xe9 \x80 \x93 \x84Gr\xfc\xdfe\x93", not UTF-8.
    const bytes = Buffer.concat([
      Buffer.from('name,note,email\r\n', 'latin1'),
      Buffer.from([0x43, 0x61, 0x66, 0xe9, 0x2c]),
      Buffer.from([0x80, 0x35, 0x20, 0x96, 0x20, 0x84, 0x68, 0x69, 0x93, 0x2c]),
      Buffer.from('ann@acme.test\r\n', 'latin1'),
    ]);

    expect(await jsonRowsOf(bytes)).toEqual([
      {
        line: 2,
        row: { name: 'Café', note: '€5 – „hi“', email: 'ann@acme.test' },
        result: null,
        problem: null,
      },
    ]);
  });

  it('keeps the five bytes Windows-1252 leaves undefined as their code points', async () => {
    const bytes = Buffer.concat([
      Buffer.from('note,email\n', 'latin1'),
      Buffer.from([0x81, 0x8d, 0x8f, 0x90, 0x9d, 0x2c]),
      Buffer.from('ann@acme.test\n', 'latin1'),
    ]);

    const [row] = (await jsonRowsOf(bytes)) as { row: { note: string } }[];
    expect(row!.row.note).toBe('\u0081\u008d\u008f\u0090\u009d');
  });

  it('leaves UTF-8 rows as they are', async () => {
    const bytes = Buffer.from('name,email\nJörg “J” Müller,jorg@acme.test\n', 'utf8');

    expect(await jsonRowsOf(bytes)).toMatchObject([
      { row: { name: 'Jörg “J” Müller', email: 'jorg@acme.test' } },
    ]);
  });
});
