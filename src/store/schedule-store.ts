/**
 * What the scheduler remembers about each scheduled task: its last run and
 * outcome, its next run, and who is running it now. A run holds a lease,
 * so two processes sharing the store never run the same schedule at once,
 * and a run whose process died shows as interrupted. Times are
 * milliseconds since the epoch.
 */

export type RunOutcome = 'succeeded' | 'failed' | 'interrupted';

/** Numbers and words a task reports about its run, shown as they are. */
export type RunSummary = Record<string, string | number | boolean | null>;

export interface FinishedRun {
  outcome: RunOutcome;
  summary: RunSummary;
  error: string | null;
}

export interface ScheduleRecord {
  name: string;
  /** A run is going on now (its lease has not expired). */
  isRunning: boolean;
  lastStartedAt: number | null;
  lastFinishedAt: number | null;
  lastOutcome: RunOutcome | null;
  lastSummary: RunSummary | null;
  lastError: string | null;
  nextRunAt: number | null;
  /** Runs skipped because the previous one was still going. */
  skippedRuns: number;
  lastSkippedAt: number | null;
}

export interface ScheduleStore {
  /** False, and nothing starts, when a run of this schedule holds a live lease. */
  startRun(name: string, owner: string, now: number, leaseMs: number): Promise<boolean>;

  /** False when the owner no longer holds the run. */
  renewRun(name: string, owner: string, now: number, leaseMs: number): Promise<boolean>;

  finishRun(name: string, owner: string, now: number, run: FinishedRun): Promise<void>;

  recordSkip(name: string, now: number): Promise<void>;

  setNextRun(name: string, nextRunAt: number | null): Promise<void>;

  /** Every schedule the store has seen, by name; `now` decides which leases live. */
  listSchedules(now: number): Promise<ScheduleRecord[]>;
}
