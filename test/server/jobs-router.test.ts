import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';

import { issueApiKey } from '../../src/server/api-keys.js';
import { createJobRunner } from '../../src/server/job-runner.js';
import type { JobRunner } from '../../src/server/job-runner.js';
import { createJobFromEmails, createJobsRouter } from '../../src/server/jobs-router.js';
import type { JobsRouterDeps } from '../../src/server/jobs-router.js';
import { BATCH_SIZE } from '../../src/server/receive-job.js';
import { errorBodySchema } from '../../src/server/verify-schemas.js';
import { openSqlite } from '../../src/store/sqlite-database.js';
import { SqliteJobStore } from '../../src/store/sqlite-job-store.js';
import { systemClock } from '../../src/verify/types.js';
import { createScriptedVerifier, scriptedResult } from '../helpers/scripted-verifier.js';
import { buildTestApp } from './app-harness.js';

const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });
const SECRET = 'whsec_router_tests';

const runners: JobRunner[] = [];
afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.stop();
});

function expectError(body: unknown, code: string) {
  const parsed = errorBodySchema.parse(body);
  expect(parsed.error.code).toBe(code);
  return parsed.error;
}

interface Setup {
  config?: Partial<JobsRouterDeps['config']>;
  apiDailyQuota?: number;
  lookupHost?: JobsRouterDeps['lookupHost'];
}

/** The real app (auth, quota, JSON parser, errors) with the real jobs router. */
async function setUp(setup: Setup = {}) {
  const jobs = new SqliteJobStore({ db: openSqlite(':memory:') });
  const batches: number[] = [];
  const append = jobs.appendItems.bind(jobs);
  jobs.appendItems = async (jobId, emails, now) => {
    batches.push(emails.length);
    return append(jobId, emails, now);
  };
  let wakes = 0;
  const runner = { wake: () => void (wakes += 1) };
  const config = {
    maxBodyBytes: 64 * 1024 * 1024,
    callbackSecret: SECRET,
    allowPrivateMx: false,
    ...setup.config,
  };
  const jobsRouter = createJobsRouter({
    jobs,
    runner,
    config,
    clock: systemClock,
    lookupHost: setup.lookupHost ?? (async () => [{ address: '93.184.215.14', family: 4 }]),
  });
  const harness = await buildTestApp({
    jobsRouter,
    config: { maxBodyBytes: config.maxBodyBytes, apiDailyQuota: setup.apiDailyQuota ?? 0 },
  });
  return { ...harness, jobs, batches, wakes: () => wakes };
}

/** Abandoned or half-written uploads left in the store. */
async function leftoverUploads(jobs: SqliteJobStore): Promise<number> {
  return jobs.discardAbandonedUploads(Number.MAX_SAFE_INTEGER);
}

describe('POST /v1/jobs', () => {
  it('takes a JSON list, answers 202 at once with the job and where to poll, and wakes the runner', async () => {
    const { app, key, jobs, wakes } = await setUp();

    const response = await request(app)
      .post('/v1/jobs')
      .set(bearer(key))
      .send({ emails: ['ann@x.test', ' bob@x.test '] })
      .expect(202);

    const { job } = response.body as { job: { id: string } };
    expect(response.body).toMatchObject({
      job: { status: 'queued', total: 2, done: 0, callback: null },
      poll: `/v1/jobs/${job.id}`,
      results: `/v1/jobs/${job.id}/results`,
    });
    expect(response.body.job).not.toHaveProperty('apiKeyId');
    expect(response.headers.location).toBe(`/v1/jobs/${job.id}`);
    expect(await jobs.listPendingItems(job.id, -1, 10)).toEqual([
      { seq: 0, email: 'ann@x.test' },
      { seq: 1, email: 'bob@x.test' },
    ]);
    expect(wakes()).toBe(1);
  });

  it('lists every bad field of a JSON body', async () => {
    const { app, key } = await setUp();
    const response = await request(app)
      .post('/v1/jobs')
      .set(bearer(key))
      .send({ emails: ['ann@x.test', 42, ''], callbackUrl: 7, priority: 'high' })
      .expect(422);

    const error = expectError(response.body, 'validation_failed');
    const paths = (error.details as { path: string }[]).map((problem) => problem.path).sort();
    expect(paths).toEqual(['', 'callbackUrl', 'emails.1', 'emails.2']);
  });

  it('refuses an empty list', async () => {
    const { app, key } = await setUp();
    const response = await request(app).post('/v1/jobs').set(bearer(key)).send({ emails: [] });
    expect(response.status).toBe(422);
    expectError(response.body, 'validation_failed');
  });

  it('refuses more than a million addresses with 413', async () => {
    const { app, key, jobs } = await setUp();
    const emails = Array.from({ length: 1_000_001 }, () => 'a@b.c');

    const response = await request(app).post('/v1/jobs').set(bearer(key)).send({ emails });
    expect(response.status).toBe(413);
    expect(expectError(response.body, 'payload_too_large').details).toMatchObject({
      limit: 1_000_000,
    });
    expect(await jobs.queueDepth()).toEqual({ jobs: 0, items: 0 });
  });

  it('streams plain lines into the store in batches, skipping blank lines', async () => {
    const { app, key, jobs, batches } = await setUp();
    const count = 2 * BATCH_SIZE + 17;
    const lines = Array.from({ length: count }, (_, index) => `user${index}@x.test`);
    const body = `\r\n${lines.join('\r\n')}\n\n`;

    const response = await request(app)
      .post('/v1/jobs')
      .set(bearer(key))
      .set('Content-Type', 'text/plain')
      .send(body)
      .expect(202);

    expect(response.body.job.total).toBe(count);
    expect(batches).toEqual([BATCH_SIZE, BATCH_SIZE, 17]);
    const last = await jobs.listPendingItems(response.body.job.id, count - 2, 10);
    expect(last).toEqual([{ seq: count - 1, email: `user${count - 1}@x.test` }]);
  });

  it('reads the email column of a CSV upload, by header or by name', async () => {
    const { app, key, jobs } = await setUp();
    const csv = 'Name,E-mail,Work\r\nAnn,ann@x.test,ann@work.test\r\n"Doe, Bob",bob@x.test,\r\n';

    const byHeader = await request(app)
      .post('/v1/jobs')
      .set(bearer(key))
      .set('Content-Type', 'text/csv')
      .send(csv)
      .expect(202);
    const items = await jobs.listPendingItems(byHeader.body.job.id, -1, 10);
    expect(items.map((item) => item.email)).toEqual(['ann@x.test', 'bob@x.test']);

    const byName = await request(app)
      .post('/v1/jobs?column=Work')
      .set(bearer(key))
      .set('Content-Type', 'text/csv')
      .send(csv)
      .expect(202);
    expect(byName.body.job.total).toBe(1);
  });

  it('refuses a CSV without an email column, and leaves no job behind', async () => {
    const { app, key, jobs } = await setUp();
    const response = await request(app)
      .post('/v1/jobs')
      .set(bearer(key))
      .set('Content-Type', 'text/csv')
      .send('name,city\nAnn,Paris\n');

    expect(response.status).toBe(422);
    expect(expectError(response.body, 'validation_failed').message).toMatch(/no email column/);
    expect(await leftoverUploads(jobs)).toBe(0);
  });

  it('refuses a streamed body over the size limit with 413, and leaves no job behind', async () => {
    const { app, key, jobs } = await setUp({ config: { maxBodyBytes: 4_096 } });
    const body = Array.from({ length: 500 }, (_, index) => `user${index}@x.test`).join('\n');

    const response = await request(app)
      .post('/v1/jobs')
      .set(bearer(key))
      .set('Content-Type', 'text/plain')
      .send(body);
    expect(response.status).toBe(413);
    expectError(response.body, 'payload_too_large');
    expect(await leftoverUploads(jobs)).toBe(0);
  });

  it('refuses a line far too long to be an address', async () => {
    const { app, key } = await setUp();
    const response = await request(app)
      .post('/v1/jobs')
      .set(bearer(key))
      .set('Content-Type', 'text/plain')
      .send(`ann@x.test\n${'x'.repeat(2_000)}@x.test\n`);
    expect(response.status).toBe(422);
    expect(expectError(response.body, 'validation_failed').message).toBe(
      'line 2 is longer than 1024 characters',
    );
  });

  it('answers 415 for a content type it does not read', async () => {
    const { app, key } = await setUp();
    const response = await request(app)
      .post('/v1/jobs')
      .set(bearer(key))
      .set('Content-Type', 'application/xml')
      .send('<emails/>');
    expect(response.status).toBe(415);
    expectError(response.body, 'unsupported_media_type');
  });

  it('returns the same job for a repeated request with the same Idempotency-Key', async () => {
    const { app, key, jobs } = await setUp();
    const send = () =>
      request(app)
        .post('/v1/jobs')
        .set(bearer(key))
        .set('Idempotency-Key', 'order-42')
        .send({ emails: ['ann@x.test'] })
        .expect(202);

    const first = await send();
    const second = await send();
    expect(second.body.job.id).toBe(first.body.job.id);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(await jobs.queueDepth()).toEqual({ jobs: 1, items: 1 });
  });

  it('refuses an Idempotency-Key reused for a different request with 409', async () => {
    const { app, key } = await setUp();
    const post = (emails: string[]) =>
      request(app).post('/v1/jobs').set(bearer(key)).set('Idempotency-Key', 'k').send({ emails });

    await post(['ann@x.test']).expect(202);
    const response = await post(['bob@x.test']);
    expect(response.status).toBe(409);
    expect(expectError(response.body, 'conflict').message).toBe(
      'this Idempotency-Key was used for a different request',
    );
  });

  it('scopes Idempotency-Keys to the API key', async () => {
    const { app, key, keys, clock } = await setUp();
    const other = await issueApiKey(keys, 'other', clock.now());
    const post = (apiKey: string) =>
      request(app)
        .post('/v1/jobs')
        .set(bearer(apiKey))
        .set('Idempotency-Key', 'same')
        .send({ emails: ['ann@x.test'] })
        .expect(202);

    const mine = await post(key);
    const theirs = await post(other.key);
    expect(theirs.body.job.id).not.toBe(mine.body.job.id);
  });

  it('refuses a malformed Idempotency-Key', async () => {
    const { app, key } = await setUp();
    const response = await request(app)
      .post('/v1/jobs')
      .set(bearer(key))
      .set('Idempotency-Key', 'x'.repeat(300))
      .send({ emails: ['ann@x.test'] });
    expect(response.status).toBe(422);
    expect(expectError(response.body, 'validation_failed').details).toEqual([
      { path: 'Idempotency-Key', message: '1 to 255 printable characters' },
    ]);
  });

  it('charges the daily quota and stores nothing when it is used up', async () => {
    const { app, key, jobs } = await setUp({ apiDailyQuota: 3 });
    const json = await request(app)
      .post('/v1/jobs')
      .set(bearer(key))
      .send({ emails: ['a@x.test', 'b@x.test', 'c@x.test', 'd@x.test'] });
    expect(json.status).toBe(429);
    expectError(json.body, 'quota_exceeded');
    expect(json.headers['retry-after']).toBeDefined();

    const lines = await request(app)
      .post('/v1/jobs')
      .set(bearer(key))
      .set('Content-Type', 'text/plain')
      .send('a@x.test\nb@x.test\nc@x.test\nd@x.test\n');
    expect(lines.status).toBe(429);
    expect(await jobs.queueDepth()).toEqual({ jobs: 0, items: 0 });
    expect(await leftoverUploads(jobs)).toBe(0);

    await request(app)
      .post('/v1/jobs')
      .set(bearer(key))
      .send({ emails: ['a@x.test', 'b@x.test', 'c@x.test'] })
      .expect(202);
  });

  it('keeps a callback URL that passes the guard', async () => {
    const { app, key } = await setUp();
    const response = await request(app)
      .post('/v1/jobs?callbackUrl=https%3A%2F%2Fhooks.example.com%2Fdone')
      .set(bearer(key))
      .set('Content-Type', 'text/plain')
      .send('ann@x.test\n')
      .expect(202);
    expect(response.body.job.callback).toMatchObject({
      url: 'https://hooks.example.com/done',
      state: 'waiting',
      attempts: 0,
    });
  });

  it('refuses a callback URL aimed at loopback or metadata addresses', async () => {
    const { app, key } = await setUp({
      lookupHost: async () => [{ address: '127.0.0.1', family: 4 }],
    });
    for (const callbackUrl of ['http://localhost:8080/hook', 'http://169.254.169.254/latest']) {
      const response = await request(app)
        .post('/v1/jobs')
        .set(bearer(key))
        .send({ emails: ['ann@x.test'], callbackUrl });
      expect(response.status).toBe(422);
      expect(expectError(response.body, 'validation_failed').details).toEqual([
        { path: 'callbackUrl', message: expect.stringMatching(/private, loopback or reserved/) },
      ]);
    }
  });

  it('refuses callbacks while no callback secret is configured', async () => {
    const { app, key } = await setUp({ config: { callbackSecret: '' } });
    const response = await request(app)
      .post('/v1/jobs')
      .set(bearer(key))
      .send({ emails: ['ann@x.test'], callbackUrl: 'https://hooks.example.com/done' });
    expect(response.status).toBe(422);
    expect(expectError(response.body, 'validation_failed').message).toMatch(
      /MAILVERIFY_CALLBACK_SECRET/,
    );
  });

  it('needs an API key', async () => {
    const { app } = await setUp();
    await request(app)
      .post('/v1/jobs')
      .send({ emails: ['ann@x.test'] })
      .expect(401);
  });
});

/** A job created through the API, with results recorded for the given items. */
async function jobWithResults(emails: string[], recorded: number[] = []) {
  const setup = await setUp();
  const response = await request(setup.app)
    .post('/v1/jobs')
    .set(bearer(setup.key))
    .send({ emails })
    .expect(202);
  const id = response.body.job.id as string;
  for (const seq of recorded) {
    await setup.jobs.recordResult(id, seq, scriptedResult(emails[seq]!), Date.now());
  }
  return { ...setup, id };
}

describe('GET /v1/jobs/:id', () => {
  it('shows progress and counts per verdict', async () => {
    const { app, key, id } = await jobWithResults(
      ['ann@x.test', 'nobody@x.test', 'c@x.test'],
      [0, 1],
    );
    const response = await request(app).get(`/v1/jobs/${id}`).set(bearer(key)).expect(200);
    expect(response.body.job).toMatchObject({
      id,
      status: 'queued',
      total: 3,
      done: 2,
      counts: { deliverable: 1, undeliverable: 1, risky: 0, unknown: 0 },
    });
  });

  it('answers 404 for an unknown job and for a job of another API key', async () => {
    const { app, key, keys, clock, id } = await jobWithResults(['ann@x.test']);
    const missing = await request(app).get('/v1/jobs/job_nope').set(bearer(key)).expect(404);
    expectError(missing.body, 'not_found');

    const other = await issueApiKey(keys, 'other', clock.now());
    await request(app).get(`/v1/jobs/${id}`).set(bearer(other.key)).expect(404);
    await request(app).get(`/v1/jobs/${id}/results`).set(bearer(other.key)).expect(404);
    await request(app).delete(`/v1/jobs/${id}`).set(bearer(other.key)).expect(404);
  });
});

describe('GET /v1/jobs/:id/results', () => {
  it('streams JSON lines by default: the result object with its seq, in order', async () => {
    const emails = ['ann@x.test', 'nobody@x.test', 'c@x.test'];
    const { app, key, id } = await jobWithResults(emails, [2, 0]);

    const response = await request(app).get(`/v1/jobs/${id}/results`).set(bearer(key)).expect(200);
    expect(response.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    expect(response.headers['x-mailverify-job-progress']).toBe('2/3');
    const lines = response.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => [line.seq, line.email, line.verdict])).toEqual([
      [0, 'ann@x.test', 'deliverable'],
      [2, 'c@x.test', 'deliverable'],
    ]);
    expect(lines[0]).toMatchObject({ reason: 'accepted', flags: { role: false } });
  });

  it('streams CSV when asked, with formula-looking cells defused', async () => {
    const emails = ['ann@x.test', '=cmd@x.test'];
    const { app, key, id } = await jobWithResults(emails, [0, 1]);

    const response = await request(app)
      .get(`/v1/jobs/${id}/results`)
      .set(bearer(key))
      .set('Accept', 'text/csv')
      .expect(200);
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
    const rows = response.text.trimEnd().split('\r\n');
    expect(rows[0]).toBe(
      'seq,email,normalized,verdict,reason,score,flags,suggestion,mx_host,smtp_code,enhanced_code,smtp_reply,checked_at',
    );
    expect(rows[1]).toBe(
      '0,ann@x.test,ann@x.test,deliverable,accepted,95,,,mx.x.test,,,,2025-01-02T03:04:05.000Z',
    );
    expect(rows[2]?.startsWith("1,'=cmd@x.test,'=cmd@x.test,")).toBe(true);
  });

  it('pages through many results and resumes after a given seq', async () => {
    const emails = Array.from({ length: 2_345 }, (_, index) => `u${index}@x.test`);
    const { app, key, id, jobs } = await jobWithResults(emails);
    await jobs.recordResults(
      id,
      emails.map((email, seq) => ({ seq, result: scriptedResult(email) })),
      Date.now(),
    );

    const all = await request(app).get(`/v1/jobs/${id}/results`).set(bearer(key)).expect(200);
    const seqs = all.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line).seq as number);
    expect(seqs).toEqual(emails.map((_, seq) => seq));

    const rest = await request(app)
      .get(`/v1/jobs/${id}/results?after=2340`)
      .set(bearer(key))
      .expect(200);
    expect(rest.text.trimEnd().split('\n')).toHaveLength(4);
  });

  it('answers 406 for a type it cannot give, and 422 for a bad ?after', async () => {
    const { app, key, id } = await jobWithResults(['ann@x.test']);
    const refused = await request(app)
      .get(`/v1/jobs/${id}/results`)
      .set(bearer(key))
      .set('Accept', 'application/xml');
    expect(refused.status).toBe(406);
    expectError(refused.body, 'not_acceptable');

    const bad = await request(app).get(`/v1/jobs/${id}/results?after=soon`).set(bearer(key));
    expect(bad.status).toBe(422);
  });
});

describe('DELETE /v1/jobs/:id', () => {
  it('cancels a queued job, and says so again when asked twice', async () => {
    const { app, key, id } = await jobWithResults(['ann@x.test', 'bob@x.test'], [0]);
    const response = await request(app).delete(`/v1/jobs/${id}`).set(bearer(key)).expect(200);
    expect(response.body.job).toMatchObject({ status: 'cancelled', done: 1 });
    await request(app).delete(`/v1/jobs/${id}`).set(bearer(key)).expect(200);
  });

  it('answers 409 for a job that has already completed', async () => {
    const { app, key, id } = await jobWithResults(['ann@x.test'], [0]);
    const response = await request(app).delete(`/v1/jobs/${id}`).set(bearer(key)).expect(409);
    expect(expectError(response.body, 'conflict').details).toEqual({ status: 'completed' });
  });
});

describe('createJobFromEmails', () => {
  it('queues the addresses for the caller, wakes the runner and charges nothing', async () => {
    const jobs = new SqliteJobStore({ db: openSqlite(':memory:') });
    let wakes = 0;
    const enqueue = createJobFromEmails({
      jobs,
      runner: { wake: () => void (wakes += 1) },
      clock: systemClock,
    });

    const job = await enqueue(['ann@x.test', 'bob@x.test'], 'key_1');
    expect(job).toMatchObject({ status: 'queued', total: 2 });
    expect((await jobs.getJob(job.id))?.apiKeyId).toBe('key_1');
    expect(wakes).toBe(1);
  });
});

describe('jobs end to end, in process', () => {
  it('runs a posted job to completion and streams every result once', async () => {
    const jobs = new SqliteJobStore({ db: openSqlite(':memory:') });
    const verifier = createScriptedVerifier({ delayMs: (email) => email.length % 7 });
    const runner = createJobRunner({ jobs, verifier, clock: systemClock, leaseSeconds: 30 });
    runners.push(runner);
    runner.start();
    const jobsRouter = createJobsRouter({
      jobs,
      runner,
      config: { maxBodyBytes: 1_000_000, callbackSecret: '', allowPrivateMx: false },
      clock: systemClock,
    });
    const { app, key } = await buildTestApp({ jobsRouter });
    const emails = Array.from({ length: 250 }, (_, index) => `user${index}@x.test`);

    const created = await request(app)
      .post('/v1/jobs')
      .set(bearer(key))
      .set('Content-Type', 'text/plain')
      .send(emails.join('\n'))
      .expect(202);
    const id = created.body.job.id as string;

    const deadline = Date.now() + 5_000;
    let status = '';
    while (status !== 'completed' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = (await request(app).get(`/v1/jobs/${id}`).set(bearer(key))).body.job.status;
    }
    expect(status).toBe('completed');

    const results = await request(app).get(`/v1/jobs/${id}/results`).set(bearer(key)).expect(200);
    const lines = results.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => line.email)).toEqual(emails);
  });
});
