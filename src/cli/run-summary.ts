/**
 * The closing report of a file run on standard error: what was read, what
 * the verdicts were, which rows could not be verified and where the output
 * went. Only the output file holds results; this is for the person.
 */
import type { WriteTally } from '../../connectors/csv/write-verified-rows.js';
import type { Verdict } from '../verify/types.js';
import { formatCount, formatDuration, formatRate } from './format-quantities.js';

export interface RunSummary {
  tally: WriteTally;
  /** Addresses answered by stored results rather than by a mail server. */
  fromCache: number;
  durationMs: number;
  /** The output's path, or "standard output". */
  output: string;
}

const VERDICT_ORDER: readonly Verdict[] = ['deliverable', 'undeliverable', 'risky', 'unknown'];

export function formatRunSummary(summary: RunSummary): string {
  const { tally, durationMs } = summary;
  const lines = [
    `mailverify: ${plural(tally.rows, 'row')} in ${formatDuration(durationMs)}` +
      ` (${formatRate(tally.rows, durationMs, 'rows')})`,
    item('verified', `${plural(tally.verified, 'address')}${fromCache(summary.fromCache)}`),
  ];

  const verdicts = VERDICT_ORDER.filter((verdict) => tally.byVerdict[verdict])
    .map((verdict) => `${verdict} ${formatCount(tally.byVerdict[verdict] ?? 0)}`)
    .join(', ');
  if (verdicts) lines.push(item('verdicts', verdicts));

  const reasons = Object.entries(tally.byReason)
    .sort(([nameA, countA = 0], [nameB, countB = 0]) => countB - countA || (nameA < nameB ? -1 : 1))
    .map(([reason, count = 0]) => `${reason} ${formatCount(count)}`)
    .join(', ');
  if (reasons) lines.push(item('reasons', reasons));

  if (tally.invalid > 0) {
    lines.push(item('invalid', `${plural(tally.invalid, 'address')} with invalid syntax`));
  }
  if (tally.noEmail > 0) {
    lines.push(item('no address', `${plural(tally.noEmail, 'row')} with an empty email cell`));
  }
  if (tally.malformed > 0) {
    lines.push(
      item('malformed', `${plural(tally.malformed, 'row')} kept unchanged, not verified:`),
    );
    for (const { line, problem } of tally.malformedRows) {
      lines.push(item('', `  line ${formatCount(line)}: ${problem}`));
    }
    const more = tally.malformed - tally.malformedRows.length;
    if (more > 0) lines.push(item('', `  and ${plural(more, 'more row')}`));
  }
  if (tally.missing > 0) {
    lines.push(item('missing', `${plural(tally.missing, 'address')} without a stored result`));
  }
  lines.push(item('output', summary.output));
  return `${lines.join('\n')}\n`;
}

/** What an interrupted run says, so that the user knows the file is partial. */
export function formatInterruption(rowsWritten: number, totalRows: number | null): string {
  const of = totalRows === null ? '' : ` of ${formatCount(totalRows)}`;
  return (
    `mailverify: interrupted after ${formatCount(rowsWritten)}${of} rows; ` +
    'run the same command again to resume\n'
  );
}

function item(label: string, text: string): string {
  return `  ${label.padEnd(11)} ${text}`;
}

function fromCache(count: number): string {
  return count > 0 ? `, ${formatCount(count)} of them answered from the cache` : '';
}

function plural(count: number, noun: string): string {
  const suffix = count === 1 ? '' : noun.endsWith('s') ? 'es' : 's';
  return `${formatCount(count)} ${noun}${suffix}`;
}
