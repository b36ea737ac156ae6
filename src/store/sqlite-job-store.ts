/**
 * Jobs in the embedded SQLite file. Every change that must be seen whole
 * (a claim, a batch of results and the job's counts, a completion and its
 * callback) is one IMMEDIATE transaction, which takes the write lock at
 * its start: two processes sharing the file never claim the same job.
 */
import { randomBytes } from 'node:crypto';

import type { Verdict, VerificationResult } from '../verify/types.js';
import { migrate } from './sqlite-database.js';
import type { SqliteDatabase } from './sqlite-database.js';
import type {
  CallbackAttempt,
  CallbackState,
  DueCallback,
  ItemResult,
  JobItem,
  JobStatus,
  JobStore,
  JobSummary,
  NewJob,
  OpenJobOutcome,
  QueueDepth,
  RecordedItem,
} from './job-store.js';
import { JOB_MIGRATIONS, toJobSummary } from './sqlite-job-schema.js';
import type { JobRow } from './sqlite-job-schema.js';

/**
 * An upload whose process stops renewing this long is considered abandoned.
 * Every batch written renews it, and a receiving upload writes at least once
 * a minute while addresses arrive.
 */
const UPLOAD_LEASE_MS = 10 * 60_000;

/**
 * A job whose lease ran out this many times has probably been killing its
 * workers (or keeps being interrupted): it fails instead of looping.
 */
const MAX_EXPIRED_LEASES = 10;

export interface SqliteJobStoreOptions {
  /** The database shared with the other parts of the store. */
  db: SqliteDatabase;
  /** Job ids; random by default. */
  newId?: () => string;
}

export class SqliteJobStore implements JobStore {
  private readonly db: SqliteDatabase;
  private readonly newId: () => string;

  constructor(options: SqliteJobStoreOptions) {
    this.db = options.db;
    this.newId = options.newId ?? (() => `job_${randomBytes(12).toString('base64url')}`);
    migrate(this.db, 'jobs', JOB_MIGRATIONS);
  }

  async openJob(spec: NewJob, now: number): Promise<OpenJobOutcome> {
    const open = this.db.transaction((): OpenJobOutcome => {
      if (spec.idempotencyKey !== null) {
        const existing = this.db
          .prepare(`SELECT * FROM jobs WHERE COALESCE(api_key_id, '') = ? AND idempotency_key = ?`)
          .get(spec.apiKeyId ?? '', spec.idempotencyKey) as JobRow | undefined;
        if (existing) {
          return {
            kind: 'existing',
            job: toJobSummary(existing),
            fingerprint: existing.fingerprint,
          };
        }
      }

      const jobId = this.newId();
      this.db
        .prepare(
          `INSERT INTO jobs (id, status, api_key_id, idempotency_key, callback_url,
             callback_state, created_at, lease_until)
           VALUES (?, 'receiving', ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          jobId,
          spec.apiKeyId,
          spec.idempotencyKey,
          spec.callbackUrl,
          spec.callbackUrl === null ? null : 'waiting',
          now,
          now + UPLOAD_LEASE_MS,
        );
      return { kind: 'opened', jobId };
    });
    return open.immediate();
  }

  async appendItems(jobId: string, emails: readonly string[], now: number): Promise<void> {
    const append = this.db.transaction(() => {
      const row = this.db
        .prepare(`SELECT total FROM jobs WHERE id = ? AND status = 'receiving'`)
        .get(jobId) as { total: number } | undefined;
      if (!row) throw new Error(`appendItems: job ${jobId} is not receiving`);

      const insert = this.db.prepare('INSERT INTO job_items (job_id, seq, email) VALUES (?, ?, ?)');
      emails.forEach((email, index) => insert.run(jobId, row.total + index, email));

      this.db
        .prepare('UPDATE jobs SET total = total + ?, lease_until = ? WHERE id = ?')
        .run(emails.length, now + UPLOAD_LEASE_MS, jobId);
    });
    append.immediate();
  }

  async sealJob(jobId: string, fingerprint: string): Promise<JobSummary> {
    const change = this.db
      .prepare(
        `UPDATE jobs SET status = 'queued', fingerprint = ?, lease_until = NULL
         WHERE id = ? AND status = 'receiving'`,
      )
      .run(fingerprint, jobId);
    if (change.changes === 0) throw new Error(`sealJob: job ${jobId} is not receiving`);
    return this.requireRow(jobId);
  }

  async discardJob(jobId: string): Promise<void> {
    this.db.prepare(`DELETE FROM jobs WHERE id = ? AND status = 'receiving'`).run(jobId);
  }

  async discardAbandonedUploads(now: number): Promise<number> {
    const change = this.db
      .prepare(`DELETE FROM jobs WHERE status = 'receiving' AND lease_until <= ?`)
      .run(now);
    return change.changes;
  }

  async deleteEndedJobs(endedBefore: number, limit: number): Promise<number> {
    const change = this.db
      .prepare(
        `DELETE FROM jobs WHERE id IN (
           SELECT id FROM jobs
           WHERE status IN ('completed', 'cancelled', 'failed')
             AND finished_at < ?
             AND (callback_state IS NULL OR callback_state IN ('delivered', 'failed'))
           ORDER BY finished_at
           LIMIT ?)`,
      )
      .run(endedBefore, limit);
    return change.changes;
  }

  async getJob(jobId: string): Promise<JobSummary | null> {
    const row = this.readRow(jobId);
    return row ? toJobSummary(row) : null;
  }

  async claimJob(workerId: string, now: number, leaseMs: number): Promise<JobSummary | null> {
    const claim = this.db.transaction((): JobSummary | null => {
      const next = this.db.prepare(
        `SELECT * FROM jobs
         WHERE status = 'queued' OR (status = 'running' AND lease_until <= ?)
         ORDER BY created_at, id LIMIT 1`,
      );

      for (let tries = 0; tries <= MAX_EXPIRED_LEASES; tries += 1) {
        const row = next.get(now) as JobRow | undefined;
        if (!row) return null;

        const expired = row.status === 'running' ? row.expired_leases + 1 : row.expired_leases;
        if (expired >= MAX_EXPIRED_LEASES) {
          this.endJob(row.id, 'failed', now, `its lease expired ${expired} times`);
          continue;
        }

        this.db
          .prepare(
            `UPDATE jobs SET status = 'running', lease_owner = ?, lease_until = ?,
               expired_leases = ?, started_at = COALESCE(started_at, ?)
             WHERE id = ?`,
          )
          .run(workerId, now + leaseMs, expired, now, row.id);
        return this.requireRow(row.id);
      }
      return null;
    });
    return claim.immediate();
  }

  async renewLease(
    jobId: string,
    workerId: string,
    now: number,
    leaseMs: number,
  ): Promise<boolean> {
    const change = this.db
      .prepare(
        `UPDATE jobs SET lease_until = ?
         WHERE id = ? AND lease_owner = ? AND status = 'running'`,
      )
      .run(now + leaseMs, jobId, workerId);
    return change.changes > 0;
  }

  async releaseJob(jobId: string, workerId: string): Promise<void> {
    this.db
      .prepare(
        `UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL
         WHERE id = ? AND lease_owner = ? AND status = 'running'`,
      )
      .run(jobId, workerId);
  }

  async failJob(jobId: string, workerId: string, error: string, now: number): Promise<void> {
    const fail = this.db.transaction(() => {
      const row = this.readRow(jobId);
      if (row?.status !== 'running' || row.lease_owner !== workerId) return;
      this.endJob(jobId, 'failed', now, error);
    });
    fail.immediate();
  }

  async listPendingItems(jobId: string, afterSeq: number, limit: number): Promise<JobItem[]> {
    return this.db
      .prepare(
        `SELECT seq, email FROM job_items
         WHERE job_id = ? AND seq > ? AND result IS NULL ORDER BY seq LIMIT ?`,
      )
      .all(jobId, afterSeq, limit) as JobItem[];
  }

  async recordResult(
    jobId: string,
    seq: number,
    result: VerificationResult,
    now: number,
  ): Promise<boolean> {
    return (await this.recordResults(jobId, [{ seq, result }], now)) === 1;
  }

  async recordResults(jobId: string, results: readonly ItemResult[], now: number): Promise<number> {
    const record = this.db.transaction((): number => {
      const row = this.readRow(jobId);
      if (!row || (row.status !== 'queued' && row.status !== 'running')) return 0;

      const update = this.db.prepare(
        `UPDATE job_items SET verdict = ?, result = ?, recorded_at = ?
         WHERE job_id = ? AND seq = ? AND result IS NULL`,
      );
      const added: Record<Verdict, number> = {
        deliverable: 0,
        undeliverable: 0,
        risky: 0,
        unknown: 0,
      };
      let recorded = 0;
      for (const { seq, result } of results) {
        const body = JSON.stringify(result);
        if (update.run(result.verdict, body, now, jobId, seq).changes === 0) continue;
        added[result.verdict] += 1;
        recorded += 1;
      }
      if (recorded === 0) return 0;

      this.db
        .prepare(
          `UPDATE jobs SET done = done + @recorded, deliverable = deliverable + @deliverable,
             undeliverable = undeliverable + @undeliverable, risky = risky + @risky,
             unknown = unknown + @unknown
           WHERE id = @jobId`,
        )
        .run({ jobId, recorded, ...added });
      if (row.done + recorded >= row.total) this.endJob(jobId, 'completed', now, null);
      return recorded;
    });
    return record.immediate();
  }

  async readResults(jobId: string, afterSeq: number, limit: number): Promise<RecordedItem[]> {
    const rows = this.db
      .prepare(
        `SELECT seq, email, result FROM job_items
         WHERE job_id = ? AND seq > ? AND result IS NOT NULL ORDER BY seq LIMIT ?`,
      )
      .all(jobId, afterSeq, limit) as { seq: number; email: string; result: string }[];
    return rows.map((row) => ({
      seq: row.seq,
      email: row.email,
      result: JSON.parse(row.result) as VerificationResult,
    }));
  }

  async cancelJob(jobId: string, now: number): Promise<JobSummary | null> {
    const cancel = this.db.transaction((): JobSummary | null => {
      const row = this.readRow(jobId);
      if (!row) return null;
      if (row.status === 'queued' || row.status === 'running') {
        this.endJob(jobId, 'cancelled', now, null);
      }
      return this.requireRow(jobId);
    });
    return cancel.immediate();
  }

  async queueDepth(): Promise<QueueDepth> {
    const row = this.db
      .prepare(
        `SELECT COUNT(*) AS jobs, COALESCE(SUM(total - done), 0) AS items
         FROM jobs WHERE status IN ('queued', 'running')`,
      )
      .get() as QueueDepth;
    return { jobs: row.jobs, items: row.items };
  }

  async claimDueCallback(now: number, leaseMs: number): Promise<DueCallback | null> {
    const claim = this.db.transaction((): DueCallback | null => {
      const row = this.db
        .prepare(
          `SELECT * FROM jobs WHERE callback_state = 'pending' AND callback_next_at <= ?
           ORDER BY callback_next_at, id LIMIT 1`,
        )
        .get(now) as JobRow | undefined;
      if (!row || row.callback_url === null) return null;

      // Pushing the due time past the lease is the lease: a process that
      // dies while posting leaves the callback due again after leaseMs.
      this.db
        .prepare('UPDATE jobs SET callback_next_at = ? WHERE id = ?')
        .run(now + leaseMs, row.id);
      return { job: toJobSummary(row), url: row.callback_url, attempts: row.callback_attempts };
    });
    return claim.immediate();
  }

  async recordCallbackAttempt(jobId: string, attempt: CallbackAttempt, now: number): Promise<void> {
    const state: CallbackState =
      attempt.outcome === 'retry'
        ? 'pending'
        : attempt.outcome === 'delivered'
          ? 'delivered'
          : 'failed';
    this.db
      .prepare(
        `UPDATE jobs SET callback_state = ?, callback_attempts = callback_attempts + 1,
           callback_next_at = ?, callback_last_status = ?, callback_last_error = ?,
           callback_delivered_at = ?
         WHERE id = ? AND callback_state = 'pending'`,
      )
      .run(
        state,
        attempt.outcome === 'retry' ? attempt.nextAttemptAt : null,
        attempt.status,
        attempt.error,
        attempt.outcome === 'delivered' ? now : null,
        jobId,
      );
  }

  /** Moves a job to a final status; its callback, if any, becomes due. */
  private endJob(jobId: string, status: JobStatus, now: number, error: string | null): void {
    this.db
      .prepare(
        `UPDATE jobs SET status = ?, finished_at = ?, error = ?,
           lease_owner = NULL, lease_until = NULL,
           callback_state = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END,
           callback_next_at = CASE WHEN callback_url IS NULL THEN NULL ELSE ? END
         WHERE id = ?`,
      )
      .run(status, now, error, now, jobId);
  }

  private readRow(jobId: string): JobRow | undefined {
    return this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(jobId) as JobRow | undefined;
  }

  private requireRow(jobId: string): JobSummary {
    const row = this.readRow(jobId);
    if (!row) throw new Error(`job ${jobId} vanished inside a transaction`);
    return toJobSummary(row);
  }
}
