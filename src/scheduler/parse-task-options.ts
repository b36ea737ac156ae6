/**
 * A scheduled task's options come from the configuration as untyped JSON;
 * each task checks them with its own schema and fails the run, listing
 * every problem, when they do not fit.
 */
import type { z } from 'zod';

import type { TaskOutcome } from './scheduler.js';

export type ParsedOptions<T> = { ok: true; options: T } | { ok: false; outcome: TaskOutcome };

export function parseTaskOptions<T extends z.ZodType>(
  schema: T,
  raw: unknown,
): ParsedOptions<z.infer<T>> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, options: parsed.data };

  const problems = parsed.error.issues.map(
    (issue) => `${issue.path.join('.') || 'options'}: ${issue.message}`,
  );
  const error = `invalid options: ${problems.join('; ')}`;
  return { ok: false, outcome: { outcome: 'failed', summary: {}, error } };
}
