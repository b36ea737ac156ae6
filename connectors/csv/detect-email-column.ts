/**
 * Which column holds the addresses. In order: the column the user named;
 * a header that names an email column in one of the words exports use; a
 * plain list whose first line is already an address (no header); the
 * column whose first rows look most like addresses.
 */
import { parseAddress } from '../../src/index.js';

export type ColumnChoice =
  | { ok: true; index: number; hasHeader: boolean; how: 'named' | 'header' | 'content' }
  | { ok: false; problem: string; headers: string[] };

/**
 * Header names of email columns, compared without case, accents, spaces or
 * punctuation. Best first: when a file has "Email" and "Work Email", the
 * plain one wins. Covers HubSpot, Salesforce, Pipedrive, Mailchimp and
 * Outlook exports and the usual French, Spanish, German, Italian,
 * Portuguese, Dutch, Nordic and Turkish names.
 */
const EMAIL_HEADERS: readonly string[] = [
  'email',
  'emailaddress',
  'email1',
  'primaryemail',
  'emailprimary',
  'workemail',
  'businessemail',
  'contactemail',
  'personalemail',
  'mail',
  'mailaddress',
  'emailadresse',
  'mailadresse',
  'courriel',
  'adressecourriel',
  'adresseemail',
  'adressemail',
  'adresseelectronique',
  'correo',
  'correoelectronico',
  'indirizzoemail',
  'enderecodeemail',
  'emailadres',
  'epost',
  'epostadresse',
  'eposta',
  'sahkoposti',
];

/** Enough rows to judge a column by its content, few enough to read at once. */
export const SAMPLE_ROWS = 50;

/**
 * `first` is the first non-blank record's fields; `rows` the fields of up
 * to SAMPLE_ROWS well-formed records after it.
 */
export function detectEmailColumn(
  first: readonly string[],
  rows: readonly (readonly string[])[],
  columnName?: string,
): ColumnChoice {
  const headers = first.map((cell) => cell.trim());

  if (columnName !== undefined) {
    const wanted = columnName.trim().toLowerCase();
    const index = headers.findIndex((header) => header.toLowerCase() === wanted);
    if (index !== -1) return { ok: true, index, hasHeader: true, how: 'named' };
    return { ok: false, problem: `no column named "${columnName.trim()}"`, headers };
  }

  const named = findNamedColumn(headers);
  if (named !== -1) return { ok: true, index: named, hasHeader: true, how: 'header' };

  // An address in the first row means there is no header: the row is data.
  const hasHeader = !headers.some(looksLikeAddress);
  const sample = hasHeader ? rows : [first, ...rows];
  const index = findAddressColumn(sample, headers.length);
  if (index !== -1) return { ok: true, index, hasHeader, how: 'content' };

  return { ok: false, problem: 'no column looks like email addresses', headers };
}

export function looksLikeAddress(cell: string): boolean {
  const parsed = parseAddress(cell);
  return parsed.ok && parsed.address.domain.includes('.');
}

function findNamedColumn(headers: readonly string[]): number {
  const keys = headers.map(headerKey);
  for (const name of EMAIL_HEADERS) {
    const index = keys.indexOf(name);
    if (index !== -1) return index;
  }
  return -1;
}

/** "E-Mail Address", "email_address" and "Adresse électronique" lose what varies. */
function headerKey(header: string): string {
  return header
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');
}

/**
 * The column with the most address-like cells, provided that at least half
 * of its non-empty cells look like addresses. The leftmost wins a tie.
 */
function findAddressColumn(rows: readonly (readonly string[])[], width: number): number {
  let best = -1;
  let bestCount = 0;

  for (let column = 0; column < width; column += 1) {
    let filled = 0;
    let addresses = 0;
    for (const row of rows) {
      const cell = row[column]?.trim() ?? '';
      if (cell === '') continue;
      filled += 1;
      if (looksLikeAddress(cell)) addresses += 1;
    }
    const isMostlyAddresses = addresses * 2 >= filled;
    if (isMostlyAddresses && addresses > bestCount) {
      best = column;
      bestCount = addresses;
    }
  }
  return best;
}
