/**
 * A job's results as they are streamed: JSON lines (the result object of
 * `mailverify check --json`, with the item's position as `seq`) or CSV
 * (RFC 4180, one row an address).
 */
import type { RecordedItem } from '../store/job-store.js';

export type ResultsFormat = 'ndjson' | 'csv';

export const RESULTS_MEDIA_TYPES: Record<ResultsFormat, string> = {
  ndjson: 'application/x-ndjson',
  csv: 'text/csv',
};

const CSV_COLUMNS = [
  'seq',
  'email',
  'normalized',
  'verdict',
  'reason',
  'score',
  'flags',
  'suggestion',
  'mx_host',
  'smtp_code',
  'enhanced_code',
  'smtp_reply',
  'checked_at',
] as const;

/** The first line of the stream: the CSV header, or nothing. */
export function formatResultsHead(format: ResultsFormat): string {
  return format === 'csv' ? `${CSV_COLUMNS.join(',')}\r\n` : '';
}

export function formatResultLine(format: ResultsFormat, item: RecordedItem): string {
  if (format === 'ndjson') return `${JSON.stringify({ seq: item.seq, ...item.result })}\n`;

  const { result } = item;
  const flags = Object.entries(result.flags)
    .filter(([, isSet]) => isSet === true)
    .map(([name]) => (name === 'catchAll' ? 'catch_all' : name));
  const cells = [
    String(item.seq),
    result.email,
    result.normalized ?? '',
    result.verdict,
    result.reason,
    String(result.score),
    flags.join('|'),
    result.suggestion ?? '',
    result.evidence?.host ?? result.mx[0]?.host ?? '',
    result.evidence?.code === null || result.evidence?.code === undefined
      ? ''
      : String(result.evidence.code),
    result.evidence?.enhancedCode ?? '',
    result.evidence?.text ?? '',
    result.checkedAt,
  ];
  return `${cells.map(quoteCell).join(',')}\r\n`;
}

/**
 * RFC 4180 section 2 quoting. A cell a spreadsheet would run as a formula
 * (=, +, -, @, tab, CR first) gets a leading apostrophe: addresses and
 * server replies come from strangers (OWASP, "CSV Injection").
 */
function quoteCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  const needsQuotes = /[",\r\n]/.test(safe);
  return needsQuotes ? `"${safe.replaceAll('"', '""')}"` : safe;
}
