import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { Counter, Registry } from 'prom-client';
import { ServiceMetrics } from '#health';
import { ACCESS_RULE, type AccessRule, SETTINGS, type Settings } from '#platform';
import { Grants } from './grants.js';
import { AccessRefused, Authenticator } from './authenticator.js';
import { type RefusalReason, TokenRefused } from './token-verifier.js';

/** What the guard leaves on the request for the handlers that narrow their answer (lists, feeds). */
export interface AccessContext {
  grants: Grants;
  /** When the token stops being valid (epoch seconds), if it says. */
  expiresAt?: number;
  /** Where the token came from. */
  via: 'header' | 'cookie' | 'query' | 'none';
}

/** The rule a route declares; a route without one is admin-only (closed until its rule is written). */
export function ruleOf(reflector: Reflector, context: ExecutionContext): AccessRule {
  return (
    reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_RULE, [
      context.getHandler(),
      context.getClass(),
    ]) ?? {
      kind: 'admin',
    }
  );
}

/** The grants of the request (every grant when access is open). */
export function grantsOf(req: Request): Grants {
  return (req as Request & { access?: AccessContext }).access?.grants ?? Grants.ALL;
}

/**
 * SPEC 4.3 in one place: with a key set, every route needs what its AccessRule says; a route without a rule is
 * admin-only. Without a key, access is open and every request carries every grant.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  private readonly authenticator?: Authenticator;
  private readonly registry = new Registry();
  private readonly refused = new Counter({
    name: 'guardkit_access_refused_total',
    help: 'Requests refused by access control (SPEC 4.3), by reason: missing, malformed, signature, expired, claims, query (401); forbidden, csrf (403)',
    labelNames: ['reason'],
    registers: [this.registry],
  });

  constructor(
    private readonly reflector: Reflector,
    @Inject(SETTINGS) settings: Settings,
    metrics: ServiceMetrics,
  ) {
    const access = settings.gateway.access;
    if (access) this.authenticator = new Authenticator(access, settings.gateway.allowQueryToken);
    metrics.include(this.registry);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<Request & { access?: AccessContext }>();
    if (!this.authenticator) return true;
    const rule = ruleOf(this.reflector, context);
    if (rule.kind === 'public') return true;
    let verified;
    try {
      verified = await this.authenticator.authenticate(req);
    } catch (error) {
      this.count(
        error instanceof TokenRefused || error instanceof AccessRefused ? error.reason : 'malformed',
      );
      throw error;
    }
    req.access = verified;
    const grants = verified.grants;
    try {
      grants.require(allows(rule, grants, req), describe(rule));
    } catch (error) {
      this.count('forbidden');
      throw error;
    }
    return true;
  }

  private count(reason: RefusalReason): void {
    this.refused.inc({ reason });
  }
}

function allows(rule: Exclude<AccessRule, { kind: 'public' }>, grants: Grants, req: Request): boolean {
  switch (rule.kind) {
    case 'token':
      return true;
    case 'build':
      return grants.canReadBuild(String(req.params[rule.param] ?? ''));
    case 'outbox': {
      const value = req.query[rule.param];
      return grants.canUseOutbox(typeof value === 'string' && value !== '' ? value : rule.fallback);
    }
    case 'trigger': {
      const body = req.body as Record<string, unknown> | undefined;
      const agent = rule.field ? body?.[rule.field] : undefined;
      // without the agent in the request, only a token for every agent (or an admin's) may
      return typeof agent === 'string' ? grants.canTrigger(agent) : grants.canTrigger('*') || grants.admin;
    }
    case 'run':
      return grants.run;
    case 'admin':
      return grants.admin;
  }
}

function describe(rule: AccessRule): string {
  switch (rule.kind) {
    case 'build':
      return 'reading this build';
    case 'outbox':
      return 'this outbox source';
    case 'trigger':
      return 'waking this agent';
    case 'run':
      return 'running pipelines and workflows';
    default:
      return 'this (admin)';
  }
}
