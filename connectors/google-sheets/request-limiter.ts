/**
 * At most N requests in any sliding minute. The Sheets API allows 60 read
 * and 60 write requests per minute per user per project; staying under 60
 * in all keeps one sync from starving another.
 * https://developers.google.com/workspace/sheets/api/limits
 */
export const REQUESTS_PER_MINUTE = 60;
const WINDOW_MS = 60_000;

export interface LimiterDeps {
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

export interface RequestLimiter {
  /** Resolves when one more request fits in the window, and counts it. */
  acquire(): Promise<void>;
}

export function createRequestLimiter(perMinute: number, deps: LimiterDeps): RequestLimiter {
  const sent: number[] = [];
  let queue: Promise<void> = Promise.resolve();

  const takeTurn = async () => {
    // Bounded: each pass either counts the request or sleeps until the
    // oldest one leaves the window, after which it fits.
    for (let pass = 0; pass < 2; pass += 1) {
      const now = deps.now();
      while (sent.length > 0 && sent[0]! <= now - WINDOW_MS) sent.shift();
      if (sent.length < perMinute) {
        sent.push(now);
        return;
      }
      await deps.sleep(sent[0]! + WINDOW_MS - now);
    }
    sent.shift();
    sent.push(deps.now());
  };

  return {
    acquire() {
      queue = queue.then(takeTurn);
      return queue;
    },
  };
}
