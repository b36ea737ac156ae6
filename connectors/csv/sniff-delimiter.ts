/**
 * Which character separates the fields of a file. Spreadsheets write a
 * comma, except where the comma is the decimal mark: there Excel writes a
 * semicolon (its list separator follows the regional settings). Tab comes
 * from "text (tab delimited)" exports and copies out of a sheet.
 */
export type Delimiter = ',' | ';' | '\t';

export const DELIMITERS: readonly Delimiter[] = [',', ';', '\t'];

/**
 * The candidate that occurs most often outside quotes in the header line.
 * A comma wins ties and lines without any candidate (a one-column list).
 */
export function sniffDelimiter(headerLine: string): Delimiter {
  const counts: Record<Delimiter, number> = { ',': 0, ';': 0, '\t': 0 };

  let isQuoted = false;
  for (const character of headerLine) {
    if (character === '"') isQuoted = !isQuoted;
    else if (!isQuoted && isDelimiter(character)) counts[character] += 1;
  }

  let best: Delimiter = ',';
  for (const candidate of DELIMITERS) {
    if (counts[candidate] > counts[best]) best = candidate;
  }
  return best;
}

export function isDelimiter(text: string): text is Delimiter {
  return text === ',' || text === ';' || text === '\t';
}
