import {
  type CallHandler,
  type ExecutionContext,
  Injectable,
  Logger,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import type { Observable } from 'rxjs';
import { RpcClient } from '#bus';
import { type AccessContext, ruleOf } from './access.guard.js';
import { UNSAFE_METHODS } from './authenticator.js';

/**
 * SPEC 4.3: every admin and run action is in the audit log with the token's `sub`. Each state-changing request
 * to a `run` or `admin` route is recorded once it is answered, with its status, by the orchestrator
 * (`audit.record`). Recorded after the answer, so an entry says what happened; an entry the orchestrator cannot
 * take (it is away, which also fails most of these actions) is logged here instead.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  private readonly logger = new Logger(AuditInterceptor.name);

  constructor(
    private readonly reflector: Reflector,
    private readonly rpc: RpcClient,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = context.switchToHttp().getRequest<Request & { access?: AccessContext }>();
    const rule = ruleOf(this.reflector, context);
    if (UNSAFE_METHODS.has(req.method) && (rule.kind === 'run' || rule.kind === 'admin')) {
      const res = context.switchToHttp().getResponse<Response>();
      res.once('finish', () => this.record(req, res.statusCode));
    }
    return next.handle();
  }

  private record(req: Request & { access?: AccessContext }, status: number): void {
    const route = (req.route as { path?: string } | undefined)?.path ?? req.path;
    const entry = {
      ...(req.access?.grants.subject ? { actor: req.access.grants.subject } : {}),
      action: `${req.method} ${route}`,
      path: req.path,
      status,
      params: { ...req.params } as Record<string, string>,
    };
    this.rpc
      .call('audit.record', entry)
      .catch((error: unknown) =>
        this.logger.error(
          { ...entry, err: error instanceof Error ? error.message : String(error) },
          'could not record an audit entry',
        ),
      );
  }
}
