import { describe, expect, it } from 'vitest';

import {
  flagNames,
  quoteCsvField,
  resultCells,
  resultColumnNames,
} from '../../../connectors/csv/format-csv-row.js';
import { resultFor } from '../../helpers/fake-bulk-verifier.js';

describe('resultColumnNames', () => {
  it('names our columns plainly when the header has none of them', () => {
    expect(resultColumnNames(['Email', 'Name'])).toEqual([
      'verdict',
      'reason',
      'score',
      'flags',
      'checked_at',
    ]);
  });

  it('prefixes all five when the header already holds one of them', () => {
    expect(resultColumnNames(['email', ' Score '])[0]).toBe('mailverify_verdict');
  });

  it('numbers the prefix on a rerun over an output that has both', () => {
    const header = ['email', 'verdict', 'mailverify_checked_at'];
    expect(resultColumnNames(header)).toEqual([
      'mailverify_2_verdict',
      'mailverify_2_reason',
      'mailverify_2_score',
      'mailverify_2_flags',
      'mailverify_2_checked_at',
    ]);
  });
});

describe('resultCells', () => {
  it('gives verdict, reason, score, flags joined by |, and the check time', () => {
    const result = resultFor('info@acme.test');
    expect(resultCells(result)).toEqual([
      'risky',
      'catch_all',
      '50',
      'role|catch_all',
      result.checkedAt,
    ]);
  });

  it('gives five empty cells for a row without a result', () => {
    expect(resultCells(null)).toEqual(['', '', '', '', '']);
  });

  it('names no flag for a catch-all answer that is unknown', () => {
    const flags = { role: false, free: true, disposable: false, catchAll: null, smtputf8: true };
    expect(flagNames(flags)).toEqual(['free', 'smtputf8']);
  });
});

describe('quoteCsvField', () => {
  it('quotes a cell holding the delimiter, a quote or a line break, and only then', () => {
    expect(quoteCsvField('a;b', ';')).toBe('"a;b"');
    expect(quoteCsvField('a,b', ';')).toBe('a,b');
    expect(quoteCsvField('say "hi"', ',')).toBe('"say ""hi"""');
    expect(quoteCsvField('two\nlines', '\t')).toBe('"two\nlines"');
    expect(quoteCsvField('plain', ',')).toBe('plain');
  });
});
