import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Subscription } from '@nats-io/nats-core';
import { Bus } from '#bus';
import { ProcessExecutor } from './process-executor.js';

/**
 * Ends a build's processes (a cancelled run or workflow) on every orchestrator: this one's at once, the others'
 * when they hear it on `agents.cancelled`, since a build's jobs may run on any replica.
 */
@Injectable()
export class BuildCancellation implements OnApplicationBootstrap, OnApplicationShutdown {
  private subscription?: Subscription;

  constructor(
    private readonly executor: ProcessExecutor,
    private readonly bus: Bus,
  ) {}

  onApplicationBootstrap(): void {
    this.subscription = this.bus.nc.subscribe(this.bus.subjects.buildCancelled(), {
      callback: (_error, msg) => void this.executor.cancel(msg.string()),
    });
  }

  cancel(buildId: string): void {
    this.executor.cancel(buildId);
    this.bus.nc.publish(this.bus.subjects.buildCancelled(), buildId);
  }

  onApplicationShutdown(): void {
    this.subscription?.unsubscribe();
  }
}
