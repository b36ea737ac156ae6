/**
 * The end of the middleware chain: an unmatched path is `not_found` (or
 * `method_not_allowed` when another method would match), and every error
 * becomes the one error shape of the catalogue. Only `internal` errors are
 * logged with their stack; the answer never carries it.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { ZodError } from 'zod';

import { ApiError } from './api-error.js';
import type { RouteTable } from './route-table.js';

export interface FieldProblem {
  /** Dotted path of the field, e.g. "emails.3"; "" for the whole body. */
  path: string;
  message: string;
}

interface ParserError {
  type?: string;
  limit?: number;
  message: string;
}

export function answerUnmatched(routes: () => RouteTable): RequestHandler {
  return (req, res) => {
    const allowed = routes().methodsFor(req.path);
    if (allowed.length === 0) throw new ApiError('not_found');

    res.setHeader('Allow', allowed.join(', '));
    throw new ApiError('method_not_allowed', undefined, { allowed });
  };
}

export function handleErrors(fallbackLogger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const logger = (res.locals.logger as Logger | undefined) ?? fallbackLogger;
    if (res.headersSent) {
      // Mid-stream: the status is gone, so the only honest signal is a
      // connection that ends without the rest of the body.
      logger.error({ err: error }, 'error after the answer began');
      res.destroy();
      return;
    }

    let answer = toApiError(error);
    if (!answer) {
      logger.error({ err: error, method: req.method, path: req.path }, 'unexpected error');
      answer = new ApiError('internal');
    }
    if (answer.retryAfter !== null) res.setHeader('Retry-After', String(answer.retryAfter));
    res.status(answer.status).json(answer.toBody());
  };
}

/** Lists every bad field of a zod error, the way `validation_failed` details do. */
export function listProblems(error: ZodError): FieldProblem[] {
  return error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
}

function toApiError(error: unknown): ApiError | null {
  if (error instanceof ApiError) return error;
  if (error instanceof ZodError) {
    return new ApiError('validation_failed', undefined, listProblems(error));
  }

  // body-parser marks its errors with a type:
  // https://github.com/expressjs/body-parser#errors
  const parserError = error as ParserError;
  switch (parserError.type) {
    case 'entity.too.large':
      return new ApiError('payload_too_large', undefined, { limitBytes: parserError.limit });
    case 'entity.parse.failed':
      return new ApiError('validation_failed', 'the body is not valid JSON', [
        { path: '', message: parserError.message },
      ]);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new ApiError('unsupported_media_type', parserError.message);
    case 'request.size.invalid':
      return new ApiError('validation_failed', 'the body is shorter than its Content-Length');
    case 'request.aborted':
      return new ApiError('validation_failed', 'the client stopped sending the body');
    default:
      return null;
  }
}
