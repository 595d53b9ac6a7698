import { Injectable } from '@nestjs/common';
import { Histogram, Registry } from 'prom-client';
import { ServiceMetrics } from '#health';
import { WorkflowRepository } from './workflow-repository.js';

/** Workflows on /metrics: workflows by state (PostgreSQL, at scrape) and how long each role execution took. */
@Injectable()
export class WorkflowMetrics {
  private readonly registry = new Registry();
  private readonly roleSeconds = new Histogram({
    name: 'guardkit_workflow_role_duration_seconds',
    help: 'How long a workflow role`s process ran, by role and how it ended',
    labelNames: ['role', 'state'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600, 3600],
    registers: [this.registry],
  });

  constructor(metrics: ServiceMetrics, repo: WorkflowRepository) {
    metrics.include(this.registry);
    metrics.sample(
      'guardkit_workflows',
      'Workflows by state (from PostgreSQL, at scrape)',
      ['state'],
      async (set) => {
        for (const row of await repo.countByState()) set({ state: row.state }, row.count);
      },
    );
  }

  roleEnded(role: string, state: string, seconds: number): void {
    this.roleSeconds.observe({ role, state }, Math.max(0, seconds));
  }
}
