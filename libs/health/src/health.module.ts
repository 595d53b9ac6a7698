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
      imports: [TerminusModule, ...imports],
      controllers: [HealthController],
      providers: checks ? [checks] : [],
    };
  }
}
