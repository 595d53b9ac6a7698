import { Injectable, Logger } from '@nestjs/common';
import { createEnvelope, type IngestRejectedPayload } from '#contracts';
import { Bus, EventPublisher } from '#bus';
import { sha256Hex } from './content-hash.js';
import { IngestMetrics } from './ingest-metrics.js';

export const INGESTOR_SOURCE_ID = 'guardkit-ingestor';

/** Publishes `guardkit.ingest.rejected`: a file the ingestor refused, with the reason. */
@Injectable()
export class RejectionPublisher {
  private readonly logger = new Logger(RejectionPublisher.name);

  constructor(
    private readonly bus: Bus,
    private readonly publisher: EventPublisher,
    private readonly metrics: IngestMetrics,
  ) {}

  async reject(rejection: IngestRejectedPayload): Promise<void> {
    this.metrics.taken(rejection.bridge, 'rejected');
    this.logger.warn(
      { path: rejection.path, reason: rejection.reason, problems: rejection.problems },
      `rejected ${rejection.bridge} file`,
    );
    // The same file with the same content is one rejection, however often it is seen.
    const id = sha256Hex(
      `${rejection.bridge}\0${rejection.path}\0${rejection.content_sha256 ?? rejection.reason}`,
    ).slice(0, 40);
    const envelope = createEnvelope({
      message_id: `rejected-${id}`,
      source_id: INGESTOR_SOURCE_ID,
      event_type: 'ingest_rejected',
      payload: rejection,
    });
    await this.publisher.publish(this.bus.subjects.ingestRejected(), envelope, {
      msgId: envelope.message_id,
    });
  }
}
