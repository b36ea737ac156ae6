/**
 * The scheduler's memory in the embedded SQLite file: one row a schedule.
 */
import { migrate } from './sqlite-database.js';
import type { SqliteDatabase } from './sqlite-database.js';
import type {
  FinishedRun,
  RunOutcome,
  RunSummary,
  ScheduleRecord,
  ScheduleStore,
} from './schedule-store.js';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE schedule_runs (
     name TEXT PRIMARY KEY,
     last_started_at INTEGER,
     last_finished_at INTEGER,
     last_outcome TEXT,
     last_summary TEXT,
     last_error TEXT,
     next_run_at INTEGER,
     run_owner TEXT,
     run_until INTEGER,
     skipped_runs INTEGER NOT NULL DEFAULT 0,
     last_skipped_at INTEGER
   );`,
];

interface ScheduleRow {
  name: string;
  last_started_at: number | null;
  last_finished_at: number | null;
  last_outcome: RunOutcome | null;
  last_summary: string | null;
  last_error: string | null;
  next_run_at: number | null;
  run_owner: string | null;
  run_until: number | null;
  skipped_runs: number;
  last_skipped_at: number | null;
}

export class SqliteScheduleStore implements ScheduleStore {
  constructor(private readonly db: SqliteDatabase) {
    migrate(db, 'schedules', MIGRATIONS);
  }

  async startRun(name: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
    const start = this.db.transaction((): boolean => {
      this.ensureRow(name);
      const row = this.readRow(name)!;
      if (row.run_owner !== null && row.run_until !== null && row.run_until > now) return false;

      this.db
        .prepare(
          `UPDATE schedule_runs SET run_owner = ?, run_until = ?, last_started_at = ?
           WHERE name = ?`,
        )
        .run(owner, now + leaseMs, now, name);
      return true;
    });
    return start.immediate();
  }

  async renewRun(name: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
    const change = this.db
      .prepare('UPDATE schedule_runs SET run_until = ? WHERE name = ? AND run_owner = ?')
      .run(now + leaseMs, name, owner);
    return change.changes > 0;
  }

  async finishRun(name: string, owner: string, now: number, run: FinishedRun): Promise<void> {
    this.db
      .prepare(
        `UPDATE schedule_runs SET run_owner = NULL, run_until = NULL, last_finished_at = ?,
           last_outcome = ?, last_summary = ?, last_error = ?
         WHERE name = ? AND run_owner = ?`,
      )
      .run(now, run.outcome, JSON.stringify(run.summary), run.error, name, owner);
  }

  async recordSkip(name: string, now: number): Promise<void> {
    this.ensureRow(name);
    this.db
      .prepare(
        `UPDATE schedule_runs SET skipped_runs = skipped_runs + 1, last_skipped_at = ?
         WHERE name = ?`,
      )
      .run(now, name);
  }

  async setNextRun(name: string, nextRunAt: number | null): Promise<void> {
    this.ensureRow(name);
    this.db.prepare('UPDATE schedule_runs SET next_run_at = ? WHERE name = ?').run(nextRunAt, name);
  }

  async listSchedules(now: number): Promise<ScheduleRecord[]> {
    const rows = this.db
      .prepare('SELECT * FROM schedule_runs ORDER BY name')
      .all() as ScheduleRow[];
    return rows.map((row) => toRecord(row, now));
  }

  private ensureRow(name: string): void {
    this.db.prepare('INSERT INTO schedule_runs (name) VALUES (?) ON CONFLICT DO NOTHING').run(name);
  }

  private readRow(name: string): ScheduleRow | undefined {
    return this.db.prepare('SELECT * FROM schedule_runs WHERE name = ?').get(name) as
      ScheduleRow | undefined;
  }
}

function toRecord(row: ScheduleRow, now: number): ScheduleRecord {
  const isRunning = row.run_owner !== null && row.run_until !== null && row.run_until > now;
  // A lease that ran out with its owner still named: that process died mid-run.
  const wasInterrupted = row.run_owner !== null && !isRunning;

  return {
    name: row.name,
    isRunning,
    lastStartedAt: row.last_started_at,
    lastFinishedAt: wasInterrupted ? null : row.last_finished_at,
    lastOutcome: wasInterrupted ? 'interrupted' : row.last_outcome,
    lastSummary:
      wasInterrupted || row.last_summary === null
        ? null
        : (JSON.parse(row.last_summary) as RunSummary),
    lastError: wasInterrupted ? null : row.last_error,
    nextRunAt: row.next_run_at,
    skippedRuns: row.skipped_runs,
    lastSkippedAt: row.last_skipped_at,
  };
}
