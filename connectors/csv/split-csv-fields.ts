/**
 * The fields of one complete record (RFC 4180 section 2), read leniently: a
 * quote inside an unquoted field and text after a closing quote are kept
 * as written and reported, never dropped.
 */
import type { Delimiter } from './sniff-delimiter.js';

export interface SplitFields {
  fields: string[];
  problems: string[];
  /** The text ended inside a quoted field: its closing quote is missing. */
  endsInsideQuotes: boolean;
}

type FieldState = 'field_start' | 'unquoted' | 'quoted' | 'quote_in_quoted';

export function splitCsvFields(text: string, delimiter: Delimiter): SplitFields {
  const fields: string[] = [];
  const problems = new Set<string>();
  let state: FieldState = 'field_start';
  let field = '';
  let spanStart = 0;

  for (let index = 0; index < text.length; index += 1) {
    const character = text[index];
    if (state === 'field_start') {
      if (character === '"') {
        state = 'quoted';
        spanStart = index + 1;
      } else if (character === delimiter) {
        fields.push('');
      } else {
        state = 'unquoted';
        spanStart = index;
      }
    } else if (state === 'unquoted') {
      if (character === delimiter) {
        fields.push(field + text.slice(spanStart, index));
        field = '';
        state = 'field_start';
      } else if (character === '"') {
        problems.add('a quote inside an unquoted field');
      }
    } else if (state === 'quoted') {
      if (character === '"') {
        field += text.slice(spanStart, index);
        state = 'quote_in_quoted';
      }
    } else if (character === '"') {
      // A doubled quote inside a quoted field stands for one quote.
      field += '"';
      spanStart = index + 1;
      state = 'quoted';
    } else if (character === delimiter) {
      fields.push(field);
      field = '';
      state = 'field_start';
    } else {
      problems.add('text after the closing quote of a field');
      spanStart = index;
      state = 'unquoted';
    }
  }

  if (state === 'quote_in_quoted') fields.push(field);
  else if (state === 'field_start') fields.push('');
  else fields.push(field + text.slice(spanStart));

  return { fields, problems: [...problems], endsInsideQuotes: state === 'quoted' };
}
