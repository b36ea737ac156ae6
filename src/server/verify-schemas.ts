/**
 * The shapes of /v1/verify: what callers send (validated with these
 * schemas) and what they get back (the same result object as
 * `mailverify check --json`). The OpenAPI document's examples are checked
 * against them.
 */
import { z } from 'zod';

import { API_ERRORS } from './api-error.js';
import type { ApiErrorCode } from './api-error.js';
import { REASONS } from '../verify/types.js';
import type { Stage, VerificationResult } from '../verify/types.js';

/** Addresses in one POST /v1/verify; more belong in a job. */
export const MAX_VERIFY_BATCH = 100;
/** Far above RFC 5321's 254 octets: longer input is surely not an address. */
const MAX_EMAIL_LENGTH = 1024;

const email = z.string().min(1).max(MAX_EMAIL_LENGTH);
const timeoutSeconds = z.number().finite().nonnegative();

export const verifyQuerySchema = z.object({
  email,
  timeout: z.preprocess(emptyToUndefined, z.coerce.number().pipe(timeoutSeconds).optional()),
});

export const verifyBatchSchema = z.strictObject({
  emails: z.array(email).min(1).max(MAX_VERIFY_BATCH),
  timeout: timeoutSeconds.optional(),
});

const STAGES = [
  'syntax',
  'dns',
  'guard',
  'connect',
  'banner',
  'ehlo',
  'tls',
  'mail',
  'rcpt',
] as const satisfies readonly Stage[];

export const verificationResultSchema = z.strictObject({
  email: z.string(),
  normalized: z.string().nullable(),
  verdict: z.enum(['deliverable', 'undeliverable', 'risky', 'unknown']),
  reason: z.enum(REASONS),
  score: z.number().int().min(0).max(100),
  flags: z.strictObject({
    role: z.boolean(),
    free: z.boolean(),
    disposable: z.boolean(),
    catchAll: z.boolean().nullable(),
    smtputf8: z.boolean(),
  }),
  suggestion: z.string().nullable(),
  mx: z.array(z.strictObject({ host: z.string(), preference: z.number().int() })),
  evidence: z
    .strictObject({
      stage: z.enum(STAGES),
      host: z.string().nullable(),
      ip: z.string().nullable(),
      code: z.number().int().nullable(),
      enhancedCode: z.string().nullable(),
      text: z.string().nullable(),
      attempts: z.number().int(),
    })
    .nullable(),
  durationMs: z.number().nonnegative(),
  checkedAt: z.iso.datetime(),
});

/** The job part of a 202 answer: the job store's summary, at least its id. */
const jobReferenceSchema = z.looseObject({ id: z.string().min(1) });

export const verifyPendingSchema = z.strictObject({
  status: z.literal('pending'),
  job: jobReferenceSchema,
  poll: z.string().startsWith('/v1/jobs/'),
});

export const verifyBatchAnswerSchema = z.strictObject({
  results: z.array(verificationResultSchema),
});

export const verifyBatchPendingSchema = verifyPendingSchema.extend({
  results: z.array(verificationResultSchema),
  pending: z.array(z.string()),
});

const errorCodes = Object.keys(API_ERRORS) as [ApiErrorCode, ...ApiErrorCode[]];

export const errorBodySchema = z.strictObject({
  error: z.strictObject({
    code: z.enum(errorCodes),
    message: z.string(),
    details: z.unknown(),
  }),
});

// The schema and the shared vocabulary must describe the same object.
type SchemaResult = z.infer<typeof verificationResultSchema>;
const sameShape: [SchemaResult, VerificationResult] extends [VerificationResult, SchemaResult]
  ? true
  : never = true;
void sameShape;

function emptyToUndefined(value: unknown): unknown {
  return value === '' ? undefined : value;
}
