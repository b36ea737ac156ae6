/**
 * Strict shapes of the job and schedule answers, for checking both the
 * OpenAPI examples and what the real routes send.
 */
import { z } from 'zod';

const instant = z.iso.datetime();
const verdictCounts = z.strictObject({
  deliverable: z.number().int(),
  undeliverable: z.number().int(),
  risky: z.number().int(),
  unknown: z.number().int(),
});

export const jobSchema = z.strictObject({
  id: z.string().min(1),
  status: z.enum(['receiving', 'queued', 'running', 'completed', 'cancelled', 'failed']),
  total: z.number().int().nonnegative(),
  done: z.number().int().nonnegative(),
  counts: verdictCounts,
  createdAt: instant,
  startedAt: instant.nullable(),
  finishedAt: instant.nullable(),
  error: z.string().nullable(),
  callback: z
    .strictObject({
      url: z.string(),
      state: z.enum(['waiting', 'pending', 'delivered', 'failed']),
      attempts: z.number().int(),
      lastStatus: z.number().int().nullable(),
      lastError: z.string().nullable(),
      nextAttemptAt: instant.nullable(),
      deliveredAt: instant.nullable(),
    })
    .nullable(),
});

export const jobAcceptedSchema = z.strictObject({
  job: jobSchema,
  poll: z.string().startsWith('/v1/jobs/'),
  results: z.string().endsWith('/results'),
});

export const jobAnswerSchema = z.strictObject({ job: jobSchema });

export const scheduleListSchema = z.strictObject({
  schedules: z.array(
    z.strictObject({
      name: z.string(),
      task: z.string(),
      cron: z.string(),
      timezone: z.string(),
      running: z.boolean(),
      lastRun: z
        .strictObject({
          startedAt: instant.nullable(),
          finishedAt: instant.nullable(),
          outcome: z.enum(['succeeded', 'failed', 'interrupted']).nullable(),
          summary: z
            .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))
            .nullable(),
          error: z.string().nullable(),
        })
        .nullable(),
      nextRun: instant.nullable(),
      skippedRuns: z.number().int(),
      lastSkippedAt: instant.nullable(),
    }),
  ),
});
