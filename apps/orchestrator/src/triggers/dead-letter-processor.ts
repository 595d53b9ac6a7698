import { Logger } from '@nestjs/common';
import { Processor } from '@nestjs/bullmq';
import { type Job, UnrecoverableError } from 'bullmq';
import { TRIGGERS_DEAD_QUEUE } from '#contracts';
import { DrainingWorkerHost } from './draining-worker-host.js';
import type { DeadLetterData } from './trigger-queue.js';
import { TriggerService } from './trigger-service.js';

/**
 * Keeps `triggers-dead` usable from the board. A new dead letter is failed on purpose at once, so it sits
 * in the board's Failed tab showing the last error, with the payload and attempt history as its data.
 * Retry on that job replays the trigger (the same as POST /triggers/:id/replay), and the dead letter is done.
 */
@Processor(TRIGGERS_DEAD_QUEUE)
export class DeadLetterProcessor extends DrainingWorkerHost {
  private readonly logger = new Logger(DeadLetterProcessor.name);

  constructor(private readonly triggers: TriggerService) {
    super();
  }

  async process(job: Job<DeadLetterData>): Promise<{ replayed: string }> {
    if (job.attemptsMade === 0) {
      const { code, message } = job.data.last_error;
      throw new UnrecoverableError(`${code}: ${message}`);
    }
    await this.triggers.replay(job.data.trigger_id, 'board');
    this.logger.log({ trigger_id: job.data.trigger_id }, 'dead letter replayed from the board');
    return { replayed: job.data.trigger_id };
  }
}
