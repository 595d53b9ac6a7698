import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller.js';

@Module({})
export class HealthModule {
  /** `checks` provides READINESS_CHECKS (a factory of HealthIndicatorFunction[]), if the service has more. */
  static forRoot(checks?: Provider): DynamicModule {
    return {
      module: HealthModule,
      imports: [TerminusModule],
      controllers: [HealthController],
      providers: checks ? [checks] : [],
    };
  }
}
