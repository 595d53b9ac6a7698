import { type DynamicModule, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { BusModule } from '#bus';
import { PlatformModule, type Settings } from '#platform';
import { BuildsModule } from './builds/builds.module.js';
import { DatabaseModule } from './database/database.module.js';
import { OutboxModule } from './outbox/outbox.module.js';

@Module({})
export class OrchestratorModule {
  static forRoot(settings: Settings): DynamicModule {
    return {
      module: OrchestratorModule,
      imports: [
        PlatformModule.forRoot(settings, 'orchestrator'),
        BusModule.forRoot('orchestrator'),
        DatabaseModule,
        BuildsModule,
        OutboxModule,
      ],
    };
  }
}

/** The orchestrator has no HTTP port of its own: it talks NATS and PostgreSQL. */
export async function createOrchestrator(settings: Settings) {
  const app = await NestFactory.createApplicationContext(OrchestratorModule.forRoot(settings), {
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  await app.init();
  return app;
}
