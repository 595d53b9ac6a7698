import { Inject, Injectable } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import type { JobsOptions, Queue } from 'bullmq';
import { TRIGGERS_DEAD_QUEUE, TRIGGERS_QUEUE, type TriggerView } from '#contracts';
import { SETTINGS, type Settings } from '#platform';

export interface TriggerJobData {
  trigger_id: string;
}

/**
 * What `triggers-dead` keeps of a trigger whose retries ran out: the trigger as `GET /triggers/:id` shows it
 * (its payload and every attempt), the error that ended it, and when.
 */
export type DeadLetterData = TriggerView & {
  last_error: { code: string; message: string };
  failed_at: string;
};

/** The custom backoff the trigger worker implements (exponential, jitter, capped; see retryDelay). */
export const TRIGGER_BACKOFF = 'capped-exponential';

/** The two BullMQ queues of triggers; the job id is always the trigger id. */
@Injectable()
export class TriggerQueue {
  constructor(
    @InjectQueue(TRIGGERS_QUEUE) readonly triggers: Queue<TriggerJobData>,
    @InjectQueue(TRIGGERS_DEAD_QUEUE) readonly dead: Queue<DeadLetterData>,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  private jobOptions(triggerId: string): JobsOptions {
    return {
      jobId: triggerId,
      attempts: this.settings.triggers.attempts,
      backoff: { type: TRIGGER_BACKOFF },
      removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
      // bounded: the trigger's whole story stays in PostgreSQL and, for a dead one, in `triggers-dead`
      removeOnFail: this.settings.queues.keepFailed,
    };
  }

  /** A new job for a trigger just created (idempotent: an existing job with the id is left as it is). */
  async add(triggerId: string): Promise<void> {
    await this.triggers.add('trigger', { trigger_id: triggerId }, this.jobOptions(triggerId));
  }

  /**
   * Makes sure the trigger has a job that will run: a new one; a failed one retried with a full retry budget
   * (a replay); a finished one replaced. A job waiting, delayed or running is left as it is, so this is
   * idempotent.
   */
  async ensureQueued(triggerId: string): Promise<void> {
    const job = await this.triggers.getJob(triggerId);
    if (job) {
      const state = await job.getState();
      if (state === 'failed') {
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        return;
      }
      if (state !== 'completed' && state !== 'unknown') return;
      if (state === 'completed') await job.remove();
    }
    await this.add(triggerId);
  }

  async deadLetter(data: DeadLetterData): Promise<void> {
    await this.dead.add('dead-letter', data, {
      jobId: data.trigger_id,
      attempts: 1,
      removeOnComplete: true,
      removeOnFail: this.settings.queues.keepFailed,
    });
  }

  /** Removes a trigger's dead letter; false when there is none. */
  async removeDeadLetter(triggerId: string): Promise<boolean> {
    // Queue.remove answers 1 for a job that does not exist too (BullMQ 6), so look first
    const job = await this.dead.getJob(triggerId);
    if (!job) return false;
    await job.remove();
    return true;
  }
}
