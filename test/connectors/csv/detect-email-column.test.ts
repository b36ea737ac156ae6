import { describe, expect, it } from 'vitest';

import { detectEmailColumn } from '../../../connectors/csv/detect-email-column.js';

const rows = (...cells: string[][]) => cells;

describe('detectEmailColumn', () => {
  it.each([
    ['Email'],
    [' EMAIL '],
    ['E-Mail Address'],
    ['email_address'],
    ['Courriel'],
    ['Adresse électronique'],
    ['Correo electrónico'],
  ])('finds the column by its header name %j', (name) => {
    const choice = detectEmailColumn(['First Name', name], rows(['Ann', 'ann@acme.test']));
    expect(choice).toEqual({ ok: true, index: 1, hasHeader: true, how: 'header' });
  });

  it('prefers a plain "Email" header over "Work Email", wherever they stand', () => {
    const choice = detectEmailColumn(['Work Email', 'Name', 'Email'], rows());
    expect(choice).toMatchObject({ ok: true, index: 2 });
  });

  it('takes the column named by the user, without regard to case or spaces', () => {
    const choice = detectEmailColumn(['Email', 'Backup'], rows(), '  backup ');
    expect(choice).toEqual({ ok: true, index: 1, hasHeader: true, how: 'named' });
  });

  it('lists the headers when the named column does not exist', () => {
    const choice = detectEmailColumn(['Email', 'Name'], rows(), 'Courriel');
    expect(choice).toEqual({
      ok: false,
      problem: 'no column named "Courriel"',
      headers: ['Email', 'Name'],
    });
  });

  it('falls back on the column whose rows look most like addresses', () => {
    const choice = detectEmailColumn(
      ['Contact', 'Email Opt Out', 'Who'],
      rows(
        ['Ann', 'false', 'ann@acme.test'],
        ['Bob', 'true', 'bob@acme.test'],
        ['Cid', 'false', ''],
      ),
    );
    expect(choice).toEqual({ ok: true, index: 2, hasHeader: true, how: 'content' });
  });

  it('treats a first row holding an address as data: a list without a header', () => {
    const choice = detectEmailColumn(['ann@acme.test'], rows(['bob@acme.test']));
    expect(choice).toEqual({ ok: true, index: 0, hasHeader: false, how: 'content' });
  });

  it('finds the address column of a headerless file with several columns', () => {
    const choice = detectEmailColumn(['Ann', 'ann@acme.test'], rows(['Bob', 'bob@acme.test']));
    expect(choice).toMatchObject({ ok: true, index: 1, hasHeader: false });
  });

  it('refuses a column where most cells are not addresses', () => {
    const choice = detectEmailColumn(
      ['Notes'],
      rows(['call back'], ['ann@acme.test'], ['no answer'], ['left a message']),
    );
    expect(choice).toEqual({
      ok: false,
      problem: 'no column looks like email addresses',
      headers: ['Notes'],
    });
  });
});
