import type { BeforeApplicationShutdown } from '@nestjs/common';
import { WorkerHost } from '@nestjs/bullmq';

/**
 * A WorkerHost that lets its jobs in hand finish on shutdown. @nestjs/bullmq closes workers in
 * onApplicationShutdown, the same phase in which PostgreSQL and NATS close, so a job could lose the
 * connections it needs to record its end; closing here, one phase earlier, waits for it while they are open.
 */
export abstract class DrainingWorkerHost extends WorkerHost implements BeforeApplicationShutdown {
  async beforeApplicationShutdown(): Promise<void> {
    await this.worker.close();
  }
}
