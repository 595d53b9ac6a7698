import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { CLOCK, type Clock, systemClock } from './clock.js';
import { loggerParams } from './logging.js';
import type { Settings } from './settings.js';

/** Injection token of the validated Settings object. */
export const SETTINGS = Symbol('SETTINGS');

/** Settings, logging and the clock, the same in every service. */
@Module({})
export class PlatformModule {
  static forRoot(settings: Settings, service: string, clock: Clock = systemClock): DynamicModule {
    return {
      module: PlatformModule,
      global: true,
      imports: [LoggerModule.forRoot(loggerParams(settings, service))],
      providers: [
        { provide: SETTINGS, useValue: settings },
        { provide: CLOCK, useValue: clock },
      ],
      exports: [SETTINGS, CLOCK],
    };
  }
}
