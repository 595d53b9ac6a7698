import { type DynamicModule, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { BusModule } from '#bus';
import { type Clock, PlatformModule, type Settings, systemClock } from '#platform';
import { QueuesModule } from '#queues';
import { BuildsModule } from './builds/builds.module.js';
import { DatabaseModule } from './database/database.module.js';
import { OutboxModule } from './outbox/outbox.module.js';
import type { DeliveryAdapter } from './triggers/delivery/delivery.js';
import { TriggersModule } from './triggers/triggers.module.js';

/** What tests and benchmarks may replace: the clock of time-based rules, the delivery adapter. */
export interface OrchestratorOptions {
  clock?: Clock;
  deliveryAdapter?: DeliveryAdapter;
}

@Module({})
export class OrchestratorModule {
  static forRoot(settings: Settings, options: OrchestratorOptions = {}): DynamicModule {
    return {
      module: OrchestratorModule,
      imports: [
        PlatformModule.forRoot(settings, 'orchestrator', options.clock ?? systemClock),
        BusModule.forRoot('orchestrator'),
        QueuesModule.forRoot(),
        DatabaseModule,
        BuildsModule,
        OutboxModule,
        TriggersModule.forRoot(settings, options.deliveryAdapter),
      ],
    };
  }
}

/** The orchestrator has no HTTP port of its own: it talks NATS and PostgreSQL. */
export async function createOrchestrator(settings: Settings, options: OrchestratorOptions = {}) {
  const app = await NestFactory.createApplicationContext(OrchestratorModule.forRoot(settings, options), {
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  await app.init();
  return app;
}
