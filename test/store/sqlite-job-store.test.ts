import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { openSqlite } from '../../src/store/sqlite-database.js';
import { SqliteJobStore } from '../../src/store/sqlite-job-store.js';
import type { NewJob } from '../../src/store/job-store.js';
import { scriptedResult } from '../helpers/scripted-verifier.js';

const LEASE = 60_000;
const plain: NewJob = { apiKeyId: null, idempotencyKey: null, callbackUrl: null };

const folders: string[] = [];
afterEach(() => folders.splice(0).forEach((folder) => rmSync(folder, { recursive: true })));

function openStore(): SqliteJobStore {
  let counter = 0;
  return new SqliteJobStore({ db: openSqlite(':memory:'), newId: () => `job_${++counter}` });
}

async function queuedJob(store: SqliteJobStore, emails: string[], spec = plain, now = 0) {
  const opened = await store.openJob(spec, now);
  if (opened.kind !== 'opened') throw new Error('expected a new job');
  await store.appendItems(opened.jobId, emails, now);
  return store.sealJob(opened.jobId, 'fp');
}

describe('SqliteJobStore uploads', () => {
  it('numbers items across batches and queues the job when sealed', async () => {
    const store = openStore();
    const opened = await store.openJob(plain, 5);
    if (opened.kind !== 'opened') throw new Error('expected a new job');

    await store.appendItems(opened.jobId, ['a@x.test', 'b@x.test'], 5);
    await store.appendItems(opened.jobId, ['c@x.test'], 6);
    expect((await store.getJob(opened.jobId))?.status).toBe('receiving');

    const job = await store.sealJob(opened.jobId, 'fp');
    expect(job).toMatchObject({ status: 'queued', total: 3, done: 0 });
    expect(await store.listPendingItems(job.id, -1, 10)).toEqual([
      { seq: 0, email: 'a@x.test' },
      { seq: 1, email: 'b@x.test' },
      { seq: 2, email: 'c@x.test' },
    ]);
  });

  it('never hands a job that is still receiving to a worker', async () => {
    const store = openStore();
    const opened = await store.openJob(plain, 0);
    if (opened.kind !== 'opened') throw new Error('expected a new job');
    await store.appendItems(opened.jobId, ['a@x.test'], 0);

    expect(await store.claimJob('w1', 1, LEASE)).toBeNull();
  });

  it('returns the existing job for an idempotency key the same owner used', async () => {
    const store = openStore();
    const spec = { apiKeyId: 'key_1', idempotencyKey: 'k-1', callbackUrl: null };
    const first = await queuedJob(store, ['a@x.test'], spec);

    const again = await store.openJob(spec, 10);
    expect(again).toMatchObject({ kind: 'existing', fingerprint: 'fp', job: { id: first.id } });

    const otherOwner = await store.openJob({ ...spec, apiKeyId: 'key_2' }, 10);
    expect(otherOwner.kind).toBe('opened');
    const noOwner = await store.openJob({ ...spec, apiKeyId: null }, 10);
    expect(noOwner.kind).toBe('opened');
  });

  it('reports no fingerprint for a job with the key that is still receiving', async () => {
    const store = openStore();
    const spec = { apiKeyId: null, idempotencyKey: 'k-1', callbackUrl: null };
    await store.openJob(spec, 0);
    expect(await store.openJob(spec, 1)).toMatchObject({ kind: 'existing', fingerprint: null });
  });

  it('discards refused uploads and uploads abandoned for ten minutes', async () => {
    const store = openStore();
    const refused = await store.openJob(plain, 0);
    const abandoned = await store.openJob(plain, 0);
    const live = await store.openJob(plain, 0);
    if (refused.kind !== 'opened' || abandoned.kind !== 'opened' || live.kind !== 'opened') {
      throw new Error('expected new jobs');
    }
    await store.appendItems(live.jobId, ['a@x.test'], 9 * 60_000);

    await store.discardJob(refused.jobId);
    expect(await store.getJob(refused.jobId)).toBeNull();

    expect(await store.discardAbandonedUploads(10 * 60_000)).toBe(1);
    expect(await store.getJob(abandoned.jobId)).toBeNull();
    expect(await store.getJob(live.jobId)).not.toBeNull();
  });
});

describe('SqliteJobStore leases', () => {
  it('leases the oldest queued job to one worker at a time', async () => {
    const store = openStore();
    const older = await queuedJob(store, ['a@x.test'], plain, 1);
    await queuedJob(store, ['b@x.test'], plain, 2);

    const claimed = await store.claimJob('w1', 10, LEASE);
    expect(claimed).toMatchObject({ id: older.id, status: 'running' });
    expect(claimed?.startedAt).toBe(new Date(10).toISOString());

    const next = await store.claimJob('w2', 11, LEASE);
    expect(next?.id).not.toBe(older.id);
    expect(await store.claimJob('w3', 12, LEASE)).toBeNull();
  });

  it('lets another worker resume a job whose lease expired', async () => {
    const store = openStore();
    const job = await queuedJob(store, ['a@x.test']);
    await store.claimJob('w1', 0, LEASE);

    expect(await store.claimJob('w2', LEASE - 1, LEASE)).toBeNull();
    expect((await store.claimJob('w2', LEASE, LEASE))?.id).toBe(job.id);
    expect(await store.renewLease(job.id, 'w1', LEASE + 1, LEASE)).toBe(false);
    expect(await store.renewLease(job.id, 'w2', LEASE + 1, LEASE)).toBe(true);
  });

  it('renews a lease so that nobody else takes the job', async () => {
    const store = openStore();
    const job = await queuedJob(store, ['a@x.test']);
    await store.claimJob('w1', 0, LEASE);

    expect(await store.renewLease(job.id, 'w1', LEASE - 10, LEASE)).toBe(true);
    expect(await store.claimJob('w2', LEASE + 10, LEASE)).toBeNull();
  });

  it('puts a released job back in the queue', async () => {
    const store = openStore();
    const job = await queuedJob(store, ['a@x.test']);
    await store.claimJob('w1', 0, LEASE);
    await store.releaseJob(job.id, 'w2');
    expect((await store.getJob(job.id))?.status).toBe('running');

    await store.releaseJob(job.id, 'w1');
    expect((await store.getJob(job.id))?.status).toBe('queued');
    expect((await store.claimJob('w2', 1, LEASE))?.id).toBe(job.id);
  });

  it('fails a job whose lease expired ten times instead of resuming it again', async () => {
    const store = openStore();
    const job = await queuedJob(store, ['a@x.test']);

    let now = 0;
    for (let crash = 0; crash < 10; crash += 1) {
      expect((await store.claimJob(`w${crash}`, now, LEASE))?.id).toBe(job.id);
      now += LEASE;
    }
    expect(await store.claimJob('last', now, LEASE)).toBeNull();
    expect(await store.getJob(job.id)).toMatchObject({
      status: 'failed',
      error: 'its lease expired 10 times',
    });
  });

  it('fails a job only for the worker that holds it', async () => {
    const store = openStore();
    const job = await queuedJob(store, ['a@x.test']);
    await store.claimJob('w1', 0, LEASE);

    await store.failJob(job.id, 'w2', 'broken', 1);
    expect((await store.getJob(job.id))?.status).toBe('running');
    await store.failJob(job.id, 'w1', 'broken', 1);
    expect(await store.getJob(job.id)).toMatchObject({ status: 'failed', error: 'broken' });
  });
});

describe('SqliteJobStore results', () => {
  it('records a result once: a second call for the same item is a no-op', async () => {
    const store = openStore();
    const job = await queuedJob(store, ['a@x.test', 'nobody@x.test']);

    expect(await store.recordResult(job.id, 0, scriptedResult('a@x.test'), 1)).toBe(true);
    expect(await store.recordResult(job.id, 0, scriptedResult('nobody@x.test'), 2)).toBe(false);

    const summary = await store.getJob(job.id);
    expect(summary).toMatchObject({ status: 'queued', done: 1 });
    expect(summary?.counts).toEqual({ deliverable: 1, undeliverable: 0, risky: 0, unknown: 0 });
    const [recorded] = await store.readResults(job.id, -1, 10);
    expect(recorded?.result.verdict).toBe('deliverable');
  });

  it('counts verdicts and completes the job with its last result', async () => {
    const store = openStore();
    const emails = ['a@x.test', 'nobody@x.test', 'info@x.test', 'grey@x.test'];
    const job = await queuedJob(store, emails);
    await store.claimJob('w1', 0, LEASE);

    const results = emails.map((email, seq) => ({ seq, result: scriptedResult(email) }));
    expect(await store.recordResults(job.id, results.slice(0, 3), 5)).toBe(3);
    expect((await store.getJob(job.id))?.status).toBe('running');
    expect(await store.recordResults(job.id, results, 6)).toBe(1);

    const summary = await store.getJob(job.id);
    expect(summary).toMatchObject({
      status: 'completed',
      done: 4,
      finishedAt: new Date(6).toISOString(),
    });
    expect(summary?.counts).toEqual({ deliverable: 1, undeliverable: 1, risky: 1, unknown: 1 });
    expect(await store.claimJob('w2', LEASE * 2, LEASE)).toBeNull();
  });

  it('lists only items without a result as pending, and only recorded ones as results', async () => {
    const store = openStore();
    const job = await queuedJob(store, ['a@x.test', 'b@x.test', 'c@x.test', 'd@x.test']);
    await store.recordResult(job.id, 1, scriptedResult('b@x.test'), 1);
    await store.recordResult(job.id, 3, scriptedResult('d@x.test'), 1);

    expect((await store.listPendingItems(job.id, -1, 10)).map((item) => item.seq)).toEqual([0, 2]);
    expect((await store.listPendingItems(job.id, 0, 10)).map((item) => item.seq)).toEqual([2]);
    expect((await store.readResults(job.id, -1, 1)).map((item) => item.seq)).toEqual([1]);
    expect((await store.readResults(job.id, 1, 10)).map((item) => item.email)).toEqual([
      'd@x.test',
    ]);
  });

  it('records nothing into a cancelled job', async () => {
    const store = openStore();
    const job = await queuedJob(store, ['a@x.test', 'b@x.test']);
    await store.claimJob('w1', 0, LEASE);

    const cancelled = await store.cancelJob(job.id, 3);
    expect(cancelled).toMatchObject({ status: 'cancelled', finishedAt: new Date(3).toISOString() });
    expect(await store.recordResult(job.id, 0, scriptedResult('a@x.test'), 4)).toBe(false);
    expect(await store.renewLease(job.id, 'w1', 4, LEASE)).toBe(false);
    expect(await store.cancelJob('job_missing', 4)).toBeNull();
  });

  it('leaves a finished job as it is when asked to cancel it', async () => {
    const store = openStore();
    const job = await queuedJob(store, ['a@x.test']);
    await store.recordResult(job.id, 0, scriptedResult('a@x.test'), 1);
    expect((await store.cancelJob(job.id, 2))?.status).toBe('completed');
  });

  it('measures the queue in jobs and addresses still to verify', async () => {
    const store = openStore();
    const first = await queuedJob(store, ['a@x.test', 'b@x.test']);
    const second = await queuedJob(store, ['c@x.test']);
    await store.recordResult(first.id, 0, scriptedResult('a@x.test'), 1);
    await store.recordResult(second.id, 0, scriptedResult('c@x.test'), 1);

    expect(await store.queueDepth()).toEqual({ jobs: 1, items: 1 });
  });

  it('keeps jobs, leases and results across reopening the file', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'mailverify-jobs-'));
    folders.push(folder);
    const path = join(folder, 'store.db');

    const first = new SqliteJobStore({ db: openSqlite(path) });
    const job = await queuedJob(first, ['a@x.test', 'b@x.test']);
    await first.claimJob('w1', 0, LEASE);
    await first.recordResult(job.id, 0, scriptedResult('a@x.test'), 1);

    const second = new SqliteJobStore({ db: openSqlite(path) });
    expect(await second.claimJob('w2', 1, LEASE)).toBeNull();
    expect((await second.claimJob('w2', LEASE, LEASE))?.done).toBe(1);
    expect(await second.listPendingItems(job.id, -1, 10)).toEqual([{ seq: 1, email: 'b@x.test' }]);
  });
});

describe('SqliteJobStore callbacks', () => {
  const withCallback = { ...plain, callbackUrl: 'https://hooks.example.com/done' };

  it('makes the callback due when the job ends, not before', async () => {
    const store = openStore();
    const job = await queuedJob(store, ['a@x.test'], withCallback);
    expect(job.callback).toMatchObject({ state: 'waiting', attempts: 0 });
    expect(await store.claimDueCallback(100, LEASE)).toBeNull();

    await store.recordResult(job.id, 0, scriptedResult('a@x.test'), 100);
    const due = await store.claimDueCallback(100, LEASE);
    expect(due).toMatchObject({ url: withCallback.callbackUrl, attempts: 0 });
    expect(due?.job.status).toBe('completed');
  });

  it('has no callback state for a job without a callback URL', async () => {
    const store = openStore();
    const job = await queuedJob(store, ['a@x.test']);
    await store.recordResult(job.id, 0, scriptedResult('a@x.test'), 1);
    expect((await store.getJob(job.id))?.callback).toBeNull();
    expect(await store.claimDueCallback(1, LEASE)).toBeNull();
  });

  it('leases a due callback, so a second claim gets nothing until the lease ends', async () => {
    const store = openStore();
    const job = await queuedJob(store, ['a@x.test'], withCallback);
    await store.cancelJob(job.id, 0);

    expect(await store.claimDueCallback(0, 1_000)).not.toBeNull();
    expect(await store.claimDueCallback(999, 1_000)).toBeNull();
    expect((await store.claimDueCallback(1_000, 1_000))?.job.status).toBe('cancelled');
  });

  it('schedules a retry, then records the delivery', async () => {
    const store = openStore();
    const job = await queuedJob(store, ['a@x.test'], withCallback);
    await store.cancelJob(job.id, 0);
    await store.claimDueCallback(0, 1_000);

    const retry = { outcome: 'retry', status: 503, error: null, nextAttemptAt: 30_000 } as const;
    await store.recordCallbackAttempt(job.id, retry, 1);
    expect((await store.getJob(job.id))?.callback).toMatchObject({
      state: 'pending',
      attempts: 1,
      lastStatus: 503,
      nextAttemptAt: new Date(30_000).toISOString(),
    });
    expect(await store.claimDueCallback(29_999, 1_000)).toBeNull();

    const due = await store.claimDueCallback(30_000, 1_000);
    expect(due?.attempts).toBe(1);
    const delivered = {
      outcome: 'delivered',
      status: 204,
      error: null,
      nextAttemptAt: null,
    } as const;
    await store.recordCallbackAttempt(job.id, delivered, 30_005);
    expect((await store.getJob(job.id))?.callback).toMatchObject({
      state: 'delivered',
      attempts: 2,
      deliveredAt: new Date(30_005).toISOString(),
      nextAttemptAt: null,
    });
  });

  it('stops after a final failure', async () => {
    const store = openStore();
    const job = await queuedJob(store, ['a@x.test'], withCallback);
    await store.cancelJob(job.id, 0);
    await store.claimDueCallback(0, 1_000);

    const failed = {
      outcome: 'failed',
      status: null,
      error: 'ECONNREFUSED',
      nextAttemptAt: null,
    } as const;
    await store.recordCallbackAttempt(job.id, failed, 1);
    expect((await store.getJob(job.id))?.callback).toMatchObject({
      state: 'failed',
      lastError: 'ECONNREFUSED',
    });
    expect(await store.claimDueCallback(10_000_000, 1_000)).toBeNull();
  });
});

describe('SqliteJobStore retention', () => {
  const withCallback = { ...plain, callbackUrl: 'https://hooks.example.com/done' };

  async function endedJob(store: SqliteJobStore, emails: string[], endedAt: number) {
    const job = await queuedJob(store, emails);
    const results = emails.map((email, seq) => ({ seq, result: scriptedResult(email) }));
    await store.recordResults(job.id, results, endedAt);
    return job.id;
  }

  it('deletes ended jobs older than the cutoff with their results, and nothing else', async () => {
    const store = openStore();
    const old = await endedJob(store, ['a@x.test', 'nobody@x.test'], 1_000);
    const oldCancelled = (await queuedJob(store, ['b@x.test'])).id;
    await store.cancelJob(oldCancelled, 2_000);
    const recent = await endedJob(store, ['c@x.test'], 9_000);
    // The oldest queued job is claimed, the other stays queued.
    const running = (await queuedJob(store, ['d@x.test'], plain, 0)).id;
    const queued = (await queuedJob(store, ['e@x.test'], plain, 0)).id;
    expect((await store.claimJob('w1', 0, LEASE))?.id).toBe(running);

    expect(await store.deleteEndedJobs(5_000, 10)).toBe(2);

    expect(await store.getJob(old)).toBeNull();
    expect(await store.readResults(old, -1, 10)).toEqual([]);
    expect(await store.getJob(oldCancelled)).toBeNull();
    expect((await store.getJob(recent))?.status).toBe('completed');
    expect(await store.readResults(recent, -1, 10)).toHaveLength(1);
    expect((await store.getJob(running))?.status).toBe('running');
    expect((await store.getJob(queued))?.status).toBe('queued');
    expect(await store.deleteEndedJobs(5_000, 10)).toBe(0);
  });

  it('deletes the oldest first, no more than the limit at a time', async () => {
    const store = openStore();
    const ids = [];
    for (const endedAt of [300, 100, 200]) ids.push(await endedJob(store, ['a@x.test'], endedAt));

    expect(await store.deleteEndedJobs(1_000, 2)).toBe(2);
    expect(await store.getJob(ids[0]!)).not.toBeNull();
    expect(await store.deleteEndedJobs(1_000, 2)).toBe(1);
    expect(await store.getJob(ids[0]!)).toBeNull();
  });

  it('keeps a job whose callback is still due, and deletes it once delivered', async () => {
    const store = openStore();
    const job = await queuedJob(store, ['a@x.test'], withCallback);
    await store.cancelJob(job.id, 0);

    expect(await store.deleteEndedJobs(1_000, 10)).toBe(0);
    await store.claimDueCallback(0, 1_000);
    const delivered = {
      outcome: 'delivered',
      status: 204,
      error: null,
      nextAttemptAt: null,
    } as const;
    await store.recordCallbackAttempt(job.id, delivered, 5);

    expect(await store.deleteEndedJobs(1_000, 10)).toBe(1);
    expect(await store.getJob(job.id)).toBeNull();
  });
});
