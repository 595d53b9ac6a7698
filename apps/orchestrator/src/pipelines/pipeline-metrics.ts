import { Injectable } from '@nestjs/common';
import { Histogram, Registry } from 'prom-client';
import { ServiceMetrics } from '#health';
import { AgentQueues } from '../agents/agent-queues.js';
import { sampleQueues } from '../queue-metrics.js';
import { PipelineRepository } from './pipeline-repository.js';

/**
 * Pipelines on /metrics: runs by state (PostgreSQL, at scrape), the agent queues' depth and oldest waiting job
 * (Redis, at scrape, under the same names as the trigger queues), and how long each action execution took.
 */
@Injectable()
export class PipelineMetrics {
  private readonly registry = new Registry();
  private readonly actionSeconds = new Histogram({
    name: 'guardkit_pipeline_action_duration_seconds',
    help: 'How long a pipeline action`s process ran, by kind and how it ended',
    labelNames: ['kind', 'state'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600, 3600],
    registers: [this.registry],
  });

  constructor(metrics: ServiceMetrics, repo: PipelineRepository, queues: AgentQueues) {
    metrics.include(this.registry);
    metrics.sample(
      'guardkit_pipeline_runs',
      'Pipeline runs by state (from PostgreSQL, at scrape)',
      ['state'],
      async (set) => {
        for (const row of await repo.countByState()) set({ state: row.state }, row.count);
      },
    );
    sampleQueues(metrics, () => queues.queues());
  }

  actionEnded(kind: string, state: string, seconds: number): void {
    this.actionSeconds.observe({ kind, state }, Math.max(0, seconds));
  }
}
