/**
 * Scheduled tasks from the configuration, fired by node-cron in their time
 * zone. Tasks come from a registry (re-verification now, connector syncs
 * later), so the configuration names what to run and the code decides
 * what that means. A run still going when its next time comes is not
 * doubled: the new run is skipped and counted. Runs hold a lease in the
 * store, so several processes sharing it do not run one schedule twice,
 * and last run, outcome and next run survive a restart.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import cron from 'node-cron';
import pino from 'pino';
import type { Logger } from 'pino';

import { ConfigError } from '../config.js';
import type { Config } from '../config.js';
import type { RunOutcome, RunSummary, ScheduleStore } from '../store/schedule-store.js';
import type { Clock } from '../verify/types.js';
import { checkCronExpression, isValidTimezone, nextRunAfter } from './next-run.js';

export type ScheduleSpec = Config['schedules'][number];

export interface TaskOutcome {
  outcome: 'succeeded' | 'failed';
  summary: RunSummary;
  error?: string | null;
}

export interface TaskContext {
  /** Aborted when the scheduler stops: finish the current step and return. */
  signal: AbortSignal;
  logger: Logger;
}

export type ScheduledTaskFn = (
  options: Readonly<Record<string, unknown>>,
  context: TaskContext,
) => Promise<TaskOutcome>;

/** What runs on a schedule; connectors add their syncs here. */
export type TaskRegistry = Readonly<Record<string, ScheduledTaskFn>>;

export interface ScheduleStatus {
  name: string;
  task: string;
  cron: string;
  timezone: string;
  running: boolean;
  lastRun: {
    startedAt: string | null;
    finishedAt: string | null;
    outcome: RunOutcome | null;
    summary: RunSummary | null;
    error: string | null;
  } | null;
  nextRun: string | null;
  skippedRuns: number;
  lastSkippedAt: string | null;
}

/** Calls `fire` at each time the expression names; node-cron by default. */
export type CreateTrigger = (
  spec: { name: string; cron: string; timezone: string },
  fire: () => void,
  logger: Logger,
) => { start(): void; stop(): void };

export interface SchedulerDeps {
  schedules: readonly ScheduleSpec[];
  /** Default time zone of schedules that name none. */
  timezone: string;
  tasks: TaskRegistry;
  store: ScheduleStore;
  clock: Clock;
  logger?: Logger;
  /** Seconds a run's lease lasts; renewed while it runs. */
  leaseSeconds?: number;
  /** Longest wait in stop() for running tasks to return. */
  stopTimeoutMs?: number;
  owner?: string;
  createTrigger?: CreateTrigger;
}

export interface Scheduler {
  start(): void;
  stop(): Promise<void>;
  list(): Promise<ScheduleStatus[]>;
}

const DEFAULT_LEASE_SECONDS = 60;
const DEFAULT_STOP_TIMEOUT_MS = 10_000;

interface Entry {
  spec: ScheduleSpec;
  timezone: string;
  run: ScheduledTaskFn;
}

interface Running {
  controller: AbortController;
  done: Promise<void>;
}

/** Throws ConfigError, listing every problem, for schedules that cannot run. */
export function createScheduler(deps: SchedulerDeps): Scheduler {
  const entries = checkSchedules(deps);
  const logger = deps.logger ?? pino({ level: 'silent' });
  const leaseMs = (deps.leaseSeconds ?? DEFAULT_LEASE_SECONDS) * 1000;
  const owner = deps.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const createTrigger = deps.createTrigger ?? createCronTrigger;
  const { store, clock } = deps;

  const running = new Map<string, Running>();
  const triggers: { stop(): void }[] = [];
  let isStopping = false;

  const noteNextRun = async (entry: Entry) => {
    const next = nextRunAfter(entry.spec.cron, clock.now(), entry.timezone);
    await store.setNextRun(entry.spec.name, next);
  };

  const execute = async (entry: Entry, controller: AbortController) => {
    const name = entry.spec.name;
    const renew = setInterval(() => {
      store.renewRun(name, owner, clock.now(), leaseMs).catch((error: unknown) => {
        logger.warn({ schedule: name, err: error }, 'schedule lease renewal failed');
      });
    }, leaseMs / 3);

    const startedAt = clock.now();
    logger.info({ schedule: name, task: entry.spec.task }, 'scheduled run started');
    const outcome = await runSafely(entry, controller.signal, logger);
    clearInterval(renew);

    const result = controller.signal.aborted ? 'interrupted' : outcome.outcome;
    await store.finishRun(name, owner, clock.now(), {
      outcome: result,
      summary: outcome.summary,
      error: outcome.error ?? null,
    });
    const durationMs = clock.now() - startedAt;
    logger.info({ schedule: name, outcome: result, durationMs }, 'scheduled run finished');
  };

  const skip = async (entry: Entry) => {
    await store.recordSkip(entry.spec.name, clock.now());
    logger.warn(
      { schedule: entry.spec.name },
      'scheduled run skipped: the previous one is running',
    );
  };

  const fire = async (entry: Entry) => {
    const name = entry.spec.name;
    if (isStopping) return;
    if (running.has(name)) {
      await skip(entry);
      await noteNextRun(entry);
      return;
    }

    // The slot is taken before the first await, so a second tick arriving
    // while the store answers is skipped rather than run alongside.
    const controller = new AbortController();
    const done = (async () => {
      const isStarted = await store.startRun(name, owner, clock.now(), leaseMs);
      if (isStarted) {
        const execution = execute(entry, controller);
        await noteNextRun(entry);
        await execution;
      } else {
        await skip(entry);
        await noteNextRun(entry);
      }
    })().finally(() => running.delete(name));
    running.set(name, { controller, done });
    await done;
  };

  return {
    start() {
      if (triggers.length > 0 || isStopping) return;
      for (const entry of entries) {
        const trigger = createTrigger(
          { name: entry.spec.name, cron: entry.spec.cron, timezone: entry.timezone },
          () => {
            fire(entry).catch((error: unknown) => {
              logger.error({ schedule: entry.spec.name, err: error }, 'scheduled run broke');
            });
          },
          logger,
        );
        trigger.start();
        triggers.push(trigger);
        noteNextRun(entry).catch((error: unknown) => {
          logger.error({ schedule: entry.spec.name, err: error }, 'next run not stored');
        });
      }
      logger.info({ schedules: entries.map((entry) => entry.spec.name) }, 'scheduler started');
    },

    async stop() {
      isStopping = true;
      triggers.splice(0).forEach((trigger) => trigger.stop());

      const runs = [...running.values()];
      if (runs.length === 0) return;
      runs.forEach((run) => run.controller.abort());
      const timeoutMs = deps.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
      const settled = Promise.allSettled(runs.map((run) => run.done));
      const isSettled = await Promise.race([
        settled.then(() => true),
        clock.sleep(timeoutMs).then(() => false),
      ]);

      if (!isSettled) {
        for (const name of running.keys()) {
          await store.finishRun(name, owner, clock.now(), {
            outcome: 'interrupted',
            summary: {},
            error: `still running ${timeoutMs} ms after the scheduler was asked to stop`,
          });
        }
      }
    },

    async list() {
      const records = new Map(
        (await store.listSchedules(clock.now())).map((record) => [record.name, record]),
      );
      return entries.map((entry): ScheduleStatus => {
        const record = records.get(entry.spec.name);
        const hasRun = record !== undefined && record.lastStartedAt !== null;
        return {
          name: entry.spec.name,
          task: entry.spec.task,
          cron: entry.spec.cron,
          timezone: entry.timezone,
          running: record?.isRunning ?? false,
          lastRun: hasRun
            ? {
                startedAt: isoOrNull(record.lastStartedAt),
                finishedAt: isoOrNull(record.lastFinishedAt),
                outcome: record.lastOutcome,
                summary: record.lastSummary,
                error: record.lastError,
              }
            : null,
          nextRun: isoOrNull(record?.nextRunAt ?? null),
          skippedRuns: record?.skippedRuns ?? 0,
          lastSkippedAt: isoOrNull(record?.lastSkippedAt ?? null),
        };
      });
    },
  };
}

/** A task that throws is a failed run, not a broken scheduler. */
async function runSafely(entry: Entry, signal: AbortSignal, logger: Logger): Promise<TaskOutcome> {
  const child = logger.child({ schedule: entry.spec.name, task: entry.spec.task });
  try {
    return await entry.run(entry.spec.options ?? {}, { signal, logger: child });
  } catch (error) {
    child.error({ err: error }, 'scheduled task threw');
    return { outcome: 'failed', summary: {}, error: (error as Error).message ?? String(error) };
  }
}

function checkSchedules(deps: SchedulerDeps): Entry[] {
  const problems: string[] = [];
  const known = Object.keys(deps.tasks).sort();
  const names = new Set<string>();

  if (!isValidTimezone(deps.timezone)) {
    problems.push(`MAILVERIFY_TIMEZONE: "${deps.timezone}" is not an IANA time zone`);
  }

  const entries: Entry[] = [];
  for (const spec of deps.schedules) {
    const where = `MAILVERIFY_SCHEDULES: schedule "${spec.name}"`;
    if (names.has(spec.name)) problems.push(`${where}: the name is used twice`);
    names.add(spec.name);

    const run = Object.hasOwn(deps.tasks, spec.task) ? deps.tasks[spec.task] : undefined;
    if (!run) {
      problems.push(`${where}: unknown task "${spec.task}" (known tasks: ${known.join(', ')})`);
    }
    for (const problem of checkCronExpression(spec.cron)) {
      problems.push(`${where}: cron "${spec.cron}": ${problem}`);
    }
    const timezone = spec.timezone ?? deps.timezone;
    if (spec.timezone !== undefined && !isValidTimezone(spec.timezone)) {
      problems.push(`${where}: "${spec.timezone}" is not an IANA time zone`);
    }
    if (run) entries.push({ spec, timezone, run });
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return entries;
}

function createCronTrigger(
  spec: { name: string; cron: string; timezone: string },
  fire: () => void,
  logger: Logger,
) {
  const task = cron.createTask(spec.cron, fire, {
    name: spec.name,
    timezone: spec.timezone,
    // node-cron writes its own warnings (missed runs) to the console otherwise.
    logger: {
      info: (message) => logger.debug({ schedule: spec.name }, message),
      warn: (message) => logger.warn({ schedule: spec.name }, message),
      error: (message) => logger.error({ schedule: spec.name, err: message }, 'node-cron error'),
      debug: (message) => logger.debug({ schedule: spec.name, err: message }, 'node-cron'),
    },
  });
  return {
    start: () => void task.start(),
    stop: () => void task.destroy(),
  };
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
