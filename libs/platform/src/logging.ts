import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteInfo } from '@nestjs/common/interfaces/middleware/middleware-configuration.interface.js';
import type { Params } from 'nestjs-pino';
import type { Settings } from './settings.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * pino for every service: JSON lines (pretty on a terminal), `service` on every line, and on HTTP requests a
 * `correlation_id` taken from `X-Request-Id` (or made up) and echoed back.
 */
export function loggerParams(settings: Settings, service: string, unlogged: RouteInfo[] = []): Params {
  const options = {
    level: settings.log.level,
    base: { service },
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
