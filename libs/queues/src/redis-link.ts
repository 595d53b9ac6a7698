import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { DiscoveryService, ModuleRef } from '@nestjs/core';
import { getQueueToken, WorkerHost } from '@nestjs/bullmq';
import type { Queue, Worker } from 'bullmq';
import { SETTINGS, type Settings } from '#platform';
import { allQueueNames } from './queue-names.js';

/** How often a lost Redis is asked again, to say once when it is back. */
const PROBE_MS = 1000;

/**
 * Says once that Redis stopped answering, and once that it is back. BullMQ's queues and workers report every
 * failed reconnect (a bare `ECONNREFUSED` every few seconds, printed to stderr by a worker with no listener);
 * they are all heard here and turned into those two lines. Readiness says the same meanwhile (the orchestrator
 * checks Redis).
 */
@Injectable()
export class RedisLink implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Redis');
  private probe?: NodeJS.Timeout;
  private queues: Queue[] = [];

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly discovery: DiscoveryService,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onApplicationBootstrap(): void {
    this.queues = allQueueNames(this.settings).map((name) =>
      this.moduleRef.get<Queue>(getQueueToken(name), { strict: false }),
    );
    for (const queue of this.queues) queue.on('error', (error) => this.lost(error));
    for (const wrapper of this.discovery.getProviders()) {
      const host: unknown = wrapper.instance;
      if (host instanceof WorkerHost) (host.worker as Worker).on('error', (error: Error) => this.lost(error));
    }
  }

  /** Hears the errors of a queue, worker or event listener made outside the module (the agent queues). */
  watch(emitter: { on(event: 'error', listener: (error: Error) => void): unknown }): void {
    emitter.on('error', (error: Error) => this.lost(error));
  }

  onModuleDestroy(): void {
    clearInterval(this.probe);
  }

  private lost(error: Error): void {
    if (this.probe) return; // said already
    const { hostname, port } = new URL(this.settings.redis.url);
    this.logger.warn(
      { err: error.message },
      `Redis is not answering at ${hostname}:${port || 6379} (REDIS_URL); retrying, and saying once when it is back`,
    );
    this.probe = setInterval(() => void this.check(), PROBE_MS);
    this.probe.unref();
  }

  private async check(): Promise<void> {
    try {
      await this.queues[0]?.getJobCountByTypes('wait');
    } catch {
      return;
    }
    if (!this.probe) return; // another probe, queued while Redis was away, said it first
    clearInterval(this.probe);
    this.probe = undefined;
    this.logger.log('Redis answers again');
  }
}
