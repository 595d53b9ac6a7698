import { type DynamicModule, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { BullModule } from '@nestjs/bullmq';
import { SETTINGS, type Settings } from '#platform';
import { redisConnection } from './redis-connection.js';
import { allQueueNames } from './queue-names.js';
import { RedisLink } from './redis-link.js';

/**
 * The BullMQ queues (contracts' QUEUE_NAMES and the agent queues) on REDIS_URL under QUEUE_PREFIX. The orchestrator works them;
 * the gateway shows them on the board. Queues are injected with `@InjectQueue(name)`.
 */
@Module({})
export class QueuesModule {
  static forRoot(settings: Settings): DynamicModule {
    return {
      module: QueuesModule,
      global: true,
      imports: [
        BullModule.forRootAsync({
          inject: [SETTINGS],
          useFactory: (settings: Settings) => ({
            connection: redisConnection(settings.redis.url),
            prefix: settings.queues.prefix,
          }),
        }),
        BullModule.registerQueue(...allQueueNames(settings).map((name) => ({ name }))),
        DiscoveryModule,
      ],
      providers: [RedisLink],
      exports: [BullModule, RedisLink],
    };
  }
}
