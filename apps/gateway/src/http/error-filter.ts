import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { GuardkitError, ValidationError } from '#contracts';

/** How each error code shows over HTTP; a code not listed is a 500. */
const STATUS_BY_CODE: Record<string, number> = {
  INVALID_ID: HttpStatus.BAD_REQUEST,
  INVALID_PAYLOAD: HttpStatus.BAD_REQUEST,
  NOT_FOUND: HttpStatus.NOT_FOUND,
  TRIGGER_RATE_LIMITED: HttpStatus.TOO_MANY_REQUESTS,
  PAYLOAD_TOO_LARGE: HttpStatus.PAYLOAD_TOO_LARGE,
  THREAD_AUTO_BLOCKED: HttpStatus.CONFLICT,
  CONFLICT: HttpStatus.CONFLICT,
  INVALID_PIPELINE: HttpStatus.BAD_REQUEST,
  INVALID_TRANSITION: HttpStatus.CONFLICT,
  UNAUTHORIZED: HttpStatus.UNAUTHORIZED,
  FORBIDDEN: HttpStatus.FORBIDDEN,
  // AutoAppDev's POST /api/outbox codes, kept as it spells them
  invalid_body: HttpStatus.BAD_REQUEST,
  empty: HttpStatus.BAD_REQUEST,
  too_long: HttpStatus.BAD_REQUEST,
  invalid_json: HttpStatus.BAD_REQUEST,
  SERVICE_UNAVAILABLE: HttpStatus.SERVICE_UNAVAILABLE,
  BUS_UNAVAILABLE: HttpStatus.SERVICE_UNAVAILABLE,
};

/**
 * When to try again: a rate limit counts the last minute (SPEC 5), so a minute is enough; an unavailable
 * orchestrator or NATS is usually back within seconds.
 */
const RETRY_AFTER_SECONDS: Partial<Record<number, number>> = {
  [HttpStatus.TOO_MANY_REQUESTS]: 60,
  [HttpStatus.SERVICE_UNAVAILABLE]: 5,
};

/** SPEC 4.1: every error is JSON `{error, message}` with the status that fits. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(ErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const req = host.switchToHttp().getRequest<Request>();
    const { status, body } = this.describe(unparseableBody(exception, req) ?? exception);
    // Deliberate statuses (an HttpException such as a failed readiness probe) and outages that are logged once
    // where they happen (NATS away, the orchestrator not answering: retryable) are not an error per request.
    const expected =
      exception instanceof HttpException || (exception instanceof GuardkitError && exception.retryable);
    if (status >= 500 && !expected) this.logger.error({ err: exception }, 'request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    const retryAfter = RETRY_AFTER_SECONDS[status];
    if (retryAfter !== undefined) res.setHeader('Retry-After', String(retryAfter));
    res.status(status).json(body);
  }

  private describe(exception: unknown): { status: number; body: { error: string; message: string } } {
    if (exception instanceof GuardkitError) {
      return {
        status: STATUS_BY_CODE[exception.code] ?? HttpStatus.INTERNAL_SERVER_ERROR,
        body: { error: exception.code, message: exception.message },
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      return {
        status,
        body: {
          error: HttpStatus[status] ?? 'HTTP_ERROR',
          message: exception.message,
        },
      };
    }
    return { status: 500, body: { error: 'INTERNAL', message: 'internal error' } };
  }
}

/** Legacy routes whose clients expect their own code for a body that is not JSON (AutoAppDev: `invalid_body`). */
const UNPARSEABLE_BODY_CODES: Record<string, string> = {
  'POST /api/outbox': 'invalid_body',
  'POST /api/scripts/parse': 'invalid_json',
};

class UnparseableBodyError extends GuardkitError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** body-parser refused the body (not JSON, or JSON that is not an object or array): a 400, never a 500. */
function unparseableBody(exception: unknown, req: Request): GuardkitError | undefined {
  if (!(exception instanceof HttpException)) return undefined;
  const cause = exception.cause as { type?: unknown } | undefined;
  if (cause?.type !== 'entity.parse.failed') return undefined;
  const message = `the body is not valid JSON: ${exception.message}`;
  // AutoAppDev answers a body that is not JSON with `invalid_json` on the rest of its /api
  const code =
    UNPARSEABLE_BODY_CODES[`${req.method} ${req.path}`] ??
    (req.path.startsWith('/api/') ? 'invalid_json' : undefined);
  return code ? new UnparseableBodyError(code, message) : new ValidationError(message, ['body']);
}
