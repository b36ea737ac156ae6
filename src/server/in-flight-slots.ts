/**
 * How many addresses are handed to the verifier and not yet answered, all
 * jobs together. Waiters are served in order, so jobs take turns.
 */

export interface InFlightSlots {
  /** False when the wait was cancelled: no slot was taken. */
  acquire(): Promise<boolean>;
  release(): void;
  /** Ends every wait, now and later (the runner is stopping). */
  cancelWaiting(): void;
}

export function createInFlightSlots(capacity: number): InFlightSlots {
  let free = capacity;
  let isCancelled = false;
  const waiting: ((hasSlot: boolean) => void)[] = [];

  return {
    acquire() {
      if (isCancelled) return Promise.resolve(false);
      if (free > 0) {
        free -= 1;
        return Promise.resolve(true);
      }
      return new Promise((resolve) => waiting.push(resolve));
    },
    release() {
      const next = waiting.shift();
      if (next) next(true);
      else free += 1;
    },
    cancelWaiting() {
      isCancelled = true;
      waiting.splice(0).forEach((resolve) => resolve(false));
    },
  };
}
