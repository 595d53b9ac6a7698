import { Injectable } from '@nestjs/common';
import { Histogram, Registry } from 'prom-client';
import { ServiceMetrics } from '#health';
import type { TriggerAttemptEntity } from './trigger.entities.js';
import { TriggerLedger } from './trigger-ledger.js';
import { TriggerQueue } from './trigger-queue.js';
import { sampleQueues } from '../queue-metrics.js';

/**
 * The orchestrator's trigger metrics: triggers by state and decision and the queues' depth and oldest waiting
 * job, read at each scrape (PostgreSQL and Redis hold the truth); how long each attempt took, as it finishes.
 */
@Injectable()
export class TriggerMetrics {
  private readonly registry = new Registry();
  private readonly attemptSeconds = new Histogram({
    name: 'guardkit_trigger_attempt_duration_seconds',
    help: 'How long a trigger attempt (a hop of the fallback chain) took, by step and result',
    labelNames: ['step', 'result'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  constructor(metrics: ServiceMetrics, ledger: TriggerLedger, queues: TriggerQueue) {
    metrics.include(this.registry);
    metrics.sample(
      'guardkit_triggers',
      'Triggers by state and decision (from PostgreSQL, at scrape)',
      ['state', 'decision'],
      async (set) => {
        for (const row of await ledger.countByStateAndDecision())
          set({ state: row.state, decision: row.decision }, row.count);
      },
    );
    sampleQueues(metrics, () => [queues.triggers, queues.dead]);
  }

  /** An attempt that has finished (its result and finish time recorded). */
  attemptFinished(attempt: TriggerAttemptEntity): void {
    if (!attempt.finishedAt) return;
    const seconds = (attempt.finishedAt.getTime() - attempt.startedAt.getTime()) / 1000;
    this.attemptSeconds.observe({ step: attempt.step, result: attempt.result }, Math.max(0, seconds));
  }
}
