/**
 * One flush: re-read the anchored columns, then write each verified
 * address's result to the rows that hold that address NOW, in one
 * values.batchUpdate. Rows inserted, deleted or sorted since the first read
 * therefore get the right status; a row whose address changed meanwhile
 * gets nothing and is verified at the next sync. Only cells of our own
 * columns, below the header, are ever written.
 * https://developers.google.com/workspace/sheets/api/reference/rest/v4/spreadsheets.values/batchGetByDataFilter
 * https://developers.google.com/workspace/sheets/api/reference/rest/v4/spreadsheets.values/batchUpdate
 */
import type { sheets_v4 } from '@googleapis/sheets';

import type { GoogleCall } from './call-google.js';
import type { ColumnAnchor } from './read-spreadsheet.js';
import { OWN_COLUMNS, cellRange, rangeStart } from './sheet-columns.js';
import type { AnchorRole, OwnColumn } from './sheet-columns.js';

/**
 * Google recommends request payloads under 2 MB; the JSON of one write is
 * estimated and split below this.
 */
export const MAX_WRITE_BYTES = 1_800_000;
/** Longest run of rows in one range, so that one range alone stays well under that. */
const MAX_RUN_ROWS = 20_000;

export type RowCells = Readonly<Record<OwnColumn, string>>;

export interface WrittenRow {
  /** The address text exactly as the row holds it. */
  email: string;
  cells: RowCells;
}

export interface FlushOutcome {
  written: WrittenRow[];
  /** Results with no row holding their address any more. */
  deferred: number;
}

export interface FlushTarget {
  spreadsheetId: string;
  title: string;
  anchors: Readonly<Record<AnchorRole, ColumnAnchor>>;
  /** Address key (as keyOf gives it) → cells to write. */
  results: ReadonlyMap<string, RowCells>;
  keyOf: (email: string) => string;
}

export async function writeResults(
  sheets: sheets_v4.Sheets,
  call: GoogleCall,
  target: FlushTarget,
): Promise<FlushOutcome> {
  const current = await readAnchoredColumns(sheets, call, target);
  if (current.email === null || OWN_COLUMNS.some((role) => current.columns[role] === null)) {
    // An anchored column was deleted meanwhile: the next sync adds it again.
    return { written: [], deferred: target.results.size };
  }

  const written: (WrittenRow & { row: number })[] = [];
  const matched = new Set<string>();
  current.email.forEach((text, offset) => {
    const row = current.emailFirstRow + offset;
    if (row < 2 || text.trim() === '') return;
    const key = target.keyOf(text);
    const cells = target.results.get(key);
    if (!cells) return;
    matched.add(key);
    written.push({ row, email: text, cells });
  });

  const data = OWN_COLUMNS.flatMap((role) =>
    columnRanges(target.title, current.columns[role]!, written, role),
  );
  for (const batch of splitBySize(data)) {
    await call('spreadsheets.values.batchUpdate', () =>
      sheets.spreadsheets.values.batchUpdate({
        spreadsheetId: target.spreadsheetId,
        requestBody: { valueInputOption: 'RAW', data: batch },
      }),
    );
  }

  const result = written.map(({ email, cells }) => ({ email, cells }));
  return { written: result, deferred: target.results.size - matched.size };
}

interface AnchoredColumns {
  email: string[] | null;
  emailFirstRow: number;
  columns: Record<OwnColumn, number | null>;
}

async function readAnchoredColumns(
  sheets: sheets_v4.Sheets,
  call: GoogleCall,
  target: FlushTarget,
): Promise<AnchoredColumns> {
  const roles = Object.keys(target.anchors) as AnchorRole[];
  const dataFilters = roles.map((role) => ({
    developerMetadataLookup: { metadataId: target.anchors[role].metadataId },
  }));
  const answer = await call('spreadsheets.values.batchGetByDataFilter', () =>
    sheets.spreadsheets.values.batchGetByDataFilter({
      spreadsheetId: target.spreadsheetId,
      requestBody: { dataFilters, majorDimension: 'COLUMNS' },
    }),
  );

  const found: AnchoredColumns = {
    email: null,
    emailFirstRow: 1,
    columns: { status: null, reason: null, checkedAt: null },
  };
  for (const matchedRange of answer.valueRanges ?? []) {
    const metadataId = matchedRange.dataFilters?.[0]?.developerMetadataLookup?.metadataId;
    const role = roles.find((candidate) => target.anchors[candidate].metadataId === metadataId);
    const start = rangeStart(matchedRange.valueRange?.range ?? '');
    if (role === undefined || start === null) continue;

    if (role === 'email') {
      const column = matchedRange.valueRange?.values?.[0] ?? [];
      found.email = column.map((cell) => String(cell ?? ''));
      found.emailFirstRow = start.row;
    } else {
      found.columns[role] = start.column;
    }
  }
  return found;
}

/** One range per run of consecutive rows, so a full column is one range. */
function columnRanges(
  title: string,
  column: number,
  rows: readonly { row: number; cells: RowCells }[],
  role: OwnColumn,
): sheets_v4.Schema$ValueRange[] {
  const sorted = [...rows].sort((left, right) => left.row - right.row);
  const ranges: sheets_v4.Schema$ValueRange[] = [];
  let first = -1;
  let values: string[][] = [];

  const close = () => {
    if (values.length === 0) return;
    const range = cellRange(title, column, first, first + values.length - 1);
    ranges.push({ range, majorDimension: 'ROWS', values });
    values = [];
  };
  for (const { row, cells } of sorted) {
    const isAdjacent = row === first + values.length && values.length < MAX_RUN_ROWS;
    if (values.length > 0 && !isAdjacent) close();
    if (values.length === 0) first = row;
    values.push([cells[role]]);
  }
  close();
  return ranges;
}

function splitBySize(data: sheets_v4.Schema$ValueRange[]): sheets_v4.Schema$ValueRange[][] {
  const batches: sheets_v4.Schema$ValueRange[][] = [];
  let batch: sheets_v4.Schema$ValueRange[] = [];
  let bytes = 0;
  for (const range of data) {
    const size = JSON.stringify(range).length;
    if (batch.length > 0 && bytes + size > MAX_WRITE_BYTES) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(range);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}
