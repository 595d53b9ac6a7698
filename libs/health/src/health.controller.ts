import { Access } from '#platform';
import { Controller, Get, Inject, Logger, Optional, ServiceUnavailableException } from '@nestjs/common';
import {
  HealthCheck,
  HealthCheckService,
  type HealthIndicatorFunction,
  HealthIndicatorService,
} from '@nestjs/terminus';
import { Bus } from '#bus';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';

/** More readiness checks a service adds (the orchestrator: PostgreSQL and Redis). */
export const READINESS_CHECKS = Symbol('READINESS_CHECKS');

/** `/healthz` and `/readyz`, the same in every service; the container health checks and Kubernetes probes use them. */
@Controller()
@ApiTags('health')
export class HealthController {
  private readonly logger = new Logger(HealthController.name);
  /** What failed at the last probe, so a change is logged once rather than every probe. */
  private failing?: string;

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly bus: Bus,
    @Optional() @Inject(READINESS_CHECKS) private readonly checks: HealthIndicatorFunction[] = [],
  ) {}

  /** Liveness: the process answers. */
  @Access.public()
  @Get('healthz')
  @ApiOperation({ summary: 'Liveness: the process answers' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: NATS is connected (every stream and query goes through it), and the service's own checks pass. */
  @Access.public()
  @Get('readyz')
  @ApiOperation({
    summary: 'Readiness: NATS, and what else the service needs (live SSE delivery, PostgreSQL, Redis)',
  })
  @ApiResponse({ status: 503, description: 'not ready: the body names each check that failed' })
  @HealthCheck()
  async ready() {
    try {
      const result = await this.check();
      if (this.failing !== undefined) this.logger.log({ was: this.failing }, 'ready again');
      this.failing = undefined;
      return result;
    } catch (error) {
      const failing = describeFailure(error);
      if (failing !== this.failing) this.logger.warn({ failing }, 'not ready');
      this.failing = failing;
      throw error;
    }
  }

  private check() {
    return this.health.check([
      () => {
        const nats = this.indicators.check('nats');
        return this.bus.isConnected() ? nats.up() : nats.down({ message: 'not connected to NATS' });
      },
      ...this.checks,
    ]);
  }
}

/** The checks that are down, with their messages, from terminus's 503. */
function describeFailure(error: unknown): string {
  if (!(error instanceof ServiceUnavailableException)) return String(error);
  const body = error.getResponse() as { error?: Record<string, { message?: string }> };
  return Object.entries(body.error ?? {})
    .map(([name, detail]) => (detail.message ? `${name}: ${detail.message}` : name))
    .join('; ');
}
