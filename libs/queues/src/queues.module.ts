import { type DynamicModule, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { BullModule } from '@nestjs/bullmq';
import { agentQueueName, BUILT_IN_ROLES, QUEUE_NAMES } from '#contracts';
import { SETTINGS, type Settings } from '#platform';
import { redisConnection } from './redis-connection.js';
import { RedisLink } from './redis-link.js';

/** The roles with an agent queue from the start: the built-in ones and those AGENT_CONCURRENCY names. */
export function agentRoles(settings: Settings): string[] {
  return [
    ...new Set([...BUILT_IN_ROLES, ...Object.keys(settings.agents.concurrency).filter((r) => r !== '*')]),
  ];
}

/** Every queue of an installation: the trigger queues and the agent queues (SPEC 6.3), for the board. */
export function allQueueNames(settings: Settings): string[] {
  return [...QUEUE_NAMES, ...agentRoles(settings).map(agentQueueName)];
}

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
