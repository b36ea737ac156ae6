import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';

import { ApiError } from '../../src/server/api-error.js';
import {
  errorBodySchema,
  verificationResultSchema,
  verifyBatchAnswerSchema,
  verifyBatchPendingSchema,
  verifyPendingSchema,
} from '../../src/server/verify-schemas.js';
import { buildTestApp } from './app-harness.js';
import { resultFor } from './fake-verifier.js';

const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

function expectError(body: unknown, code: string) {
  const parsed = errorBodySchema.parse(body);
  expect(parsed.error.code).toBe(code);
  return parsed.error;
}

describe('operations routes', () => {
  it('answers /healthz without a key', async () => {
    const { app } = await buildTestApp();
    const response = await request(app).get('/healthz').expect(200);
    expect(response.body).toEqual({ status: 'ok' });
  });

  it('answers /readyz 200 while the store answers, 503 when it does not', async () => {
    const harness = await buildTestApp();
    await request(harness.app).get('/readyz').expect(200, { status: 'ready' });

    harness.setReady(false);
    const response = await request(harness.app).get('/readyz').expect(503);
    expectError(response.body, 'unavailable');
    expect(response.headers['retry-after']).toBe('5');
  });

  it('serves the OpenAPI document as JSON', async () => {
    const { app } = await buildTestApp();
    const response = await request(app).get('/openapi.json').expect(200);
    expect(response.body.openapi).toMatch(/^3\.1\./);
    expect(Object.keys(response.body.paths)).toContain('/v1/verify');
  });

  it('serves Prometheus metrics with request latency by route template and status', async () => {
    const { app, key } = await buildTestApp();
    await request(app).get('/v1/verify?email=ann@acme.test').set(bearer(key)).expect(200);
    await request(app).get('/v1/nowhere').set(bearer(key)).expect(404);

    const response = await request(app).get('/metrics').expect(200);
    expect(response.headers['content-type']).toContain('text/plain');
    expect(response.text).toContain(
      'mailverify_http_request_duration_seconds_count{method="GET",route="/v1/verify",status="200"} 1',
    );
    expect(response.text).toContain('route="unmatched",status="404"');
    expect(response.text).not.toContain('ann@acme.test');
  });
});

describe('request ids and logs', () => {
  it('echoes a caller request id and logs the request under it', async () => {
    const { app, key, logs } = await buildTestApp();
    const response = await request(app)
      .get('/v1/verify?email=ann@acme.test')
      .set(bearer(key))
      .set('X-Request-Id', 'crm-sync.42')
      .expect(200);

    expect(response.headers['x-request-id']).toBe('crm-sync.42');
    const line = logs.find((entry) => entry.msg === 'request');
    expect(line).toMatchObject({
      reqId: 'crm-sync.42',
      method: 'GET',
      path: '/v1/verify',
      route: '/v1/verify',
      status: 200,
    });
  });

  it('replaces a request id that is not plain text with a new one', async () => {
    const { app } = await buildTestApp();
    for (const offered of ['a b c', 'x'.repeat(200), '<script>']) {
      const response = await request(app).get('/healthz').set('X-Request-Id', offered).expect(200);
      expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('never logs the key, the Authorization header or the address asked', async () => {
    const { app, key, logs } = await buildTestApp();
    await request(app).get('/v1/verify?email=secret.person@acme.test').set(bearer(key));
    await request(app)
      .get('/v1/verify?email=x@acme.test')
      .set(bearer('mv_live_' + 'f'.repeat(64)));

    const text = JSON.stringify(logs);
    expect(logs.length).toBeGreaterThanOrEqual(2);
    expect(text).not.toContain(key);
    expect(text).not.toContain('f'.repeat(64));
    expect(text).not.toContain('secret.person');
  });
});

describe('API keys', () => {
  it('answers 401 with a Bearer challenge when no key is sent', async () => {
    const { app } = await buildTestApp();
    const response = await request(app).get('/v1/verify?email=ann@acme.test').expect(401);
    expectError(response.body, 'unauthorized');
    expect(response.headers['www-authenticate']).toBe('Bearer');
  });

  it('answers 401 invalid_token for a wrong key', async () => {
    const { app, key } = await buildTestApp();
    const wrong = key.slice(0, -1) + (key.endsWith('0') ? '1' : '0');
    const response = await request(app).get('/v1/verify?email=a@acme.test').set(bearer(wrong));

    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('answers 401 for a revoked key', async () => {
    const { app, key, keyId, keys, clock } = await buildTestApp();
    await keys.revokeKey(keyId, clock.now());
    await request(app).get('/v1/verify?email=a@acme.test').set(bearer(key)).expect(401);
  });

  it('records when a key was last used', async () => {
    const { app, key, keyId, keys, clock } = await buildTestApp();
    await request(app).get('/v1/verify?email=a@acme.test').set(bearer(key)).expect(200);

    const [listed] = (await keys.listKeys()).filter((entry) => entry.id === keyId);
    expect(listed?.lastUsedAt).toBe(clock.now());
  });

  it('guards /v1/jobs and /v1/schedules too, and answers 401 before 404 under /v1', async () => {
    const { app } = await buildTestApp();
    await request(app).get('/v1/jobs/job_1').expect(401);
    await request(app).get('/v1/schedules').expect(401);
    await request(app).get('/v1/nowhere').expect(401);
  });

  it('lets anonymous callers in when keys are not required', async () => {
    const { app, enqueued, verifier } = await buildTestApp({ config: { requireApiKey: false } });
    verifier.hold('slow@acme.test');
    await request(app).get('/v1/verify?email=ann@acme.test').expect(200);
    await request(app).get('/v1/verify?email=slow@acme.test&timeout=0.01').expect(202);
    expect(enqueued[0]?.apiKeyId).toBeNull();
  });
});

describe('rate limit and daily quota', () => {
  it('answers 429 rate_limited with Retry-After once the burst is spent', async () => {
    const { app, key } = await buildTestApp({ config: { apiRateLimit: 1 } });
    for (let index = 0; index < 2; index += 1) {
      await request(app).get('/v1/verify?email=a@acme.test').set(bearer(key)).expect(200);
    }

    const response = await request(app).get('/v1/verify?email=a@acme.test').set(bearer(key));
    expect(response.status).toBe(429);
    expectError(response.body, 'rate_limited');
    expect(response.headers['retry-after']).toBe('1');
  });

  it('refills the bucket with time', async () => {
    const { app, key, clock } = await buildTestApp({ config: { apiRateLimit: 1 } });
    for (let index = 0; index < 2; index += 1) {
      await request(app).get('/v1/verify?email=a@acme.test').set(bearer(key));
    }
    clock.advance(1_000);
    await request(app).get('/v1/verify?email=a@acme.test').set(bearer(key)).expect(200);
  });

  it('charges every address to the quota and answers 429 quota_exceeded past it', async () => {
    const { app, key } = await buildTestApp({ config: { apiDailyQuota: 3 } });
    await request(app)
      .post('/v1/verify')
      .set(bearer(key))
      .send({ emails: ['a@acme.test', 'b@acme.test'] })
      .expect(200);

    const batch = await request(app)
      .post('/v1/verify')
      .set(bearer(key))
      .send({ emails: ['c@acme.test', 'd@acme.test'] });
    expect(batch.status).toBe(429);
    expect(expectError(batch.body, 'quota_exceeded').details).toEqual({
      quota: 3,
      used: 2,
      requested: 2,
    });
    // 12:00 UTC on the fake clock: twelve hours until the quota resets.
    expect(batch.headers['retry-after']).toBe(String(12 * 3600));

    await request(app).get('/v1/verify?email=c@acme.test').set(bearer(key)).expect(200);
    await request(app).get('/v1/verify?email=d@acme.test').set(bearer(key)).expect(429);
  });
});

describe('GET /v1/verify', () => {
  it('answers 200 with the result, in the vocabulary of the CLI', async () => {
    const { app, key } = await buildTestApp();
    const response = await request(app)
      .get('/v1/verify')
      .query({ email: 'ann@acme.test' })
      .set(bearer(key))
      .expect(200);

    expect(verificationResultSchema.parse(response.body)).toEqual(resultFor('ann@acme.test'));
  });

  it('answers 202 with a job and a poll URL when the check takes longer than the timeout', async () => {
    const { app, key, keyId, verifier, enqueued } = await buildTestApp();
    verifier.hold('slow@acme.test');

    const response = await request(app)
      .get('/v1/verify?email=slow@acme.test&timeout=0.05')
      .set(bearer(key))
      .expect(202);

    const body = verifyPendingSchema.parse(response.body);
    expect(body.job.id).toBe('job_1');
    expect(body.poll).toBe('/v1/jobs/job_1');
    expect(response.headers.location).toBe('/v1/jobs/job_1');
    expect(enqueued).toEqual([
      {
        emails: ['slow@acme.test'],
        apiKeyId: keyId,
        job: expect.objectContaining({ id: 'job_1' }),
      },
    ]);
  });

  it('caps the timeout a caller asks for at apiTimeoutMax', async () => {
    const { app, key, verifier } = await buildTestApp({ config: { apiTimeoutMax: 0.05 } });
    verifier.hold('slow@acme.test');

    const startedAt = Date.now();
    await request(app)
      .get('/v1/verify?email=slow@acme.test&timeout=60')
      .set(bearer(key))
      .expect(202);
    expect(Date.now() - startedAt).toBeLessThan(2_000);
  });

  it('answers at once from a ready result even with timeout=0', async () => {
    const { app, key } = await buildTestApp();
    await request(app).get('/v1/verify?email=ann@acme.test&timeout=0').set(bearer(key)).expect(200);
  });

  it('lists every bad query field in a 422 validation_failed', async () => {
    const { app, key } = await buildTestApp();
    const response = await request(app).get('/v1/verify?timeout=soon').set(bearer(key)).expect(422);

    const details = expectError(response.body, 'validation_failed').details as { path: string }[];
    expect(details.map((problem) => problem.path).sort()).toEqual(['email', 'timeout']);
  });

  it('refuses an address given twice and a negative timeout', async () => {
    const { app, key } = await buildTestApp();
    await request(app)
      .get('/v1/verify?email=a@acme.test&email=b@acme.test')
      .set(bearer(key))
      .expect(422);
    await request(app).get('/v1/verify?email=a@acme.test&timeout=-1').set(bearer(key)).expect(422);
  });

  it('answers 503 unavailable when the verifier is shutting down', async () => {
    const { app, key, verifier } = await buildTestApp();
    await verifier.close();
    const response = await request(app).get('/v1/verify?email=a@acme.test').set(bearer(key));
    expect(response.status).toBe(503);
    expectError(response.body, 'unavailable');
  });

  it('answers 500 internal without the stack, and logs the stack', async () => {
    const { app, key, verifier, logs } = await buildTestApp();
    verifier.verify = () => Promise.reject(new Error('disk on fire'));

    const response = await request(app).get('/v1/verify?email=a@acme.test').set(bearer(key));
    expect(response.status).toBe(500);
    expect(expectError(response.body, 'internal').message).toBe('internal error');
    expect(response.text).not.toContain('disk on fire');
    const logged = logs.find((entry) => entry.msg === 'unexpected error');
    expect(JSON.stringify(logged)).toContain('disk on fire');
  });
});

describe('POST /v1/verify', () => {
  it('answers 200 with every result in input order', async () => {
    const { app, key } = await buildTestApp();
    const emails = ['b@acme.test', 'a@acme.test', 'b@acme.test'];
    const response = await request(app)
      .post('/v1/verify')
      .set(bearer(key))
      .send({ emails })
      .expect(200);

    const body = verifyBatchAnswerSchema.parse(response.body);
    expect(body.results.map((result) => result.email)).toEqual(emails);
  });

  it('answers 202 with the finished results and a job of only the unfinished addresses', async () => {
    const { app, key, verifier, enqueued } = await buildTestApp();
    verifier.hold('slow@acme.test');

    const response = await request(app)
      .post('/v1/verify')
      .set(bearer(key))
      .send({ emails: ['a@acme.test', 'slow@acme.test', 'b@acme.test'], timeout: 0.05 })
      .expect(202);

    const body = verifyBatchPendingSchema.parse(response.body);
    expect(body.results.map((result) => result.email)).toEqual(['a@acme.test', 'b@acme.test']);
    expect(body.pending).toEqual(['slow@acme.test']);
    expect(body.poll).toBe(`/v1/jobs/${body.job.id}`);
    expect(enqueued.map((job) => job.emails)).toEqual([['slow@acme.test']]);
  });

  it('answers 413 payload_too_large for more than 100 addresses', async () => {
    const { app, key } = await buildTestApp();
    const emails = Array.from({ length: 101 }, (_, index) => `u${index}@acme.test`);
    const response = await request(app)
      .post('/v1/verify')
      .set(bearer(key))
      .send({ emails })
      .expect(413);

    expect(expectError(response.body, 'payload_too_large').details).toEqual({
      limit: 100,
      received: 101,
    });
  });

  it('answers 413 payload_too_large for a body over maxBodyBytes', async () => {
    const { app, key } = await buildTestApp({ config: { maxBodyBytes: 1024 } });
    const response = await request(app)
      .post('/v1/verify')
      .set(bearer(key))
      .send({ emails: ['x'.repeat(2_000)] })
      .expect(413);
    expectError(response.body, 'payload_too_large');
  });

  it('answers 422 validation_failed for malformed JSON', async () => {
    const { app, key } = await buildTestApp();
    const response = await request(app)
      .post('/v1/verify')
      .set(bearer(key))
      .set('Content-Type', 'application/json')
      .send('{"emails": [')
      .expect(422);
    expect(expectError(response.body, 'validation_failed').message).toContain('not valid JSON');
  });

  it('lists every bad field, unknown ones included', async () => {
    const { app, key } = await buildTestApp();
    const response = await request(app)
      .post('/v1/verify')
      .set(bearer(key))
      .send({ emails: ['ok@acme.test', '', 5], timeout: 'soon', callback: 'x' })
      .expect(422);

    const details = expectError(response.body, 'validation_failed').details as {
      path: string;
      message: string;
    }[];
    expect(details.map((problem) => problem.path)).toEqual(
      expect.arrayContaining(['emails.1', 'emails.2', 'timeout', '']),
    );
    expect(JSON.stringify(details)).toContain('callback');
  });

  it('answers 422 for an empty list', async () => {
    const { app, key } = await buildTestApp();
    await request(app).post('/v1/verify').set(bearer(key)).send({ emails: [] }).expect(422);
  });

  it('answers 415 unsupported_media_type for a body that is not JSON', async () => {
    const { app, key } = await buildTestApp();
    const response = await request(app)
      .post('/v1/verify')
      .set(bearer(key))
      .set('Content-Type', 'text/plain')
      .send('a@acme.test')
      .expect(415);
    expectError(response.body, 'unsupported_media_type');
  });
});

describe('unknown routes, methods and errors of mounted routers', () => {
  it('answers 404 not_found for an unknown path', async () => {
    const { app, key } = await buildTestApp();
    expectError(
      (await request(app).get('/v1/nowhere').set(bearer(key)).expect(404)).body,
      'not_found',
    );
    expectError((await request(app).get('/nowhere').expect(404)).body, 'not_found');
  });

  it('answers 405 method_not_allowed with Allow for a known path', async () => {
    const { app, key } = await buildTestApp();
    const response = await request(app).delete('/v1/verify').set(bearer(key)).expect(405);
    expectError(response.body, 'method_not_allowed');
    expect(response.headers.allow).toBe('GET, POST');
  });

  it('turns an ApiError thrown by the jobs router into its status and body', async () => {
    const jobsRouter = express.Router();
    jobsRouter.get('/:id', () => {
      throw new ApiError('conflict', 'the job is still receiving addresses', { id: 'job_9' });
    });
    const { app, key } = await buildTestApp({ jobsRouter });

    const response = await request(app).get('/v1/jobs/job_9').set(bearer(key)).expect(409);
    expect(response.body).toEqual({
      error: {
        code: 'conflict',
        message: 'the job is still receiving addresses',
        details: { id: 'job_9' },
      },
    });
  });

  it('hands the jobs router the key id and a working quota charge', async () => {
    const jobsRouter = express.Router();
    jobsRouter.post('/', async (_req, res) => {
      await res.locals.chargeQuota(2);
      res.status(201).json({ apiKeyId: res.locals.apiKeyId });
    });
    const { app, key, keyId } = await buildTestApp({ jobsRouter, config: { apiDailyQuota: 3 } });

    await request(app)
      .post('/v1/jobs')
      .set(bearer(key))
      .send({ emails: [] })
      .expect(201, { apiKeyId: keyId });
    const refused = await request(app).post('/v1/jobs').set(bearer(key)).send({ emails: [] });
    expect(refused.status).toBe(429);
    expectError(refused.body, 'quota_exceeded');
  });
});

describe('while shutting down', () => {
  it('answers /v1 with 503 and asks the client to close the connection', async () => {
    const harness = await buildTestApp();
    harness.stop();

    const response = await request(harness.app)
      .get('/v1/verify?email=a@acme.test')
      .set(bearer(harness.key));
    expect(response.status).toBe(503);
    expect(response.headers.connection).toBe('close');
    expectError(response.body, 'unavailable');
    await request(harness.app).get('/readyz').expect(503);
    await request(harness.app).get('/healthz').expect(200);
  });
});
