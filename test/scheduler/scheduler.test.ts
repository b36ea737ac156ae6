import { afterEach, describe, expect, it } from 'vitest';

import { ConfigError } from '../../src/config.js';
import { createScheduler } from '../../src/scheduler/scheduler.js';
import type {
  CreateTrigger,
  Scheduler,
  ScheduleSpec,
  ScheduledTaskFn,
  TaskOutcome,
} from '../../src/scheduler/scheduler.js';
import { openSqlite } from '../../src/store/sqlite-database.js';
import { SqliteScheduleStore } from '../../src/store/sqlite-schedule-store.js';
import { systemClock } from '../../src/verify/types.js';

const nightly: ScheduleSpec = { name: 'nightly', cron: '0 3 * * *', task: 'count' };
const done: TaskOutcome = { outcome: 'succeeded', summary: { counted: 3 } };

const schedulers: Scheduler[] = [];
afterEach(async () => {
  for (const scheduler of schedulers.splice(0)) await scheduler.stop();
});

/** Triggers the test fires by hand, by schedule name. */
function manualTriggers() {
  const fires = new Map<string, () => void>();
  const stopped: string[] = [];
  const createTrigger: CreateTrigger = (spec, fire) => ({
    start: () => void fires.set(spec.name, fire),
    stop: () => void stopped.push(spec.name),
  });
  return { createTrigger, fires, stopped, fire: (name: string) => fires.get(name)!() };
}

/** A task that returns only when the test lets it. */
function gatedTask() {
  const calls: Record<string, unknown>[] = [];
  let open: (() => void) | null = null;
  const run: ScheduledTaskFn = async (options, { signal }) => {
    calls.push({ ...options });
    await new Promise<void>((resolve) => {
      open = resolve;
      signal.addEventListener('abort', () => resolve());
    });
    return done;
  };
  return { run, calls, finish: () => open?.() };
}

function start(
  tasks: Record<string, ScheduledTaskFn>,
  overrides: Partial<Parameters<typeof createScheduler>[0]> = {},
) {
  const triggers = manualTriggers();
  const store = new SqliteScheduleStore(openSqlite(':memory:'));
  const scheduler = createScheduler({
    schedules: [nightly],
    timezone: 'UTC',
    tasks,
    store,
    clock: systemClock,
    createTrigger: triggers.createTrigger,
    ...overrides,
  });
  schedulers.push(scheduler);
  scheduler.start();
  return { scheduler, store, ...triggers };
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 2_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('createScheduler', () => {
  it('refuses unknown tasks, naming the known ones, with every other problem', () => {
    const store = new SqliteScheduleStore(openSqlite(':memory:'));
    const create = () =>
      createScheduler({
        schedules: [
          { name: 'a', cron: '0 3 * * *', task: 'hubspot-sync' },
          { name: 'a', cron: '61 * * * *', task: 'reverify', timezone: 'Nowhere/Land' },
        ],
        timezone: 'UTC',
        tasks: { reverify: async () => done, count: async () => done },
        store,
        clock: systemClock,
      });

    expect(create).toThrow(ConfigError);
    try {
      create();
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        'MAILVERIFY_SCHEDULES: schedule "a": unknown task "hubspot-sync" (known tasks: count, reverify)',
        'MAILVERIFY_SCHEDULES: schedule "a": the name is used twice',
        'MAILVERIFY_SCHEDULES: schedule "a": cron "61 * * * *": minute: 61 is a invalid expression for minute',
        'MAILVERIFY_SCHEDULES: schedule "a": "Nowhere/Land" is not an IANA time zone',
      ]);
    }
  });

  it('refuses a default time zone that does not exist', () => {
    const store = new SqliteScheduleStore(openSqlite(':memory:'));
    expect(() =>
      createScheduler({ schedules: [], timezone: 'UTC+2', tasks: {}, store, clock: systemClock }),
    ).toThrow(/MAILVERIFY_TIMEZONE/);
  });

  it('runs the task with its options and shows the outcome and the next run', async () => {
    const seen: unknown[] = [];
    const count: ScheduledTaskFn = async (options) => {
      seen.push(options);
      return done;
    };
    const schedule = { ...nightly, options: { batchSize: 10 } };
    const { scheduler, fire } = start({ count }, { schedules: [schedule] });
    await until(async () => (await scheduler.list())[0]?.nextRun !== null);

    fire('nightly');
    await until(async () => (await scheduler.list())[0]?.lastRun?.outcome === 'succeeded');

    expect(seen).toEqual([{ batchSize: 10 }]);
    const [status] = await scheduler.list();
    expect(status).toMatchObject({
      name: 'nightly',
      task: 'count',
      cron: '0 3 * * *',
      timezone: 'UTC',
      running: false,
      skippedRuns: 0,
      lastRun: { outcome: 'succeeded', summary: { counted: 3 }, error: null },
    });
    const nextRun = Date.parse(status!.nextRun!);
    expect(nextRun).toBeGreaterThan(Date.now());
    expect(new Date(nextRun).toISOString()).toMatch(/T03:00:00\.000Z$/);
  });

  it('skips and counts a run that fires while the previous one is still going', async () => {
    const gate = gatedTask();
    const { scheduler, fire } = start({ count: gate.run });

    fire('nightly');
    await until(() => gate.calls.length === 1);
    expect((await scheduler.list())[0]?.running).toBe(true);
    fire('nightly');
    await until(async () => (await scheduler.list())[0]?.skippedRuns === 1);

    gate.finish();
    await until(async () => (await scheduler.list())[0]?.running === false);
    expect(gate.calls).toHaveLength(1);
    expect((await scheduler.list())[0]?.lastSkippedAt).not.toBeNull();
  });

  it('skips a run that another process sharing the store is running', async () => {
    const calls: string[] = [];
    const count: ScheduledTaskFn = async () => {
      calls.push('ran');
      return done;
    };
    const { scheduler, store, fire } = start({ count });
    await store.startRun('nightly', 'other-process', Date.now(), 60_000);

    fire('nightly');
    await until(async () => (await scheduler.list())[0]?.skippedRuns === 1);
    expect(calls).toEqual([]);
  });

  it('records a task that throws as a failed run and keeps scheduling', async () => {
    let calls = 0;
    const count: ScheduledTaskFn = async () => {
      calls += 1;
      if (calls === 1) throw new Error('sheet not found');
      return done;
    };
    const { scheduler, fire } = start({ count });

    fire('nightly');
    await until(async () => (await scheduler.list())[0]?.lastRun?.outcome === 'failed');
    expect((await scheduler.list())[0]?.lastRun?.error).toBe('sheet not found');

    fire('nightly');
    await until(async () => (await scheduler.list())[0]?.lastRun?.outcome === 'succeeded');
  });

  it('on stop, stops the triggers, aborts the running task and records it as interrupted', async () => {
    const gate = gatedTask();
    const { scheduler, fire, stopped } = start({ count: gate.run });
    fire('nightly');
    await until(() => gate.calls.length === 1);

    await scheduler.stop();
    expect(stopped).toEqual(['nightly']);
    expect((await scheduler.list())[0]).toMatchObject({
      running: false,
      lastRun: { outcome: 'interrupted' },
    });
  });

  it('gives up waiting for a task that ignores the stop, after the timeout', async () => {
    const never: ScheduledTaskFn = () => new Promise<TaskOutcome>(() => undefined);
    const { scheduler, fire } = start({ count: never }, { stopTimeoutMs: 50 });
    fire('nightly');
    await until(async () => (await scheduler.list())[0]?.running === true);

    const startedAt = Date.now();
    await scheduler.stop();
    expect(Date.now() - startedAt).toBeLessThan(1_000);
    expect((await scheduler.list())[0]?.lastRun).toMatchObject({
      outcome: 'interrupted',
      error: 'still running 50 ms after the scheduler was asked to stop',
    });
  });

  it('keeps the last run across a restart on the same store', async () => {
    const { fire, store, scheduler } = start({ count: async () => done });
    fire('nightly');
    await until(async () => (await scheduler.list())[0]?.lastRun?.outcome === 'succeeded');
    await scheduler.stop();

    const again = createScheduler({
      schedules: [nightly],
      timezone: 'UTC',
      tasks: { count: async () => done },
      store,
      clock: systemClock,
      createTrigger: manualTriggers().createTrigger,
    });
    expect((await again.list())[0]?.lastRun?.summary).toEqual({ counted: 3 });
  });

  it('fires from node-cron on a seconds schedule in the configured time zone', async () => {
    let runs = 0;
    const store = new SqliteScheduleStore(openSqlite(':memory:'));
    const scheduler = createScheduler({
      schedules: [{ name: 'tick', cron: '* * * * * *', task: 'tick', timezone: 'Asia/Tokyo' }],
      timezone: 'UTC',
      tasks: {
        tick: async () => {
          runs += 1;
          return done;
        },
      },
      store,
      clock: systemClock,
    });
    schedulers.push(scheduler);
    scheduler.start();

    await until(() => runs >= 1, 3_000);
    await scheduler.stop();
    const stoppedAt = runs;
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(runs).toBe(stoppedAt);
    expect((await scheduler.list())[0]?.timezone).toBe('Asia/Tokyo');
  });
});
