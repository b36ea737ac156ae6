/**
 * The tables of the job part of the store, and how a row of `jobs` reads
 * as a JobSummary. Items live in `job_items`, keyed by job and position;
 * a NULL result is an address still to verify.
 */
import type { Verdict } from '../verify/types.js';
import type { CallbackState, JobStatus, JobSummary } from './job-store.js';

export const JOB_MIGRATIONS: readonly string[] = [
  `CREATE TABLE jobs (
     id TEXT PRIMARY KEY,
     status TEXT NOT NULL,
     api_key_id TEXT,
     idempotency_key TEXT,
     fingerprint TEXT,
     total INTEGER NOT NULL DEFAULT 0,
     done INTEGER NOT NULL DEFAULT 0,
     deliverable INTEGER NOT NULL DEFAULT 0,
     undeliverable INTEGER NOT NULL DEFAULT 0,
     risky INTEGER NOT NULL DEFAULT 0,
     unknown INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL,
     started_at INTEGER,
     finished_at INTEGER,
     error TEXT,
     lease_owner TEXT,
     lease_until INTEGER,
     expired_leases INTEGER NOT NULL DEFAULT 0,
     callback_url TEXT,
     callback_state TEXT,
     callback_attempts INTEGER NOT NULL DEFAULT 0,
     callback_next_at INTEGER,
     callback_last_status INTEGER,
     callback_last_error TEXT,
     callback_delivered_at INTEGER
   );
   CREATE INDEX jobs_by_status ON jobs (status, created_at);
   CREATE INDEX jobs_by_callback ON jobs (callback_state, callback_next_at);
   CREATE UNIQUE INDEX jobs_by_idempotency_key
     ON jobs (COALESCE(api_key_id, ''), idempotency_key)
     WHERE idempotency_key IS NOT NULL;
   CREATE TABLE job_items (
     job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
     seq INTEGER NOT NULL,
     email TEXT NOT NULL,
     verdict TEXT,
     result TEXT,
     recorded_at INTEGER,
     PRIMARY KEY (job_id, seq)
   ) WITHOUT ROWID;`,
];

const VERDICTS: readonly Verdict[] = ['deliverable', 'undeliverable', 'risky', 'unknown'];

export interface JobRow {
  id: string;
  status: JobStatus;
  api_key_id: string | null;
  fingerprint: string | null;
  total: number;
  done: number;
  deliverable: number;
  undeliverable: number;
  risky: number;
  unknown: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  error: string | null;
  lease_owner: string | null;
  lease_until: number | null;
  expired_leases: number;
  callback_url: string | null;
  callback_state: CallbackState | null;
  callback_attempts: number;
  callback_next_at: number | null;
  callback_last_status: number | null;
  callback_last_error: string | null;
  callback_delivered_at: number | null;
}

export function toJobSummary(row: JobRow): JobSummary {
  const counts = Object.fromEntries(VERDICTS.map((verdict) => [verdict, row[verdict]]));
  return {
    id: row.id,
    status: row.status,
    total: row.total,
    done: row.done,
    counts: counts as Record<Verdict, number>,
    createdAt: isoOf(row.created_at),
    startedAt: row.started_at === null ? null : isoOf(row.started_at),
    finishedAt: row.finished_at === null ? null : isoOf(row.finished_at),
    error: row.error,
    apiKeyId: row.api_key_id,
    callback:
      row.callback_url === null
        ? null
        : {
            url: row.callback_url,
            state: row.callback_state ?? 'waiting',
            attempts: row.callback_attempts,
            lastStatus: row.callback_last_status,
            lastError: row.callback_last_error,
            nextAttemptAt:
              row.callback_state === 'pending' && row.callback_next_at !== null
                ? isoOf(row.callback_next_at)
                : null,
            deliveredAt:
              row.callback_delivered_at === null ? null : isoOf(row.callback_delivered_at),
          },
  };
}

function isoOf(ms: number): string {
  return new Date(ms).toISOString();
}
