import { describe, expect, it } from 'vitest';

import {
  cellRange,
  columnIndex,
  columnLetter,
  rangeStart,
} from '../../../connectors/google-sheets/sheet-columns.js';

describe('sheet columns in A1 notation', () => {
  it('names columns past Z with two and three letters', () => {
    expect([0, 25, 26, 51, 701, 702].map(columnLetter)).toEqual([
      'A',
      'Z',
      'AA',
      'AZ',
      'ZZ',
      'AAA',
    ]);
    expect(['A', 'Z', 'AA', 'ZZ', 'AAA', 'a1'].map(columnIndex)).toEqual([0, 25, 26, 701, 702, -1]);
  });

  it('quotes sheet titles, doubling their quotes', () => {
    expect(cellRange("Bob's list", 2, 5, 9)).toBe("'Bob''s list'!C5:C9");
  });

  it('reads where a returned range starts', () => {
    expect(rangeStart("'My sheet'!AB12:AB40")).toEqual({ column: 27, row: 12 });
    expect(rangeStart('Leads!C:C')).toEqual({ column: 2, row: 1 });
    expect(rangeStart("'Odd!name'!D1:D9")).toEqual({ column: 3, row: 1 });
    expect(rangeStart('Leads')).toBeNull();
  });
});
