import request from 'supertest';
import { describe, expect, it } from 'vitest';

import { createScheduler } from '../../src/scheduler/scheduler.js';
import type { CreateTrigger } from '../../src/scheduler/scheduler.js';
import { createSchedulesRouter } from '../../src/server/schedules-router.js';
import { openSqlite } from '../../src/store/sqlite-database.js';
import { SqliteScheduleStore } from '../../src/store/sqlite-schedule-store.js';
import { systemClock } from '../../src/verify/types.js';
import { buildTestApp } from './app-harness.js';

const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });

describe('GET /v1/schedules', () => {
  it('shows each scheduled task with its last run, outcome and next run', async () => {
    const fires = new Map<string, () => void>();
    const createTrigger: CreateTrigger = (spec, fire) => ({
      start: () => void fires.set(spec.name, fire),
      stop: () => undefined,
    });
    const scheduler = createScheduler({
      schedules: [
        { name: 'stale-results', cron: '0 4 * * *', task: 'reverify', timezone: 'Europe/Paris' },
        { name: 'hourly', cron: '0 * * * *', task: 'reverify', options: { batchSize: 50 } },
      ],
      timezone: 'UTC',
      tasks: { reverify: async () => ({ outcome: 'succeeded', summary: { verified: 12 } }) },
      store: new SqliteScheduleStore(openSqlite(':memory:')),
      clock: systemClock,
      createTrigger,
    });
    scheduler.start();
    fires.get('hourly')!();
    const { app, key } = await buildTestApp({
      schedulesRouter: createSchedulesRouter({ scheduler }),
    });

    let body: { schedules: Record<string, unknown>[] } = { schedules: [] };
    for (let tries = 0; tries < 100 && !body.schedules[1]?.lastRun; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      body = (await request(app).get('/v1/schedules').set(bearer(key)).expect(200)).body;
    }
    await scheduler.stop();

    expect(body.schedules).toHaveLength(2);
    expect(body.schedules[0]).toMatchObject({
      name: 'stale-results',
      task: 'reverify',
      cron: '0 4 * * *',
      timezone: 'Europe/Paris',
      running: false,
      lastRun: null,
      skippedRuns: 0,
    });
    expect(String(body.schedules[0]?.nextRun)).toMatch(/T0[23]:00:00\.000Z$/);
    expect(body.schedules[1]).toMatchObject({
      name: 'hourly',
      lastRun: { outcome: 'succeeded', summary: { verified: 12 }, error: null },
    });
    expect(String(body.schedules[1]?.nextRun)).toMatch(/:00:00\.000Z$/);
  });

  it('needs an API key', async () => {
    const scheduler = { list: async () => [] };
    const { app } = await buildTestApp({ schedulesRouter: createSchedulesRouter({ scheduler }) });
    await request(app).get('/v1/schedules').expect(401);
  });
});
