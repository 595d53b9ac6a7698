import { SetMetadata } from '@nestjs/common';

/**
 * What an HTTP route needs from a token's `gk` claim (SPEC 4.3), declared on the route and enforced in one place:
 * the gateway's AccessGuard. Kept here, beside the settings, because shared routes (health, metrics) declare
 * theirs too; in a service without the guard the declaration does nothing.
 *
 * - `public`: no token (liveness, readiness, the dashboard's page itself);
 * - `token`: any valid token; the handler narrows what it answers to the token's grants (lists, feeds);
 * - `build`: the build named by the route parameter `param`;
 * - `outbox`: the outbox source named by the query parameter `param` (or `fallback` when absent; `*`: all);
 * - `trigger`: the agent named by the body field `field` (POST); without one, only a token for every agent;
 * - `run`: starting and controlling pipelines and workflows;
 * - `admin`: the board, dead letters, sessions, agents' concurrency, the audit log, metrics.
 *
 * A route with no rule is treated as `admin`, so a route added without one is closed, not open.
 */
export type AccessRule =
  | { kind: 'public' }
  | { kind: 'token' }
  | { kind: 'build'; param: string }
  | { kind: 'outbox'; param: string; fallback: string }
  | { kind: 'trigger'; field?: string }
  | { kind: 'run' }
  | { kind: 'admin' };

export const ACCESS_RULE = 'guardkit:access-rule';

export const Access = {
  public: () => SetMetadata(ACCESS_RULE, { kind: 'public' } satisfies AccessRule),
  token: () => SetMetadata(ACCESS_RULE, { kind: 'token' } satisfies AccessRule),
  build: (param = 'id') => SetMetadata(ACCESS_RULE, { kind: 'build', param } satisfies AccessRule),
  outbox: (param = 'source', fallback = '*') =>
    SetMetadata(ACCESS_RULE, { kind: 'outbox', param, fallback } satisfies AccessRule),
  trigger: (field?: string) =>
    SetMetadata(ACCESS_RULE, (field ? { kind: 'trigger', field } : { kind: 'trigger' }) satisfies AccessRule),
  run: () => SetMetadata(ACCESS_RULE, { kind: 'run' } satisfies AccessRule),
  admin: () => SetMetadata(ACCESS_RULE, { kind: 'admin' } satisfies AccessRule),
};
