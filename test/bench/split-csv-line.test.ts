import { describe, expect, it } from 'vitest';

import { splitCsvLine } from './split-csv-line.js';

describe('splitCsvLine', () => {
  it('splits plain fields at commas, keeping empty ones', () => {
    expect(splitCsvLine('1,ann,,ann@acme.test')).toEqual(['1', 'ann', '', 'ann@acme.test']);
  });

  it('keeps commas inside quotes and undoes doubled quotes', () => {
    expect(splitCsvLine('"Acme, Inc.","say ""hi""",x')).toEqual(['Acme, Inc.', 'say "hi"', 'x']);
  });
});
