import { describe, expect, it } from 'vitest';

import { createMetrics } from '../../src/server/metrics.js';
import { resultFor } from './fake-verifier.js';

describe('createMetrics', () => {
  it('counts verifications by verdict and reason', async () => {
    const metrics = createMetrics({ withProcessMetrics: false });
    metrics.countVerification(resultFor('a@acme.test'));
    metrics.countVerification(resultFor('b@acme.test'));
    metrics.countVerification(resultFor('c@acme.test', 'undeliverable', 'mailbox_not_found'));

    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'mailverify_verifications_total{verdict="deliverable",reason="accepted"} 2',
    );
    expect(text).toContain(
      'mailverify_verifications_total{verdict="undeliverable",reason="mailbox_not_found"} 1',
    );
  });

  it('asks the job store for the queue depth at each scrape', async () => {
    const metrics = createMetrics({ withProcessMetrics: false });
    let depth = 7;
    metrics.watchQueueDepth(async () => depth);

    expect(await metrics.registry.metrics()).toContain('mailverify_job_queue_depth 7');
    depth = 0;
    expect(await metrics.registry.metrics()).toContain('mailverify_job_queue_depth 0');
  });

  it('keeps two registries apart', async () => {
    const first = createMetrics({ withProcessMetrics: false });
    const second = createMetrics({ withProcessMetrics: false });
    first.countVerification(resultFor('a@acme.test'));

    expect(await second.registry.metrics()).not.toContain('reason="accepted"');
  });

  it('includes Node process metrics under the mailverify_ prefix by default', async () => {
    const text = await createMetrics().registry.metrics();
    expect(text).toContain('mailverify_process_cpu_user_seconds_total');
  });
});
