/**
 * What one record asks of a run: nothing (a blank line, the header), a
 * verification, or a row to pass through without one, and why.
 */
import { parseAddress } from '../../src/index.js';
import type { CsvLayout } from './read-csv-layout.js';
import type { CsvRecord } from './read-csv-records.js';

export type RowTask =
  | { kind: 'blank' }
  | { kind: 'header' }
  | { kind: 'malformed'; problem: string }
  | { kind: 'no_email' }
  | { kind: 'invalid'; email: string; detail: string }
  | { kind: 'address'; email: string; normalized: string };

/**
 * A malformed row is not verified even when its email column holds an
 * address: with a field too many or too few, that column may hold another
 * column's value.
 */
export function classifyRow(record: CsvRecord, layout: CsvLayout): RowTask {
  if (record.fields.length === 0 && !record.isTruncated) return { kind: 'blank' };
  if (record.index === layout.headerIndex) return { kind: 'header' };
  if (record.problem !== null) return { kind: 'malformed', problem: record.problem };

  const email = record.fields[layout.column]?.trim() ?? '';
  if (email === '') return { kind: 'no_email' };

  const parsed = parseAddress(email);
  if (!parsed.ok) return { kind: 'invalid', email, detail: parsed.detail };
  return { kind: 'address', email, normalized: parsed.address.normalized };
}
