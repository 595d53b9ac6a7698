import { type DynamicModule, Module } from '@nestjs/common';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { BullBoardModule } from '@bull-board/nestjs';
import type { NextFunction, Request, Response } from 'express';
import type { Settings } from '#platform';
import { allQueueNames } from '#queues';
import { ForbiddenError } from '#contracts';
import { Authenticator } from '../access/authenticator.js';

export const BOARD_ROUTE = '/admin/queues';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * With access open (no key set) the board can retry, promote and delete jobs with no login, so it answers only
 * connections from this machine: `ssh -L` or `kubectl port-forward` reach it from elsewhere.
 */
export function loopbackOnly(req: Request, res: Response, next: NextFunction): void {
  if (LOOPBACK.has(req.socket.remoteAddress ?? '')) return next();
  res.status(403).json({
    error: 'FORBIDDEN',
    message: 'the queue board is reachable on loopback only until access control is configured',
  });
}

/** With a key set (SPEC 4.3): an admin token (header or session cookie), from anywhere; Express, outside the guard. */
export function adminOnly(authenticator: Authenticator) {
  return (req: Request, res: Response, next: NextFunction): void => {
    authenticator.authenticate(req).then(
      ({ grants }) => {
        if (grants.admin) return next();
        res.status(403).json({ error: 'FORBIDDEN', message: 'the token does not allow this (admin)' });
      },
      (error: Error) =>
        error instanceof ForbiddenError
          ? res.status(403).json({ error: 'FORBIDDEN', message: error.message })
          : res.status(401).json({ error: 'UNAUTHORIZED', message: error.message }),
    );
  };
}

/** bull-board at /admin/queues with every queue: the trigger queues, their dead letters, the agent queues. */
@Module({})
export class BoardModule {
  static forRoot(settings: Settings): DynamicModule {
    return {
      module: BoardModule,
      imports: [
        BullBoardModule.forRoot({
          route: BOARD_ROUTE,
          adapter: ExpressAdapter,
          middleware: settings.gateway.access
            ? adminOnly(new Authenticator(settings.gateway.access, settings.gateway.allowQueryToken))
            : loopbackOnly,
          boardOptions: { uiConfig: { boardTitle: 'guardkit-stream' } },
        }),
        BullBoardModule.forFeature(
          ...allQueueNames(settings).map((name) => ({ name, adapter: BullMQAdapter })),
        ),
      ],
    };
  }
}
