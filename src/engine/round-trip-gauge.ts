/**
 * The round trip to one mail server, taken as the least time any exchange
 * with it has taken in this run. Waiting on a busy event loop (ours) only
 * ever lengthens a measured exchange, never shortens it, so the least of
 * many is close to the network's round trip plus the server's quickest
 * answer, however loaded this process is.
 */

/** Exchanges timed before the least of them is trusted. */
const MIN_SAMPLES = 8;

export class RoundTripGauge {
  private leastMs = Number.POSITIVE_INFINITY;
  private samples = 0;

  observe(ms: number): void {
    this.leastMs = Math.min(this.leastMs, ms);
    this.samples += 1;
  }

  /** The least exchange time seen, once enough have been timed; null before. */
  get roundTripMs(): number | null {
    return this.samples >= MIN_SAMPLES ? this.leastMs : null;
  }
}
