/**
 * /v1/schedules: the scheduled tasks of the configuration, each with its
 * last run (start, end, outcome, what it reported), its next run, and how
 * many runs were skipped because the previous one was still going.
 */
import express from 'express';
import type { Router } from 'express';

import type { Scheduler } from '../scheduler/scheduler.js';

export interface SchedulesRouterDeps {
  scheduler: Pick<Scheduler, 'list'>;
}

export function createSchedulesRouter(deps: SchedulesRouterDeps): Router {
  const router = express.Router();

  router.get('/', async (_req, res) => {
    res.json({ schedules: await deps.scheduler.list() });
  });

  return router;
}
