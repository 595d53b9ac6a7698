import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { Bus } from '#bus';

@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly bus: Bus,
  ) {}

  /** Liveness: the process answers. */
  @Get('healthz')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: NATS is connected (every stream and query goes through it). */
  @Get('readyz')
  @HealthCheck()
  ready() {
    return this.health.check([
      () => {
        const nats = this.indicators.check('nats');
        return this.bus.isConnected() ? nats.up() : nats.down({ message: 'not connected to NATS' });
      },
    ]);
  }
}
