/**
 * The one catalogue of API error codes. Every error answer has the shape
 * `{ "error": { "code", "message", "details" } }`; the README's error table
 * lists these codes (a test keeps them in step).
 */
export const API_ERRORS = {
  unauthorized: { status: 401, message: 'a valid API key is required (Authorization: Bearer)' },
  forbidden: { status: 403, message: 'this API key may not do that' },
  not_found: { status: 404, message: 'no such resource' },
  method_not_allowed: { status: 405, message: 'method not allowed on this path' },
  not_acceptable: { status: 406, message: 'no acceptable representation' },
  conflict: { status: 409, message: 'the resource is not in a state that allows this' },
  payload_too_large: { status: 413, message: 'the request body or batch is too large' },
  unsupported_media_type: { status: 415, message: 'unsupported content type' },
  validation_failed: { status: 422, message: 'the request is not valid' },
  rate_limited: { status: 429, message: 'too many requests; retry after the advised wait' },
  quota_exceeded: { status: 429, message: 'the daily quota of this API key is used up' },
  internal: { status: 500, message: 'internal error' },
  upstream_failed: { status: 502, message: 'the provider refused or failed the request' },
  unavailable: { status: 503, message: 'the service is shutting down or not ready' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

export class ApiError extends Error {
  readonly status: number;

  constructor(
    readonly code: ApiErrorCode,
    message?: string,
    readonly details: unknown = null,
    /** Seconds, sent as Retry-After on 429 and 503. */
    readonly retryAfter: number | null = null,
  ) {
    super(message ?? API_ERRORS[code].message);
    this.name = 'ApiError';
    this.status = API_ERRORS[code].status;
  }

  toBody(): { error: { code: ApiErrorCode; message: string; details: unknown } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}
