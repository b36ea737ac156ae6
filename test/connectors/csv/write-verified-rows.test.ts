import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';

import { readCsvLayout } from '../../../connectors/csv/read-csv-layout.js';
import { readCsvRecords } from '../../../connectors/csv/read-csv-records.js';
import type { ReadCsvOptions } from '../../../connectors/csv/read-csv-records.js';
import { writeVerifiedRows } from '../../../connectors/csv/write-verified-rows.js';
import type { OutputFormat } from '../../../connectors/csv/write-verified-rows.js';
import { SqliteStore } from '../../../src/store/sqlite-store.js';
import { resultFor } from '../../helpers/fake-bulk-verifier.js';

const LIFETIMES = { deliverable: 3600, undeliverable: 3600, risky: 3600, unknown: 3600 };
const NOW = Date.parse('2025-01-02T03:04:05.000Z');

async function storeWith(...emails: string[]): Promise<SqliteStore> {
  const store = new SqliteStore({ path: ':memory:', lifetimes: LIFETIMES });
  for (const email of emails) await store.putResult(email, resultFor(email), NOW);
  return store;
}

async function write(
  text: string,
  store: SqliteStore,
  options: { isPartial?: boolean; format?: OutputFormat; read?: ReadCsvOptions } = {},
) {
  const inputPath = join(mkdtempSync(join(tmpdir(), 'mailverify-write-')), 'input.csv');
  writeFileSync(inputPath, text);
  const outcome = await readCsvLayout(readCsvRecords([text], options.read));
  if (!outcome.ok) throw new Error(outcome.problem);

  const output = new PassThrough();
  const chunks: Buffer[] = [];
  output.on('data', (chunk: Buffer) => chunks.push(chunk));
  const tally = await writeVerifiedRows(readCsvRecords([text], options.read), outcome.layout, {
    output,
    format: options.format ?? 'csv',
    store,
    isUsable: () => true,
    isPartial: options.isPartial ?? false,
    inputPath,
    now: () => NOW,
  });
  return { tally, text: Buffer.concat(chunks).toString('utf8') };
}

const cells = (email: string) => {
  const result = resultFor(email);
  return `${result.verdict},${result.reason},${result.score},,${result.checkedAt}`;
};

describe('writeVerifiedRows', () => {
  it('stops before the first address without a result in a partial run', async () => {
    const text = 'email\nann@acme.test\nbob@acme.test\ncid@acme.test\n';
    const { tally, text: output } = await write(
      text,
      await storeWith('ann@acme.test', 'cid@acme.test'),
      {
        isPartial: true,
      },
    );

    expect(output).toBe(
      `email,verdict,reason,score,flags,checked_at\nann@acme.test,${cells('ann@acme.test')}\n`,
    );
    expect(tally.isComplete).toBe(false);
    expect(tally.rows).toBe(1);
  });

  it('writes an address the store lost with empty cells and counts it missing', async () => {
    const text = 'email\nann@acme.test\nbob@acme.test\n';
    const { tally, text: output } = await write(text, await storeWith('ann@acme.test'));

    expect(output.split('\n')[2]).toBe('bob@acme.test,,,,,');
    expect(tally).toMatchObject({ missing: 1, verified: 1, isComplete: true });
  });

  it('copies a record over the limit from the input file, unchanged', async () => {
    const long = `"${'x'.repeat(300)}\n${'y'.repeat(300)}"`;
    const text = `email,note\nann@acme.test,${long}\nbob@acme.test,short\n`;
    const { tally, text: output } = await write(text, await storeWith('bob@acme.test'), {
      read: { maxRecordBytes: 100 },
    });

    expect(output).toBe(
      'email,note,verdict,reason,score,flags,checked_at\n' +
        `ann@acme.test,${long},,,,,\n` +
        `bob@acme.test,short,${cells('bob@acme.test')}\n`,
    );
    expect(tally.malformedRows).toEqual([
      { line: 2, problem: 'the record is longer than 100 bytes' },
    ]);
  });

  it('counts verdicts and reasons, invalid addresses included', async () => {
    const text = 'email\nann@acme.test\nnobody@acme.test\nbad@\n';
    const store = await storeWith('ann@acme.test', 'nobody@acme.test');
    const { tally } = await write(text, store);

    expect(tally.byVerdict).toEqual({ deliverable: 1, undeliverable: 2 });
    expect(tally.byReason).toEqual({ accepted: 1, mailbox_not_found: 1, invalid_syntax: 1 });
    expect(tally.invalid).toBe(1);
  });

  it('keeps a JSON row as an array when header names repeat', async () => {
    const text = 'email,note,note\nann@acme.test,a,b\n';
    const { text: output } = await write(text, await storeWith('ann@acme.test'), {
      format: 'jsonl',
    });

    expect(JSON.parse(output)).toMatchObject({ line: 2, row: ['ann@acme.test', 'a', 'b'] });
  });

  it('gives an invalid address the result the core gives it', async () => {
    const { text: output } = await write('email\nnot-an-address\n', await storeWith(), {
      format: 'jsonl',
    });

    expect(JSON.parse(output)).toMatchObject({
      result: {
        email: 'not-an-address',
        normalized: null,
        verdict: 'undeliverable',
        reason: 'invalid_syntax',
        score: 0,
        evidence: { stage: 'syntax', text: 'no @ between local part and domain' },
        checkedAt: '2025-01-02T03:04:05.000Z',
      },
      problem: null,
    });
  });
});
