import type { Queue } from 'bullmq';
import type { ServiceMetrics } from '#health';

/** BullMQ job states counted per queue. */
const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;

/**
 * The depth of BullMQ queues by state and the age of their oldest waiting job, read from Redis at each scrape,
 * under the same names for every queue (triggers, their dead letters, the agent queues).
 */
export function sampleQueues(metrics: ServiceMetrics, queues: () => Queue[]): void {
  metrics.sample(
    'guardkit_queue_jobs',
    'Jobs in each BullMQ queue (dead letters included), by state',
    ['queue', 'state'],
    async (set) => {
      for (const queue of queues()) {
        const counts = await queue.getJobCounts(...JOB_STATES);
        for (const state of JOB_STATES) set({ queue: queue.name, state }, counts[state] ?? 0);
      }
    },
  );
  metrics.sample(
    'guardkit_queue_oldest_waiting_seconds',
    'Age of the oldest job waiting in each queue (0 when none waits)',
    ['queue'],
    async (set) => {
      for (const queue of queues()) {
        const [oldest] = await queue.getJobs(['waiting', 'prioritized'], 0, 0, true);
        set({ queue: queue.name }, oldest ? Math.max(0, (Date.now() - oldest.timestamp) / 1000) : 0);
      }
    },
  );
}
