import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { defaultOutputPath, resolveFilePaths } from '../../src/cli/resolve-file-paths.js';

function folderWith(...files: string[]): string {
  const folder = mkdtempSync(join(tmpdir(), 'mailverify-paths-'));
  for (const file of files) writeFileSync(join(folder, file), 'email\n');
  return folder;
}

describe('defaultOutputPath', () => {
  it('puts .verified before the extension, keeping a TSV a TSV', () => {
    expect(defaultOutputPath('/d/contacts.csv', 'csv')).toBe('/d/contacts.verified.csv');
    expect(defaultOutputPath('/d/list.txt', 'csv')).toBe('/d/list.verified.csv');
    expect(defaultOutputPath('/d/sheet.TSV', 'csv')).toBe('/d/sheet.verified.tsv');
    expect(defaultOutputPath('/d/contacts.csv', 'jsonl')).toBe('/d/contacts.verified.jsonl');
    expect(defaultOutputPath('/d/export', 'csv')).toBe('/d/export.verified.csv');
  });
});

describe('resolveFilePaths', () => {
  it('resolves relative paths against the working folder', () => {
    const folder = folderWith('in.csv');
    const outcome = resolveFilePaths('in.csv', 'out.csv', 'csv', folder);
    expect(outcome).toEqual({
      ok: true,
      paths: { input: join(folder, 'in.csv'), output: join(folder, 'out.csv') },
    });
  });

  it('reads standard input for "-" and writes standard output by default then', () => {
    expect(resolveFilePaths('-', undefined, 'csv', '/')).toEqual({
      ok: true,
      paths: { input: null, output: null },
    });
  });

  it('refuses an input that is a folder', () => {
    const folder = folderWith();
    mkdirSync(join(folder, 'sub'));
    expect(resolveFilePaths('sub', undefined, 'csv', folder)).toEqual({
      ok: false,
      problem: 'sub is not a regular file; use - to read standard input',
    });
  });

  it('refuses an output that is a folder', () => {
    const folder = folderWith('in.csv');
    expect(resolveFilePaths('in.csv', '.', 'csv', folder)).toMatchObject({ ok: false });
  });
});
