/**
 * How results read on a terminal: one row per address, the columns a person
 * scans first, the evidence in a few words.
 */
import type { VerificationResult } from '../verify/types.js';

const COLUMNS = [
  { title: 'ADDRESS', width: 36 },
  { title: 'VERDICT', width: 13 },
  { title: 'REASON', width: 19 },
  { title: 'SCORE', width: 5 },
  { title: 'FLAGS', width: 22 },
] as const;

export function formatTableHeader(): string {
  return joinCells([...COLUMNS.map((column) => column.title), 'DETAIL']);
}

export function formatTableRow(result: VerificationResult): string {
  const cells = [
    result.email,
    result.verdict,
    result.reason,
    String(result.score),
    describeFlags(result) || '-',
    describeEvidence(result),
  ];
  return joinCells(cells);
}

function joinCells(cells: string[]): string {
  return cells
    .map((cell, index) => {
      const width = COLUMNS[index]?.width;
      return width === undefined ? cell : fit(cell, width);
    })
    .join('  ')
    .trimEnd();
}

function fit(text: string, width: number): string {
  const clean = printable(text);
  if (clean.length <= width) return clean.padEnd(width);
  return `${clean.slice(0, width - 1)}…`;
}

function describeFlags(result: VerificationResult): string {
  const { flags } = result;
  const names = [
    flags.role && 'role',
    flags.free && 'free',
    flags.disposable && 'disposable',
    flags.catchAll && 'catch-all',
    flags.smtputf8 && 'smtputf8',
  ];
  return names.filter(Boolean).join(',');
}

function describeEvidence(result: VerificationResult): string {
  const parts: string[] = [];
  if (result.suggestion) parts.push(`did you mean ${result.suggestion}?`);

  const evidence = result.evidence;
  if (evidence) {
    const code = [evidence.code, evidence.enhancedCode].filter((part) => part !== null);
    const where = evidence.host ? `${evidence.stage}@${evidence.host}` : evidence.stage;
    const text = evidence.text ? printable(evidence.text).slice(0, 80) : '';
    parts.push([where, code.join(' '), text].filter(Boolean).join(' '));
  }
  return parts.join('; ');
}

/** Server text is untrusted: no control characters reach the terminal. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
}
