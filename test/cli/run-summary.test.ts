import { describe, expect, it } from 'vitest';

import type { WriteTally } from '../../connectors/csv/write-verified-rows.js';
import { formatInterruption, formatRunSummary } from '../../src/cli/run-summary.js';

const tally: WriteTally = {
  rows: 1204,
  verified: 1150,
  byVerdict: { unknown: 20, deliverable: 1000, undeliverable: 140 },
  byReason: { accepted: 1000, mailbox_not_found: 120, invalid_syntax: 20, timeout: 20 },
  noEmail: 12,
  invalid: 20,
  malformed: 7,
  malformedRows: [
    { line: 14, problem: '3 fields where the first row has 2' },
    { line: 87, problem: 'a quote inside an unquoted field' },
  ],
  missing: 0,
  isComplete: true,
};

describe('formatRunSummary', () => {
  it('reports rows, verdicts, reasons, gaps, malformed lines and the output', () => {
    const text = formatRunSummary({
      tally,
      fromCache: 300,
      durationMs: 100_000,
      output: '/data/contacts.verified.csv',
    });

    expect(text).toBe(
      [
        'mailverify: 1,204 rows in 1m40s (12 rows/s)',
        '  verified    1,150 addresses, 300 of them answered from the cache',
        '  verdicts    deliverable 1,000, undeliverable 140, unknown 20',
        '  reasons     accepted 1,000, mailbox_not_found 120, invalid_syntax 20, timeout 20',
        '  invalid     20 addresses with invalid syntax',
        '  no address  12 rows with an empty email cell',
        '  malformed   7 rows kept unchanged, not verified:',
        '                line 14: 3 fields where the first row has 2',
        '                line 87: a quote inside an unquoted field',
        '                and 5 more rows',
        '  output      /data/contacts.verified.csv',
        '',
      ].join('\n'),
    );
  });

  it('leaves out what did not happen', () => {
    const clean: WriteTally = {
      ...tally,
      noEmail: 0,
      invalid: 0,
      malformed: 0,
      malformedRows: [],
    };
    const text = formatRunSummary({ tally: clean, fromCache: 0, durationMs: 1000, output: 'x' });
    expect(text).not.toMatch(/no address|invalid |malformed|cache/);
  });
});

describe('formatInterruption', () => {
  it('says how far the run got and how to resume', () => {
    expect(formatInterruption(5, 10)).toBe(
      'mailverify: interrupted after 5 of 10 rows; run the same command again to resume\n',
    );
    expect(formatInterruption(1500, null)).toBe(
      'mailverify: interrupted after 1,500 rows; run the same command again to resume\n',
    );
  });
});
