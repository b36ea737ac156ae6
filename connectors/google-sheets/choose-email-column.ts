/**
 * Which column of a sheet holds the addresses: the one the user named, else
 * the one anchored at an earlier sync (its header may have been renamed
 * since), else the CSV connector's detection on the header row. The
 * connector's own columns never count.
 */
import { detectEmailColumn, SAMPLE_ROWS } from '../csv/detect-email-column.js';
import type { SheetSnapshot } from './read-spreadsheet.js';

export type ChoiceMethod = 'named' | 'anchored' | 'header' | 'content';

export type EmailColumnChoice =
  | { ok: true; index: number; header: string; how: ChoiceMethod }
  | { ok: false; problem: string; headers: string[] };

export function chooseEmailColumn(snapshot: SheetSnapshot, columnName?: string): EmailColumnChoice {
  const own = new Set(
    (['status', 'reason', 'checkedAt'] as const).map((role) => snapshot.anchors[role]?.column),
  );
  const withoutOwn = (row: readonly string[]) =>
    row.map((cell, column) => (own.has(column) ? '' : cell));
  const header = withoutOwn(snapshot.rows[0] ?? []);
  const headers = header.filter((cell) => cell.trim() !== '');

  const anchored = snapshot.anchors.email;
  if (columnName === undefined && anchored && !own.has(anchored.column)) {
    const text = header[anchored.column] ?? '';
    return { ok: true, index: anchored.column, header: text, how: 'anchored' } as const;
  }

  const sample = snapshot.rows.slice(1, 1 + SAMPLE_ROWS).map(withoutOwn);
  const choice = detectEmailColumn(header, sample, columnName);
  if (!choice.ok) return { ok: false, problem: choice.problem, headers } as const;
  if (!choice.hasHeader) {
    const problem = 'the first row holds addresses; it must hold the column headers';
    return { ok: false, problem, headers } as const;
  }
  const text = header[choice.index] ?? '';
  return { ok: true, index: choice.index, header: text, how: choice.how } as const;
}
