import { applyDecorators } from '@nestjs/common';
import { ApiOperation, ApiProperty, ApiResponse } from '@nestjs/swagger';

/** Every error answer (SPEC 4.1). */
export class ErrorBody {
  @ApiProperty({ example: 'INVALID_ID', description: 'a stable code' }) error: string;
  @ApiProperty({ example: 'invalid build id "a.b"', description: 'what is wrong, for a person' })
  message: string;
}

type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 429 | 503;

/** Said of most endpoints: the orchestrator answers them over NATS. */
export const UNAVAILABLE =
  'NATS or the orchestrator is away (`BUS_UNAVAILABLE`, `SERVICE_UNAVAILABLE`); `Retry-After` says when to try again';

/**
 * An operation's summary and its error answers, in one decorator, so an endpoint is never documented without
 * them (test/integration/openapi.test.ts holds every operation to it).
 */
export function ApiDoc(summary: string, errors: Partial<Record<ErrorStatus, string>>, description?: string) {
  return applyDecorators(
    ApiOperation({ summary, ...(description ? { description } : {}) }),
    ...Object.entries(errors).map(([status, text]) =>
      ApiResponse({ status: Number(status), description: text, type: ErrorBody }),
    ),
  );
}
