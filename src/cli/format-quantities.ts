/**
 * Counts, rates and durations as people read them on a terminal:
 * "12,345", "98/s", "1m05s".
 */
export function formatCount(count: number): string {
  return count.toLocaleString('en-US');
}

/** "98/s", or "98 rows/s" with a unit. */
export function formatRate(count: number, elapsedMs: number, unit = ''): string {
  const per = unit ? ` ${unit}/s` : '/s';
  if (elapsedMs <= 0) return `-${per}`;
  const perSecond = (count * 1000) / elapsedMs;
  const digits = perSecond < 10 ? 1 : 0;
  return `${perSecond.toLocaleString('en-US', { maximumFractionDigits: digits })}${per}`;
}

export function formatDuration(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;

  const wholeSeconds = Math.round(seconds);
  const hours = Math.floor(wholeSeconds / 3600);
  const minutes = Math.floor((wholeSeconds % 3600) / 60);
  const rest = wholeSeconds % 60;
  if (hours > 0) return `${hours}h${String(minutes).padStart(2, '0')}m`;
  return `${minutes}m${String(rest).padStart(2, '0')}s`;
}
