import { type DynamicModule, Module } from '@nestjs/common';
import { Processor } from '@nestjs/bullmq';
import type { WorkerOptions } from 'bullmq';
import { TRIGGERS_QUEUE } from '#contracts';
import type { Settings } from '#platform';
import { AuditLog } from '../audit/audit-log.js';
import { InstallationModule } from '../installation/installation.module.js';
import { RelayModule } from '../relay/relay.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { CommandRunner } from './delivery/command-runner.js';
import { DELIVERY_ADAPTER, type DeliveryAdapter } from './delivery/delivery.js';
import { TmuxAdapter } from './delivery/tmux-adapter.js';
import { DeadLetterProcessor } from './dead-letter-processor.js';
import { TriggerDispatcher } from './trigger-dispatcher.js';
import { TriggerLedger } from './trigger-ledger.js';
import { TriggerMetrics } from './trigger-metrics.js';
import { retryDelay } from './trigger-policy.js';
import { TriggerProcessor } from './trigger-processor.js';
import { TriggerQueue } from './trigger-queue.js';
import { TriggerService } from './trigger-service.js';

/** The worker's options from the settings: concurrency, how soon a dead worker's job is taken over, backoff. */
export function triggerWorkerOptions(settings: Settings): Partial<WorkerOptions> {
  const policy = settings.triggers;
  return {
    concurrency: policy.concurrency,
    lockDuration: policy.lockMs,
    stalledInterval: policy.lockMs,
    maxStalledCount: 1,
    settings: { backoffStrategy: (attemptsMade: number) => retryDelay(attemptsMade, policy) },
  };
}

@Module({})
export class TriggersModule {
  /**
   * `deliveryAdapter` replaces tmux (the benchmark uses an in-memory one). @Processor's options are static,
   * so the worker class is decorated here, once the settings are known.
   */
  static forRoot(settings: Settings, deliveryAdapter?: DeliveryAdapter): DynamicModule {
    class TriggerWorker extends TriggerProcessor {}
    Processor(TRIGGERS_QUEUE, triggerWorkerOptions(settings))(TriggerWorker);
    return {
      module: TriggersModule,
      // the installation check comes first: no worker starts on queues another installation works
      imports: [InstallationModule, SessionsModule, RelayModule],
      providers: [
        AuditLog,
        CommandRunner,
        TriggerLedger,
        TriggerMetrics,
        TriggerQueue,
        TriggerDispatcher,
        TriggerService,
        TriggerWorker,
        DeadLetterProcessor,
        deliveryAdapter
          ? { provide: DELIVERY_ADAPTER, useValue: deliveryAdapter }
          : { provide: DELIVERY_ADAPTER, useClass: TmuxAdapter },
      ],
    };
  }
}
