import { describe, expect, it } from 'vitest';

import { FLUSH_AFTER_MS, receiveJob } from '../../src/server/receive-job.js';
import { openSqlite } from '../../src/store/sqlite-database.js';
import { SqliteJobStore } from '../../src/store/sqlite-job-store.js';
import { createFakeClock } from './fake-clock.js';

const plain = { apiKeyId: null, idempotencyKey: null, callbackUrl: null };

describe('receiveJob', () => {
  it('keeps a slowly trickled upload alive past the ten-minute upload lease', async () => {
    const jobs = new SqliteJobStore({ db: openSqlite(':memory:') });
    const clock = createFakeClock();
    const writes: number[] = [];
    const append = jobs.appendItems.bind(jobs);
    jobs.appendItems = async (jobId, emails, now) => {
      writes.push(emails.length);
      await append(jobId, emails, now);
    };
    let discarded = 0;

    // One address every 30 s for 20 minutes; the store looks for abandoned
    // uploads all along, as the job runner does between jobs.
    async function* trickle() {
      for (let index = 0; index < 40; index += 1) {
        clock.advance(30_000);
        discarded += await jobs.discardAbandonedUploads(clock.now());
        yield `ann${index}@x.test`;
      }
    }

    const outcome = await receiveJob(jobs, clock, {
      spec: plain,
      emails: trickle(),
      chargeQuota: async () => {},
    });

    expect(discarded).toBe(0);
    expect(outcome.job).toMatchObject({ status: 'queued', total: 40 });
    expect(writes.length).toBeGreaterThanOrEqual(40 / (FLUSH_AFTER_MS / 30_000) - 1);
    expect(writes.reduce((sum, count) => sum + count, 0)).toBe(40);
  });
});
