import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteInfo } from '@nestjs/common/interfaces/middleware/middleware-configuration.interface.js';
import type { Params } from 'nestjs-pino';
import type { Settings } from './settings.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
/** Never written, whatever the level: credentials. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
];

type LoggedRequest = IncomingMessage & { id?: unknown; originalUrl?: string };

/** The request's URL as logged: a token in the query string (GATEWAY_ALLOW_QUERY_TOKEN) never reaches a log. */
function loggedUrl(req: LoggedRequest): string {
  return (req.originalUrl ?? req.url ?? '').replace(/([?&]access_token=)[^&]*/gi, '$1[redacted]');
}
/** What pino-http's standard serializer made of a response (it wraps ours). */
interface SerializedResponse {
  statusCode?: number;
  headers?: Record<string, unknown>;
}

/**
 * pino for every service: JSON lines (pretty on a terminal), `service` on every line, and on HTTP requests a
 * `correlation_id` taken from `X-Request-Id` (or made up) and echoed back. A request is one short line at INFO
 * (`GET /builds 200 3ms`, with its id); its headers only at DEBUG, and credentials never.
 */
export function loggerParams(settings: Settings, service: string, unlogged: RouteInfo[] = []): Params {
  const withHeaders = settings.log.debug;
  const options = {
    level: settings.log.level,
    base: { service },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    // The request's own logger carries only its id, not the whole request again.
    quietReqLogger: true,
    serializers: {
      req: (req: LoggedRequest) => ({
        id: req.id,
        method: req.method,
        url: loggedUrl(req),
        ...(withHeaders ? { headers: req.headers } : {}),
      }),
      res: (res: SerializedResponse) => ({
        statusCode: res.statusCode,
        ...(withHeaders ? { headers: res.headers } : {}),
      }),
    },
    customSuccessMessage: (req: LoggedRequest, res: ServerResponse, ms: number) =>
      `${req.method} ${loggedUrl(req)} ${res.statusCode} ${Math.round(ms)}ms`,
    customErrorMessage: (req: LoggedRequest, res: ServerResponse, error: Error) =>
      `${req.method} ${loggedUrl(req)} ${res.statusCode}: ${error.message}`,
    customLogLevel: (_req: IncomingMessage, res: ServerResponse, error?: Error) =>
      error || res.statusCode >= 500 ? 'warn' : 'info',
    transport: settings.log.pretty
      ? {
          target: 'pino-pretty',
          options: { singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' },
        }
      : undefined,
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    customProps: (req: IncomingMessage) => ({
      correlation_id: (req as IncomingMessage & { id?: unknown }).id,
    }),
    autoLogging: { ignore: (req: IncomingMessage) => QUIET_PATHS.has((req.url ?? '').split('?')[0] ?? '') },
  };
  const destination = settings.log.destination;
  return {
    pinoHttp: destination && !settings.log.pretty ? [options, destination] : options,
    ...(unlogged.length > 0 ? { exclude: unlogged } : {}),
  };
}
