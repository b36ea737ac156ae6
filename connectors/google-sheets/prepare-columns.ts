/**
 * Adds the columns the connector owns when they are missing, anchors them
 * and the email column with developer metadata, and, when the status
 * column is new, gives it a colour per verdict and a drop-down of
 * verdicts. All in one spreadsheets.batchUpdate. New columns go right of
 * everything in use, so no cell holding anything is touched.
 * https://developers.google.com/workspace/sheets/api/reference/rest/v4/spreadsheets/request
 */
import type { sheets_v4 } from '@googleapis/sheets';

import type { GoogleCall } from './call-google.js';
import type { ColumnAnchor, SheetSnapshot } from './read-spreadsheet.js';
import { ANCHOR_KEY, OWN_COLUMNS, OWN_HEADERS } from './sheet-columns.js';
import type { AnchorRole, OwnColumn } from './sheet-columns.js';

type Request = sheets_v4.Schema$Request;
type Anchors = Record<AnchorRole, ColumnAnchor>;

/** Background colours of the status column, by verdict. */
const VERDICT_COLOURS = {
  deliverable: { red: 0.83, green: 0.94, blue: 0.82 },
  undeliverable: { red: 0.96, green: 0.8, blue: 0.8 },
  risky: { red: 1, green: 0.95, blue: 0.76 },
  unknown: { red: 0.9, green: 0.9, blue: 0.9 },
} as const;

export interface ColumnPlan {
  /** Columns to add, in this order, starting at `firstNewColumn`. */
  missing: OwnColumn[];
  firstNewColumn: number;
  /** The email column needs a (new) anchor. */
  anchorsEmail: boolean;
}

export function planColumns(snapshot: SheetSnapshot, emailColumn: number): ColumnPlan {
  const missing = OWN_COLUMNS.filter((role) => snapshot.anchors[role] === undefined);
  const anchoredColumns = Object.values(snapshot.anchors).map((anchor) => anchor.column + 1);
  const firstNewColumn = Math.max(snapshot.usedWidth, ...anchoredColumns);
  const anchorsEmail = snapshot.anchors.email?.column !== emailColumn;
  return { missing, firstNewColumn, anchorsEmail };
}

export function needsChanges(plan: ColumnPlan): boolean {
  return plan.missing.length > 0 || plan.anchorsEmail;
}

/** Applies the plan; resolves with where every anchored column now is. */
export async function prepareColumns(
  sheets: sheets_v4.Sheets,
  call: GoogleCall,
  spreadsheetId: string,
  snapshot: SheetSnapshot,
  emailColumn: number,
  plan: ColumnPlan,
): Promise<Anchors> {
  const requests: Request[] = [];
  const created: { role: AnchorRole; column: number; reply: number }[] = [];
  const { sheetId } = snapshot;

  const lastNewColumn = plan.firstNewColumn + plan.missing.length;
  if (lastNewColumn > snapshot.columnCount) {
    const length = lastNewColumn - snapshot.columnCount;
    requests.push({ appendDimension: { sheetId, dimension: 'COLUMNS', length } });
  }

  const oldEmail = snapshot.anchors.email;
  if (plan.anchorsEmail && oldEmail) {
    const lookup = { developerMetadataLookup: { metadataId: oldEmail.metadataId } };
    requests.push({ deleteDeveloperMetadata: { dataFilter: lookup } });
  }
  if (plan.anchorsEmail) {
    created.push({ role: 'email', column: emailColumn, reply: requests.length });
    requests.push(anchorRequest(sheetId, 'email', emailColumn));
  }

  plan.missing.forEach((role, offset) => {
    const column = plan.firstNewColumn + offset;
    created.push({ role, column, reply: requests.length });
    requests.push(anchorRequest(sheetId, role, column));
    requests.push(headerRequest(sheetId, column, OWN_HEADERS[role]));
    if (role === 'status') requests.push(...statusFormatRequests(sheetId, column));
  });

  const answer = await call('spreadsheets.batchUpdate', () =>
    sheets.spreadsheets.batchUpdate({ spreadsheetId, requestBody: { requests } }),
  );

  const anchors = { ...snapshot.anchors } as Partial<Anchors>;
  for (const { role, column, reply } of created) {
    const metadata = answer.replies?.[reply]?.createDeveloperMetadata?.developerMetadata;
    const metadataId = metadata?.metadataId;
    if (typeof metadataId !== 'number') {
      throw new Error(`batchUpdate answered without the metadata id of the ${role} column`);
    }
    anchors[role] = { column, metadataId };
  }
  return anchors as Anchors;
}

function anchorRequest(sheetId: number, role: AnchorRole, column: number): Request {
  return {
    createDeveloperMetadata: {
      developerMetadata: {
        metadataKey: ANCHOR_KEY,
        metadataValue: role,
        visibility: 'DOCUMENT',
        location: {
          dimensionRange: {
            sheetId,
            dimension: 'COLUMNS',
            startIndex: column,
            endIndex: column + 1,
          },
        },
      },
    },
  };
}

function headerRequest(sheetId: number, column: number, header: string): Request {
  return {
    updateCells: {
      start: { sheetId, rowIndex: 0, columnIndex: column },
      rows: [{ values: [{ userEnteredValue: { stringValue: header } }] }],
      fields: 'userEnteredValue',
    },
  };
}

/** Below the header, the whole column: rules follow the column when it moves. */
function statusFormatRequests(sheetId: number, column: number): Request[] {
  const range = {
    sheetId,
    startRowIndex: 1,
    startColumnIndex: column,
    endColumnIndex: column + 1,
  };
  const verdicts = Object.keys(VERDICT_COLOURS) as (keyof typeof VERDICT_COLOURS)[];

  const validation: Request = {
    setDataValidation: {
      range,
      rule: {
        condition: {
          type: 'ONE_OF_LIST',
          values: verdicts.map((verdict) => ({ userEnteredValue: verdict })),
        },
        // Not strict: a user clearing or annotating a cell gets a warning, not a refusal.
        strict: false,
        showCustomUi: false,
      },
    },
  };
  const colours = verdicts.map((verdict, index): Request => ({
    addConditionalFormatRule: {
      index,
      rule: {
        ranges: [range],
        booleanRule: {
          condition: { type: 'TEXT_EQ', values: [{ userEnteredValue: verdict }] },
          format: { backgroundColor: VERDICT_COLOURS[verdict] },
        },
      },
    },
  }));
  return [validation, ...colours];
}
