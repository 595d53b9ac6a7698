import { AuditModule } from './audit/audit.module.js';
import { type DynamicModule, Module } from '@nestjs/common';
import { getQueueToken } from '@nestjs/bullmq';
import { HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import type { Queue } from 'bullmq';
import { TRIGGERS_QUEUE } from '#contracts';
import { BusModule } from '#bus';
import { HealthModule, MetricsModule, READINESS_CHECKS, startHeadless } from '#health';
import { StreamMetrics } from './streams/stream-metrics.js';
import { type Clock, PlatformModule, type Settings, systemClock } from '#platform';
import { QueuesModule } from '#queues';
import { BuildsModule } from './builds/builds.module.js';
import { DatabaseModule } from './database/database.module.js';
import { OutboxModule } from './outbox/outbox.module.js';
import { AutoAppDevModule } from './autoappdev/autoappdev.module.js';
import { PipelinesModule } from './pipelines/pipelines.module.js';
import { WorkflowsModule } from './workflows/workflows.module.js';
import { RetentionModule } from './retention/retention.module.js';
import type { DeliveryAdapter } from './triggers/delivery/delivery.js';
import { TriggersModule } from './triggers/triggers.module.js';

/** What tests and benchmarks may replace: the clock of time-based rules, the delivery adapter. */
export interface OrchestratorOptions {
  clock?: Clock;
  deliveryAdapter?: DeliveryAdapter;
}

/** Readiness past NATS: PostgreSQL answers, and Redis answers for the trigger queues. */
const readinessChecks = {
  provide: READINESS_CHECKS,
  inject: [TypeOrmHealthIndicator, HealthIndicatorService, getQueueToken(TRIGGERS_QUEUE)],
  useFactory: (db: TypeOrmHealthIndicator, indicators: HealthIndicatorService, queue: Queue) => [
    () => db.pingCheck('postgres', { timeout: 2000 }),
    async () => {
      const redis = indicators.check('redis');
      try {
        // BullMQ's connection queues commands while Redis is away (it never gives up): bound the wait
        await Promise.race([
          queue.getJobCountByTypes('wait'),
          new Promise((_, reject) =>
            setTimeout(() => reject(new Error('Redis did not answer in 2 s')), 2000).unref(),
          ),
        ]);
        return redis.up();
      } catch (error) {
        return redis.down({ message: error instanceof Error ? error.message : String(error) });
      }
    },
  ],
};

@Module({})
export class OrchestratorModule {
  static forRoot(settings: Settings, options: OrchestratorOptions = {}): DynamicModule {
    return {
      module: OrchestratorModule,
      imports: [
        PlatformModule.forRoot(settings, 'orchestrator', { clock: options.clock ?? systemClock }),
        BusModule.forRoot('orchestrator'),
        QueuesModule.forRoot(settings),
        DatabaseModule,
        BuildsModule,
        OutboxModule,
        RetentionModule,
        TriggersModule.forRoot(settings, options.deliveryAdapter),
        PipelinesModule,
        WorkflowsModule,
        AutoAppDevModule,
        AuditModule,
        MetricsModule.forRoot('orchestrator'),
        HealthModule.forRoot(readinessChecks),
      ],
      providers: [StreamMetrics],
    };
  }
}

/** The orchestrator has no API of its own (it talks NATS, PostgreSQL and Redis); HEALTH_PORT opens its probes. */
export async function createOrchestrator(settings: Settings, options: OrchestratorOptions = {}) {
  const db = new URL(settings.database.url);
  const redis = new URL(settings.redis.url);
  return startHeadless(
    OrchestratorModule.forRoot(settings, options),
    settings.healthPort,
    `orchestrator ready: builds and outbox into PostgreSQL ${db.host}${db.pathname}, ` +
      `triggers on Redis ${redis.host} (prefix ${settings.queues.prefix})`,
  );
}
