import { Controller, Get, Inject, Optional } from '@nestjs/common';
import {
  HealthCheck,
  HealthCheckService,
  type HealthIndicatorFunction,
  HealthIndicatorService,
} from '@nestjs/terminus';
import { Bus } from '#bus';
import { ApiTags } from '@nestjs/swagger';

/** More readiness checks a service adds (the orchestrator: PostgreSQL and Redis). */
export const READINESS_CHECKS = Symbol('READINESS_CHECKS');

/** `/healthz` and `/readyz`, the same in every service; the container health checks and Kubernetes probes use them. */
@Controller()
@ApiTags('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly bus: Bus,
    @Optional() @Inject(READINESS_CHECKS) private readonly checks: HealthIndicatorFunction[] = [],
  ) {}

  /** Liveness: the process answers. */
  @Get('healthz')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: NATS is connected (every stream and query goes through it), and the service's own checks pass. */
  @Get('readyz')
  @HealthCheck()
  ready() {
    return this.health.check([
      () => {
        const nats = this.indicators.check('nats');
        return this.bus.isConnected() ? nats.up() : nats.down({ message: 'not connected to NATS' });
      },
      ...this.checks,
    ]);
  }
}
