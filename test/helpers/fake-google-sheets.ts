/**
 * A stand-in for the Sheets API v4 behind nock, holding a spreadsheet in
 * memory: the four calls the connector makes (spreadsheets.get with grid
 * data, spreadsheets.batchUpdate, values.batchGetByDataFilter and
 * values.batchUpdate), developer metadata that moves with its column, and
 * the user's edits (insert, delete, move) between calls. Every cell write
 * is recorded, so tests can check that no user cell was touched.
 */
import nock from 'nock';

/** An API error answer: the status and Google's error body. */
class ApiRefusal extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export const FAKE_ROOT = 'https://sheets.fake.example';

interface Metadata {
  metadataId: number;
  metadataKey: string;
  metadataValue: string;
}

interface Column {
  cells: string[];
  metadata: Metadata[];
}

export interface FakeSheet {
  sheetId: number;
  title: string;
  columns: Column[];
  rowCount: number;
}

export interface CellWrite {
  title: string;
  column: number;
  /** 1-based, as in A1 notation. */
  row: number;
  value: string;
}

/** The parts of spreadsheets.batchUpdate requests the fake acts on. */
interface StructureRequest {
  appendDimension?: { sheetId: number; length: number };
  createDeveloperMetadata?: {
    developerMetadata: {
      metadataKey: string;
      metadataValue: string;
      location: { dimensionRange: { sheetId: number; startIndex: number } };
    };
  };
  deleteDeveloperMetadata?: { dataFilter: { developerMetadataLookup: { metadataId: number } } };
  updateCells?: {
    start: { sheetId: number; rowIndex: number; columnIndex: number };
    rows: { values: { userEnteredValue: { stringValue: string } }[] }[];
  };
}

export type Operation = 'get' | 'batchUpdate' | 'batchGetByDataFilter' | 'valuesBatchUpdate';

export class FakeSpreadsheet {
  readonly sheets: FakeSheet[] = [];
  readonly calls: Operation[] = [];
  readonly writes: CellWrite[] = [];
  /** The Authorization header of every request. */
  readonly authorizations: string[] = [];
  readonly structureRequests: StructureRequest[] = [];
  /** Answers to give instead of handling, consumed in order per operation. */
  readonly faults: { operation: Operation; status: number; retryAfter?: string }[] = [];
  /** Runs before an operation is handled: the user's concurrent edits. */
  beforeCall: (operation: Operation, count: number) => void = () => {};
  private nextMetadataId = 1000;

  constructor(readonly id = 'sheet-abc') {}

  addSheet(title: string, rows: string[][], sheetId = this.sheets.length): FakeSheet {
    const width = Math.max(0, ...rows.map((row) => row.length));
    const columns: Column[] = [];
    for (let column = 0; column < Math.max(width, 26); column += 1) {
      columns.push({ cells: rows.map((row) => row[column] ?? ''), metadata: [] });
    }
    const sheet = { sheetId, title, columns, rowCount: Math.max(rows.length, 1000) };
    this.sheets.push(sheet);
    return sheet;
  }

  sheet(title: string): FakeSheet {
    const found = this.sheets.find((candidate) => candidate.title === title);
    if (!found) throw new Error(`no sheet ${title}`);
    return found;
  }

  /** Row `row` (0-based) of a sheet as text cells, trailing blanks dropped. */
  row(title: string, row: number): string[] {
    const cells = this.sheet(title).columns.map((column) => column.cells[row] ?? '');
    while (cells.length > 0 && cells.at(-1) === '') cells.pop();
    return cells;
  }

  /** The column anchored with `value`, or -1. */
  anchoredColumn(title: string, value: string): number {
    return this.sheet(title).columns.findIndex((column) =>
      column.metadata.some((metadata) => metadata.metadataValue === value),
    );
  }

  insertRows(title: string, at: number, rows: string[][]) {
    const sheet = this.sheet(title);
    sheet.columns.forEach((column, index) => {
      while (column.cells.length < at) column.cells.push('');
      column.cells.splice(at, 0, ...rows.map((row) => row[index] ?? ''));
    });
  }

  deleteRow(title: string, at: number) {
    for (const column of this.sheet(title).columns) column.cells.splice(at, 1);
  }

  setCell(title: string, row: number, column: number, value: string) {
    const cells = this.sheet(title).columns[column]!.cells;
    while (cells.length <= row) cells.push('');
    cells[row] = value;
  }

  moveColumn(title: string, from: number, to: number) {
    const columns = this.sheet(title).columns;
    const [moved] = columns.splice(from, 1);
    columns.splice(to, 0, moved!);
  }

  /** Intercepts the API root; call nock.cleanAll() after the test. */
  intercept(): void {
    const scope = nock(FAKE_ROOT).persist();
    const path = (suffix: string) =>
      new RegExp(`^/v4/spreadsheets/${this.id}${suffix.replace(/[:/]/g, '\\$&')}(\\?.*)?$`);

    // nock 15 hands the reply function the fetch Request itself.
    const handle = (operation: Operation, handler: (body: unknown) => unknown) => {
      return async (request: Request) => {
        this.authorizations.push(request.headers.get('authorization') ?? '');
        const body = request.method === 'POST' ? await request.json() : request.url;
        return this.answer(operation, () => handler(body));
      };
    };
    scope.get(path('')).reply(handle('get', (url) => this.get(url as string)) as never);
    scope
      .post(path(':batchUpdate'))
      .reply(handle('batchUpdate', (body) => this.batchUpdate(body)) as never);
    scope
      .post(path('/values:batchGetByDataFilter'))
      .reply(handle('batchGetByDataFilter', (body) => this.getByFilter(body)) as never);
    scope
      .post(path('/values:batchUpdate'))
      .reply(handle('valuesBatchUpdate', (body) => this.writeValues(body)) as never);
  }

  private answer(operation: Operation, handle: () => unknown): [number, string, object] {
    this.calls.push(operation);
    const index = this.faults.findIndex((fault) => fault.operation === operation);
    if (index !== -1) {
      const [fault] = this.faults.splice(index, 1);
      const headers = fault!.retryAfter ? { 'retry-after': fault!.retryAfter } : {};
      const error = { error: { code: fault!.status, message: 'fault', status: 'UNAVAILABLE' } };
      return [
        fault!.status,
        JSON.stringify(error),
        { ...headers, 'content-type': 'application/json' },
      ];
    }
    this.beforeCall(operation, this.calls.filter((call) => call === operation).length);
    try {
      return [200, JSON.stringify(handle()), { 'content-type': 'application/json' }];
    } catch (error) {
      if (!(error instanceof ApiRefusal)) throw error;
      const body = { error: { code: error.status, message: error.message, status: error.reason } };
      return [error.status, JSON.stringify(body), { 'content-type': 'application/json' }];
    }
  }

  private get(uri: string) {
    const url = new URL(uri);
    if (url.searchParams.get('includeGridData') !== 'true') {
      if (url.searchParams.get('fields') !== 'sheets.properties.title') {
        throw new Error('grid data or sheet titles expected');
      }
      return { sheets: this.sheets.map((sheet) => ({ properties: { title: sheet.title } })) };
    }
    const ranges = url.searchParams.getAll('ranges').map(unquoteTitle);
    const missing = ranges.find((range) => !this.sheets.some((sheet) => sheet.title === range));
    if (missing !== undefined) {
      // What Google answers for a range naming a sheet the spreadsheet lacks.
      throw new ApiRefusal(400, 'INVALID_ARGUMENT', `Unable to parse range: ${missing}`);
    }
    const wanted =
      ranges.length === 0
        ? this.sheets
        : this.sheets.filter((sheet) => ranges.includes(sheet.title));
    return {
      sheets: wanted.map((sheet) => {
        const height = Math.max(...sheet.columns.map((column) => column.cells.length));
        const rowData = [];
        for (let row = 0; row < height; row += 1) {
          const values = sheet.columns.map((column) => {
            const text = column.cells[row] ?? '';
            return text === '' ? {} : { formattedValue: text };
          });
          while (values.length > 0 && Object.keys(values.at(-1)!).length === 0) values.pop();
          rowData.push(values.length === 0 ? {} : { values });
        }
        const columnMetadata = sheet.columns.map((column) =>
          column.metadata.length === 0 ? {} : { developerMetadata: column.metadata },
        );
        return {
          properties: {
            sheetId: sheet.sheetId,
            title: sheet.title,
            gridProperties: { rowCount: sheet.rowCount, columnCount: sheet.columns.length },
          },
          data: [{ rowData, columnMetadata }],
        };
      }),
    };
  }

  private batchUpdate(body: unknown) {
    const requests = (body as { requests: StructureRequest[] }).requests;
    const replies = requests.map((request) => {
      this.structureRequests.push(request);
      if (request.appendDimension) {
        const sheet = this.byId(request.appendDimension.sheetId);
        for (let added = 0; added < request.appendDimension.length; added += 1) {
          sheet.columns.push({ cells: [], metadata: [] });
        }
      }
      if (request.createDeveloperMetadata) {
        const metadata = request.createDeveloperMetadata.developerMetadata;
        const range = metadata.location.dimensionRange;
        const created = {
          metadataId: (this.nextMetadataId += 1),
          metadataKey: metadata.metadataKey,
          metadataValue: metadata.metadataValue,
        };
        this.byId(range.sheetId).columns[range.startIndex]!.metadata.push(created);
        return { createDeveloperMetadata: { developerMetadata: created } };
      }
      if (request.deleteDeveloperMetadata) {
        const id = request.deleteDeveloperMetadata.dataFilter.developerMetadataLookup.metadataId;
        for (const sheet of this.sheets) {
          for (const column of sheet.columns) {
            column.metadata = column.metadata.filter((metadata) => metadata.metadataId !== id);
          }
        }
      }
      if (request.updateCells) {
        const { start, rows } = request.updateCells;
        const sheet = this.byId(start.sheetId);
        const value = rows[0]!.values[0]!.userEnteredValue.stringValue;
        this.writes.push({ title: sheet.title, column: start.columnIndex, row: 1, value });
        this.setCell(sheet.title, start.rowIndex, start.columnIndex, value);
      }
      return {};
    });
    return { spreadsheetId: this.id, replies };
  }

  private getByFilter(body: unknown) {
    const { dataFilters, majorDimension } = body as {
      dataFilters: { developerMetadataLookup: { metadataId: number } }[];
      majorDimension: string;
    };
    if (majorDimension !== 'COLUMNS') throw new Error('columns expected');
    const valueRanges = [];
    for (const filter of dataFilters) {
      const id = filter.developerMetadataLookup.metadataId;
      for (const sheet of this.sheets) {
        const index = sheet.columns.findIndex((column) =>
          column.metadata.some((metadata) => metadata.metadataId === id),
        );
        if (index === -1) continue;
        const cells = [...sheet.columns[index]!.cells];
        while (cells.length > 0 && cells.at(-1) === '') cells.pop();
        const letter = letterOf(index);
        valueRanges.push({
          valueRange: {
            range: `'${sheet.title}'!${letter}1:${letter}${sheet.rowCount}`,
            majorDimension: 'COLUMNS',
            ...(cells.length === 0 ? {} : { values: [cells] }),
          },
          dataFilters: [filter],
        });
      }
    }
    return { spreadsheetId: this.id, valueRanges };
  }

  private writeValues(body: unknown) {
    const { data, valueInputOption } = body as {
      data: { range: string; values: string[][] }[];
      valueInputOption: string;
    };
    if (valueInputOption !== 'RAW') throw new Error('RAW expected');
    for (const { range, values } of data) {
      const match = /^'((?:[^']|'')*)'!([A-Z]+)(\d+):([A-Z]+)(\d+)$/.exec(range);
      if (!match) throw new Error(`unexpected range ${range}`);
      const title = match[1]!.replace(/''/g, "'");
      const column = indexOf(match[2]!);
      const first = Number(match[3]);
      if (match[2] !== match[4]) throw new Error(`multi-column range ${range}`);
      if (Number(match[5]) - first + 1 !== values.length) throw new Error(`size of ${range}`);
      values.forEach(([value], offset) => {
        this.writes.push({ title, column, row: first + offset, value: value! });
        this.setCell(title, first + offset - 1, column, value!);
      });
    }
    return { spreadsheetId: this.id, totalUpdatedCells: data.length };
  }

  private byId(sheetId: number): FakeSheet {
    const found = this.sheets.find((sheet) => sheet.sheetId === sheetId);
    if (!found) throw new Error(`no sheet id ${sheetId}`);
    return found;
  }
}

function unquoteTitle(range: string): string {
  return range.startsWith("'") ? range.slice(1, -1).replace(/''/g, "'") : range;
}

function letterOf(index: number): string {
  let letters = '';
  for (let rest = index + 1; rest > 0; rest = Math.floor((rest - 1) / 26)) {
    letters = String.fromCharCode(65 + ((rest - 1) % 26)) + letters;
  }
  return letters;
}

function indexOf(letters: string): number {
  return [...letters].reduce((total, letter) => total * 26 + letter.charCodeAt(0) - 64, 0) - 1;
}
