import { describe, expect, it } from 'vitest';

import { readCsvLayout } from '../../../connectors/csv/read-csv-layout.js';
import type { CsvLayout } from '../../../connectors/csv/read-csv-layout.js';
import { readCsvRecords } from '../../../connectors/csv/read-csv-records.js';
import { verifyCsvRows } from '../../../connectors/csv/verify-csv-rows.js';
import type { VerifyProgress } from '../../../connectors/csv/verify-csv-rows.js';
import { SqliteStore } from '../../../src/store/sqlite-store.js';
import { createFakeBulkVerifier, resultFor } from '../../helpers/fake-bulk-verifier.js';
import type { FakeBulkOptions } from '../../helpers/fake-bulk-verifier.js';

const LIFETIMES = { deliverable: 3600, undeliverable: 3600, risky: 3600, unknown: 3600 };

async function layoutOf(text: string): Promise<CsvLayout> {
  const outcome = await readCsvLayout(readCsvRecords([text]));
  if (!outcome.ok) throw new Error(outcome.problem);
  return outcome.layout;
}

async function verifyText(
  text: string,
  fakeOptions: FakeBulkOptions = {},
  options: { maxInFlight?: number; signal?: AbortSignal; store?: SqliteStore } = {},
) {
  const store = options.store ?? new SqliteStore({ path: ':memory:', lifetimes: LIFETIMES });
  const verifier = createFakeBulkVerifier(store, fakeOptions);
  const progress = await verifyCsvRows(readCsvRecords([text]), await layoutOf(text), {
    verifier,
    store,
    isUsable: () => true,
    signal: options.signal ?? new AbortController().signal,
    maxInFlight: options.maxInFlight,
  });
  return { progress, verifier, store };
}

const list = (count: number) =>
  Array.from({ length: count }, (_, index) => `user${index}@acme.test`);

describe('verifyCsvRows', () => {
  it('asks about every address row and counts rows, addresses and answers', async () => {
    const text = 'name,email\nAnn,ann@acme.test\nBob,\n\nCid,not an address\nDee,d@acme.test,x\n';
    const { progress, verifier } = await verifyText(text);

    expect(verifier.calls).toEqual(['ann@acme.test']);
    expect(progress).toEqual<VerifyProgress>({
      rows: 4,
      addresses: 1,
      answered: 1,
      fromStore: 0,
      isReadingDone: true,
    });
  });

  it('answers from a usable stored result without asking the verifier', async () => {
    const store = new SqliteStore({ path: ':memory:', lifetimes: LIFETIMES });
    const stored = resultFor('ann@acme.test');
    await store.putResult('ann@acme.test', stored, Date.now());

    const text = 'email\nann@ACME.Test\nbob@acme.test\n';
    const { progress, verifier } = await verifyText(text, {}, { store });

    expect(verifier.calls).toEqual(['bob@acme.test']);
    expect(progress.fromStore).toBe(1);
    expect(progress.answered).toBe(2);
  });

  it('never has more than maxInFlight answers pending', async () => {
    const text = `email\n${list(50).join('\n')}\n`;
    const { verifier, progress } = await verifyText(text, { lateMs: () => 2 }, { maxInFlight: 7 });

    expect(verifier.maxPending).toBe(7);
    expect(progress.answered).toBe(50);
  });

  it('stops taking rows on abort and returns without waiting for pending answers', async () => {
    const controller = new AbortController();
    const text = `email\n${list(20).join('\n')}\n`;
    const { verifier, progress } = await verifyText(
      text,
      { hangs: () => true, onCall: (calls) => calls === 5 && controller.abort() },
      { maxInFlight: 5, signal: controller.signal },
    );

    expect(verifier.calls).toHaveLength(5);
    expect(progress.isReadingDone).toBe(false);
    expect(progress.answered).toBe(0);
  });

  it('throws what the verifier throws when not interrupted, and stops reading', async () => {
    const text = `email\n${list(200).join('\n')}\n`;
    const fault = new Error('engine fault');
    const attempt = verifyText(
      text,
      { fails: (email) => (email === 'user0@acme.test' ? fault : null) },
      { maxInFlight: 1 },
    );

    await expect(attempt).rejects.toBe(fault);
  });
});
