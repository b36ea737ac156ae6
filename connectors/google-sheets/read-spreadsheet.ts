/**
 * One read of everything a sync needs: spreadsheets.get with grid data
 * gives each sheet's cell values and, in the same answer, the developer
 * metadata of its columns (GridData.columnMetadata). values.batchGet has
 * the values but not the metadata, which would take a second call.
 * https://developers.google.com/workspace/sheets/api/reference/rest/v4/spreadsheets/get
 */
import type { sheets_v4 } from '@googleapis/sheets';

import { GoogleApiError } from './call-google.js';
import type { GoogleCall } from './call-google.js';
import { ANCHOR_KEY, isAnchorRole, quoteSheetTitle } from './sheet-columns.js';
import type { AnchorRole } from './sheet-columns.js';

/** Sheet names a SheetNotFoundError lists. */
const TITLES_LISTED = 20;

const FIELDS = [
  'sheets(properties(sheetId,title,gridProperties(rowCount,columnCount))',
  'data(startRow,startColumn,rowData(values(formattedValue))',
  'columnMetadata(developerMetadata(metadataId,metadataKey,metadataValue))))',
].join(',');

export interface ColumnAnchor {
  column: number;
  metadataId: number;
}

export interface SheetSnapshot {
  sheetId: number;
  title: string;
  rowCount: number;
  columnCount: number;
  /** Formatted cell text, row by row from row 1; missing cells are ''. */
  rows: string[][];
  /** Widest row that holds anything: columns from here on are empty. */
  usedWidth: number;
  anchors: Partial<Record<AnchorRole, ColumnAnchor>>;
}

// TODO: the read takes every column of the sheet (of every sheet without --sheet), so
// a very wide sheet makes a large answer; reading only the header row first would cost
// a second call on every sync.
export async function readSpreadsheet(
  sheets: sheets_v4.Sheets,
  call: GoogleCall,
  spreadsheetId: string,
  sheetTitle?: string,
): Promise<SheetSnapshot[]> {
  const ranges = sheetTitle === undefined ? undefined : [quoteSheetTitle(sheetTitle)];
  try {
    const spreadsheet = await call('spreadsheets.get', () =>
      sheets.spreadsheets.get({ spreadsheetId, ranges, includeGridData: true, fields: FIELDS }),
    );
    return (spreadsheet.sheets ?? []).map(toSnapshot);
  } catch (error) {
    // Google answers a missing sheet with "400 Unable to parse range": one
    // more call tells that apart from other bad requests and names the
    // sheets there are.
    if (sheetTitle === undefined || !(error instanceof GoogleApiError) || error.status !== 400) {
      throw error;
    }
    const titles = await listSheetTitles(sheets, call, spreadsheetId);
    if (!titles.includes(sheetTitle)) throw new SheetNotFoundError(sheetTitle, titles);
    throw error;
  }
}

/** `--sheet` names a sheet the spreadsheet does not have. */
export class SheetNotFoundError extends Error {
  readonly code = 'SHEET_NOT_FOUND';

  constructor(
    readonly title: string,
    readonly titles: string[],
  ) {
    const listed = titles.slice(0, TITLES_LISTED).map((name) => JSON.stringify(name));
    const more = titles.length > TITLES_LISTED ? `, and ${titles.length - TITLES_LISTED} more` : '';
    super(
      `the spreadsheet has no sheet named ${JSON.stringify(title)}; ` +
        `its sheets: ${listed.join(', ')}${more}`,
    );
    this.name = 'SheetNotFoundError';
  }
}

async function listSheetTitles(
  sheets: sheets_v4.Sheets,
  call: GoogleCall,
  spreadsheetId: string,
): Promise<string[]> {
  const spreadsheet = await call('spreadsheets.get', () =>
    sheets.spreadsheets.get({ spreadsheetId, fields: 'sheets.properties.title' }),
  );
  return (spreadsheet.sheets ?? []).map((sheet) => sheet.properties?.title ?? '');
}

function toSnapshot(sheet: sheets_v4.Schema$Sheet): SheetSnapshot {
  const properties = sheet.properties ?? {};
  const rows: string[][] = [];
  const anchors: SheetSnapshot['anchors'] = {};
  let usedWidth = 0;

  for (const grid of sheet.data ?? []) {
    const startRow = grid.startRow ?? 0;
    const startColumn = grid.startColumn ?? 0;
    (grid.rowData ?? []).forEach((rowData, offset) => {
      const row = (rows[startRow + offset] ??= []);
      (rowData.values ?? []).forEach((cell, column) => {
        const text = cell.formattedValue ?? '';
        row[startColumn + column] = text;
        if (text !== '') usedWidth = Math.max(usedWidth, startColumn + column + 1);
      });
    });
    (grid.columnMetadata ?? []).forEach((dimension, offset) => {
      for (const metadata of dimension.developerMetadata ?? []) {
        const role = metadata.metadataValue;
        if (metadata.metadataKey !== ANCHOR_KEY || !isAnchorRole(role)) continue;
        if (typeof metadata.metadataId !== 'number') continue;
        anchors[role] ??= { column: startColumn + offset, metadataId: metadata.metadataId };
      }
    });
  }

  for (let index = 0; index < rows.length; index += 1) {
    const row = (rows[index] ??= []);
    for (let column = 0; column < row.length; column += 1) row[column] ??= '';
  }
  return {
    sheetId: properties.sheetId ?? 0,
    title: properties.title ?? '',
    rowCount: properties.gridProperties?.rowCount ?? rows.length,
    columnCount: properties.gridProperties?.columnCount ?? usedWidth,
    rows,
    usedWidth,
    anchors,
  };
}
