import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { createJobRunner } from '../../src/server/job-runner.js';
import type { JobRunner, JobRunnerDeps } from '../../src/server/job-runner.js';
import { createMetrics } from '../../src/server/metrics.js';
import { openSqlite } from '../../src/store/sqlite-database.js';
import { SqliteJobStore } from '../../src/store/sqlite-job-store.js';
import { systemClock } from '../../src/verify/types.js';
import type { Clock } from '../../src/verify/types.js';
import { createScriptedVerifier, scriptedResult } from '../helpers/scripted-verifier.js';

const runners: JobRunner[] = [];
const folders: string[] = [];
afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.stop();
  folders.splice(0).forEach((folder) => rmSync(folder, { recursive: true, force: true }));
});

function memoryStore(): SqliteJobStore {
  return new SqliteJobStore({ db: openSqlite(':memory:') });
}

async function queueJob(jobs: SqliteJobStore, emails: string[], callbackUrl: string | null = null) {
  const opened = await jobs.openJob(
    { apiKeyId: null, idempotencyKey: null, callbackUrl },
    Date.now(),
  );
  if (opened.kind !== 'opened') throw new Error('expected a new job');
  await jobs.appendItems(opened.jobId, emails, Date.now());
  return jobs.sealJob(opened.jobId, 'fp');
}

function startRunner(deps: Partial<JobRunnerDeps> & Pick<JobRunnerDeps, 'jobs' | 'verifier'>) {
  const runner = createJobRunner({
    clock: systemClock,
    leaseSeconds: 30,
    pollMs: 20,
    drainMs: 200,
    ...deps,
  });
  runners.push(runner);
  runner.start();
  return runner;
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const DAY = 86_400_000;

const addresses = (count: number, local = 'ann') =>
  Array.from({ length: count }, (_, index) => `${local}${index}@x.test`);

async function allResults(jobs: SqliteJobStore, jobId: string) {
  return jobs.readResults(jobId, -1, 1_000_000);
}

describe('createJobRunner', () => {
  it('verifies every address once, records each result and completes the job', async () => {
    const jobs = memoryStore();
    const emails = [...addresses(30), 'nobody@x.test', 'info@x.test', 'grey@x.test'];
    const job = await queueJob(jobs, emails);
    const verifier = createScriptedVerifier({ delayMs: (email) => email.length % 5 });
    startRunner({ jobs, verifier });

    await until(async () => (await jobs.getJob(job.id))?.status === 'completed');

    const summary = await jobs.getJob(job.id);
    expect(summary).toMatchObject({ total: 33, done: 33 });
    expect(summary?.counts).toEqual({ deliverable: 30, undeliverable: 1, risky: 1, unknown: 1 });
    expect(verifier.calls.sort()).toEqual([...emails].sort());
    const results = await allResults(jobs, job.id);
    expect(results.map((item) => item.seq)).toEqual(emails.map((_, seq) => seq));
    expect(results.every((item) => item.result.email === item.email)).toBe(true);
  });

  it('keeps no more addresses in flight than allowed', async () => {
    const jobs = memoryStore();
    const job = await queueJob(jobs, addresses(120));
    const verifier = createScriptedVerifier({ delayMs: () => 3 });
    startRunner({ jobs, verifier, maxInFlight: 10 });

    await until(async () => (await jobs.getJob(job.id))?.status === 'completed');
    expect(verifier.maxPending).toBeLessThanOrEqual(10);
    expect(verifier.maxPending).toBeGreaterThan(1);
  });

  it('resumes a job by verifying only the addresses without a result', async () => {
    const jobs = memoryStore();
    const emails = addresses(6);
    const job = await queueJob(jobs, emails);
    await jobs.recordResult(job.id, 0, scriptedResult(emails[0]!), Date.now());
    await jobs.recordResult(job.id, 4, scriptedResult(emails[4]!), Date.now());
    const verifier = createScriptedVerifier();
    startRunner({ jobs, verifier });

    await until(async () => (await jobs.getJob(job.id))?.status === 'completed');
    expect(verifier.calls.sort()).toEqual([emails[1], emails[2], emails[3], emails[5]]);
  });

  it('starts a new job at once when woken, without waiting for the next poll', async () => {
    const jobs = memoryStore();
    const verifier = createScriptedVerifier();
    const runner = startRunner({ jobs, verifier, pollMs: 60_000 });
    await new Promise((resolve) => setTimeout(resolve, 30));

    const job = await queueJob(jobs, ['ann@x.test']);
    runner.wake();
    await until(async () => (await jobs.getJob(job.id))?.status === 'completed', 1_000);
  });

  it('works on several jobs at once, so a small job is not stuck behind a big one', async () => {
    const jobs = memoryStore();
    const big = await queueJob(jobs, addresses(50, 'big'));
    const small = await queueJob(jobs, ['small@x.test']);
    const verifier = createScriptedVerifier({ isHeld: (email) => email.startsWith('big') });
    startRunner({ jobs, verifier, maxInFlight: 20 });

    await until(async () => (await jobs.getJob(small.id))?.status === 'completed');
    expect((await jobs.getJob(big.id))?.status).toBe('running');
    verifier.release();
  });

  it('on stop, records what lands within the drain time and gives the job back', async () => {
    const jobs = memoryStore();
    const emails = addresses(4);
    const job = await queueJob(jobs, emails);
    const verifier = createScriptedVerifier({
      delayMs: (email) => (email === emails[0] ? 50 : 0),
      isHeld: (email) => email === emails[3],
    });
    const runner = startRunner({ jobs, verifier, drainMs: 300 });
    await until(() => verifier.calls.length === 4);

    const stoppedAt = Date.now();
    await runner.stop();
    expect(Date.now() - stoppedAt).toBeLessThan(2_000);

    const summary = await jobs.getJob(job.id);
    expect(summary).toMatchObject({ status: 'queued', done: 3 });
    expect(await jobs.listPendingItems(job.id, -1, 10)).toEqual([{ seq: 3, email: emails[3] }]);
  });

  it('lets a new runner finish a released job without verifying anything twice', async () => {
    const jobs = memoryStore();
    const emails = addresses(5);
    const job = await queueJob(jobs, emails);
    const first = createScriptedVerifier({ isHeld: (email) => email === emails[2] });
    const runner = startRunner({ jobs, verifier: first, drainMs: 50 });
    await until(() => first.calls.length === 5);
    await runner.stop();

    const second = createScriptedVerifier();
    startRunner({ jobs, verifier: second });
    await until(async () => (await jobs.getJob(job.id))?.status === 'completed');
    expect(second.calls).toEqual([emails[2]]);
    expect(await allResults(jobs, job.id)).toHaveLength(5);
  });

  it('stops working on a job cancelled while it runs', async () => {
    const jobs = memoryStore();
    const job = await queueJob(jobs, addresses(40));
    const verifier = createScriptedVerifier({ delayMs: () => 20 });
    startRunner({ jobs, verifier, leaseSeconds: 0.15, maxInFlight: 2 });
    await until(() => verifier.calls.length >= 2);

    await jobs.cancelJob(job.id, Date.now());
    const calledAtCancel = verifier.calls.length;
    await new Promise((resolve) => setTimeout(resolve, 400));

    expect(verifier.calls.length).toBeLessThan(calledAtCancel + 20);
    const summary = await jobs.getJob(job.id);
    expect(summary?.status).toBe('cancelled');
    expect(summary!.done).toBeLessThan(40);
  });

  it('renews its lease, so no other worker takes a job that runs longer than the lease', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'mailverify-runner-')), 'jobs.db');
    folders.push(join(path, '..'));
    const jobs = new SqliteJobStore({ db: openSqlite(path) });
    const job = await queueJob(jobs, ['ann@x.test']);
    const verifier = createScriptedVerifier({ delayMs: () => 600 });
    startRunner({ jobs, verifier, leaseSeconds: 0.2 });
    await until(() => verifier.calls.length === 1);

    const other = new SqliteJobStore({ db: openSqlite(path) });
    for (let look = 0; look < 4; look += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await other.claimJob('intruder', Date.now(), 200)).toBeNull();
    }
    await until(async () => (await jobs.getJob(job.id))?.status === 'completed');
  });

  it('records each result once when a second worker resumes a job the first still runs', async () => {
    const jobs = memoryStore();
    const emails = addresses(40);
    const job = await queueJob(jobs, emails);
    const slow = createScriptedVerifier({ delayMs: (email) => (email.length % 3) * 15 });
    const fast = createScriptedVerifier({ delayMs: (email) => (email.length % 2) * 10 });
    // The second worker's clock is an hour ahead: it sees the first one's lease as expired.
    const ahead: Clock = { now: () => Date.now() + 3_600_000, sleep: systemClock.sleep };
    startRunner({ jobs, verifier: slow, workerId: 'first' });
    await until(() => slow.calls.length > 0);
    startRunner({ jobs, verifier: fast, workerId: 'second', clock: ahead });

    await until(async () => (await jobs.getJob(job.id))?.status === 'completed');
    const results = await allResults(jobs, job.id);
    expect(results.map((item) => item.seq)).toEqual(emails.map((_, seq) => seq));
    expect((await jobs.getJob(job.id))?.done).toBe(40);
  });

  it('fails a job whose addresses the engine keeps failing on', async () => {
    const jobs = memoryStore();
    const job = await queueJob(jobs, ['ann@x.test', 'broken@x.test']);
    const verifier = createScriptedVerifier({
      failure: (email) => (email.startsWith('broken') ? new Error('resolver exploded') : null),
    });
    startRunner({ jobs, verifier });

    await until(async () => (await jobs.getJob(job.id))?.status === 'failed');
    expect(await jobs.getJob(job.id)).toMatchObject({
      done: 1,
      error: 'verification kept failing: resolver exploded',
    });
    expect(verifier.calls.filter((email) => email === 'broken@x.test')).toHaveLength(3);
  });

  it('delivers due callbacks and clears abandoned uploads between jobs', async () => {
    const jobs = memoryStore();
    await jobs.openJob({ apiKeyId: null, idempotencyKey: null, callbackUrl: null }, 0);
    let deliveries = 0;
    const callbacks = {
      deliverDue: async () => {
        deliveries += 1;
        return 0;
      },
    };
    startRunner({ jobs, verifier: createScriptedVerifier(), callbacks });

    await until(() => deliveries >= 2);
    expect(await jobs.queueDepth()).toEqual({ jobs: 0, items: 0 });
    expect(await jobs.discardAbandonedUploads(Date.now())).toBe(0);
  });

  it('deletes ended jobs past their retention between jobs, and keeps the rest', async () => {
    const jobs = memoryStore();
    const oldJob = await queueJob(jobs, ['a@x.test']);
    await jobs.recordResult(oldJob.id, 0, scriptedResult('a@x.test'), Date.now() - 3 * DAY);
    const newJob = await queueJob(jobs, ['b@x.test']);
    await jobs.recordResult(newJob.id, 0, scriptedResult('b@x.test'), Date.now() - DAY);

    startRunner({ jobs, verifier: createScriptedVerifier(), retentionMs: 2 * DAY });

    await until(async () => (await jobs.getJob(oldJob.id)) === null);
    expect((await jobs.getJob(newJob.id))?.status).toBe('completed');
  });

  it('keeps every job when no retention is set', async () => {
    const jobs = memoryStore();
    const oldJob = await queueJob(jobs, ['a@x.test']);
    await jobs.recordResult(oldJob.id, 0, scriptedResult('a@x.test'), 0);
    let housekeeping = 0;
    const callbacks = {
      deliverDue: async () => {
        housekeeping += 1;
        return 0;
      },
    };

    startRunner({ jobs, verifier: createScriptedVerifier(), callbacks, retentionMs: 0 });

    await until(() => housekeeping >= 3);
    expect((await jobs.getJob(oldJob.id))?.status).toBe('completed');
  });

  it('observes how long each job took, by outcome', async () => {
    const jobs = memoryStore();
    const job = await queueJob(jobs, addresses(3));
    const metrics = createMetrics({ withProcessMetrics: false });
    startRunner({ jobs, verifier: createScriptedVerifier(), metrics });

    await until(async () => (await jobs.getJob(job.id))?.status === 'completed');
    await until(async () => {
      const text = await metrics.registry.metrics();
      return text.includes(
        'mailverify_job_duration_seconds_count{kind="verify",outcome="completed"} 1',
      );
    });
  });
});
