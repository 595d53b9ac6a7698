import { type DynamicModule, Module } from '@nestjs/common';
import { compilePublishedSchemas } from '#contracts';
import type { RouteInfo } from '@nestjs/common/interfaces/middleware/middleware-configuration.interface.js';
import { LoggerModule } from 'nestjs-pino';
import { CLOCK, type Clock, systemClock } from './clock.js';
import { loggerParams } from './logging.js';
import type { Settings } from './settings.js';

/** Injection token of the validated Settings object. */
export const SETTINGS = Symbol('SETTINGS');

export interface PlatformOptions {
  clock?: Clock;
  /** Routes without a request logger: long-lived streams, which would each hold one for their whole life. */
  unloggedRoutes?: RouteInfo[];
}

/** Settings, logging and the clock, the same in every service. */
@Module({})
export class PlatformModule {
  static forRoot(settings: Settings, service: string, options: PlatformOptions = {}): DynamicModule {
    const clock = options.clock ?? systemClock;
    return {
      module: PlatformModule,
      global: true,
      imports: [LoggerModule.forRoot(loggerParams(settings, service, options.unloggedRoutes))],
      providers: [
        { provide: SETTINGS, useValue: settings },
        { provide: CLOCK, useValue: clock },
        // the event schemas compiled at the start (about 150 ms), not on the first event
        { provide: 'PUBLISHED_SCHEMAS', useFactory: () => compilePublishedSchemas() },
      ],
      exports: [SETTINGS, CLOCK],
    };
  }
}
