import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { loggerParams } from './logging.js';
import type { Settings } from './settings.js';

/** Injection token of the validated Settings object. */
export const SETTINGS = Symbol('SETTINGS');

/** Settings and logging, the same in every service. */
@Module({})
export class PlatformModule {
  static forRoot(settings: Settings, service: string): DynamicModule {
    return {
      module: PlatformModule,
      global: true,
      imports: [LoggerModule.forRoot(loggerParams(settings, service))],
      providers: [{ provide: SETTINGS, useValue: settings }],
      exports: [SETTINGS],
    };
  }
}
