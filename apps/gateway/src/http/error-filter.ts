import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import type { Response } from 'express';
import { GuardkitError } from '#contracts';

/** How each error code shows over HTTP; a code not listed is a 500. */
const STATUS_BY_CODE: Record<string, number> = {
  INVALID_ID: HttpStatus.BAD_REQUEST,
  INVALID_PAYLOAD: HttpStatus.BAD_REQUEST,
  NOT_FOUND: HttpStatus.NOT_FOUND,
  TRIGGER_RATE_LIMITED: HttpStatus.TOO_MANY_REQUESTS,
  SERVICE_UNAVAILABLE: HttpStatus.SERVICE_UNAVAILABLE,
  BUS_UNAVAILABLE: HttpStatus.SERVICE_UNAVAILABLE,
};

/** SPEC 4.1: every error is JSON `{error, message}` with the status that fits. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(ErrorFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const { status, body } = this.describe(exception);
    if (status >= 500) this.logger.error({ err: exception }, 'request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
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
