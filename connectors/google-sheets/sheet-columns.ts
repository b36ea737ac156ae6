/**
 * The columns the connector owns, how they are anchored, and A1 notation.
 * Developer metadata on a column moves with it when the user moves,
 * renames or inserts columns, so an anchored column is found again by its
 * metadata rather than by its position or its header.
 * https://developers.google.com/workspace/sheets/api/guides/metadata
 */

/** The metadata key on every anchored column; the value says which one. */
export const ANCHOR_KEY = 'mailverify.column';

export type OwnColumn = 'status' | 'reason' | 'checkedAt';
export type AnchorRole = 'email' | OwnColumn;

export const OWN_COLUMNS: readonly OwnColumn[] = ['status', 'reason', 'checkedAt'];

/** Headers written when the connector adds its columns; the user may rename them. */
export const OWN_HEADERS: Readonly<Record<OwnColumn, string>> = {
  status: 'Email status',
  reason: 'Email reason',
  checkedAt: 'Email checked at',
};

export function isAnchorRole(value: unknown): value is AnchorRole {
  return value === 'email' || OWN_COLUMNS.includes(value as OwnColumn);
}

/** 0 → A, 25 → Z, 26 → AA. */
export function columnLetter(index: number): string {
  let letters = '';
  let rest = index + 1;
  while (rest > 0) {
    const digit = (rest - 1) % 26;
    letters = String.fromCharCode(65 + digit) + letters;
    rest = Math.floor((rest - 1) / 26);
  }
  return letters;
}

/** A → 0, AA → 26; -1 for anything else. */
export function columnIndex(letters: string): number {
  if (!/^[A-Z]{1,3}$/.test(letters)) return -1;
  let index = 0;
  for (const letter of letters) index = index * 26 + (letter.charCodeAt(0) - 64);
  return index - 1;
}

/** A sheet title as A1 notation wants it: quoted, with quotes doubled. */
export function quoteSheetTitle(title: string): string {
  return `'${title.replace(/'/g, "''")}'`;
}

/** `'Sheet 1'!C5:C9` for rows 5 to 9 (1-based) of column C. */
export function cellRange(title: string, column: number, firstRow: number, lastRow: number) {
  const letter = columnLetter(column);
  return `${quoteSheetTitle(title)}!${letter}${firstRow}:${letter}${lastRow}`;
}

/**
 * Where a returned range starts: `'My sheet'!C1:C1000` → column 2, row 1.
 * Null when the range names no cell (a whole-sheet range: the API always
 * answers with the sheet title).
 */
export function rangeStart(range: string): { column: number; row: number } | null {
  const bang = range.lastIndexOf('!');
  if (bang === -1) return null;
  const cells = range.slice(bang + 1);
  const match = /^([A-Z]{1,3})(\d*)/.exec(cells);
  if (!match) return null;
  const column = columnIndex(match[1]!);
  const row = match[2] === '' ? 1 : Number(match[2]);
  return column === -1 ? null : { column, row };
}
