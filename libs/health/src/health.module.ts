import { type DynamicModule, type ModuleMetadata, Module, type Provider } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller.js';

@Module({})
export class HealthModule {
  /**
   * `checks` provides READINESS_CHECKS (a factory of HealthIndicatorFunction[]), if the service has more;
   * `imports` are the modules that factory injects from.
   */
  static forRoot(checks?: Provider, imports: ModuleMetadata['imports'] = []): DynamicModule {
    return {
      module: HealthModule,
      // readiness changes are logged once by the controller, not every failed probe
      imports: [TerminusModule.forRoot({ logger: false }), ...imports],
      controllers: [HealthController],
      providers: checks ? [checks] : [],
    };
  }
}
