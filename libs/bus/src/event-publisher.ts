import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import { type PubAck } from '@nats-io/jetstream';
import { headers as natsHeaders, TimeoutError } from '@nats-io/nats-core';
import { BusUnavailableError, type Envelope } from '#contracts';
import { SETTINGS, type Settings } from '#platform';
import { Bus } from './bus.js';

export interface PublishOptions {
  /** `Nats-Msg-Id`: a publish retried with the same id is stored once. */
  msgId: string;
  headers?: Record<string, string>;
}

/**
 * Publishes envelopes to JetStream and waits for the stream's acknowledgement. A publish that is not answered in
 * time (NATS reconnecting, a slow server) is sent again with the same Nats-Msg-Id, so it is stored once; after
 * NATS_PUBLISH_ATTEMPTS it fails with BusUnavailableError. Answers (no stream for the subject, limits) are not
 * retried.
 */
@Injectable()
export class EventPublisher {
  constructor(
    private readonly bus: Bus,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async publish(subject: string, envelope: Envelope<object>, options: PublishOptions): Promise<PubAck> {
    const data = JSON.stringify(envelope);
    const headers = natsHeaders();
    for (const [key, value] of Object.entries(options.headers ?? {})) headers.set(key, value);
    const attempts = this.settings.nats.publishAttempts;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.bus.js.publish(subject, data, {
          msgID: options.msgId,
          headers,
          timeout: this.settings.nats.publishTimeoutMs,
        });
      } catch (error) {
        if (!isUnanswered(error) || attempt >= attempts) {
          if (isUnanswered(error)) {
            throw new BusUnavailableError(
              `publish to ${subject} not acknowledged after ${attempt} attempts`,
              {
                cause: error,
              },
            );
          }
          throw error;
        }
        await sleep(Math.min(100 * 2 ** (attempt - 1), 2000));
      }
    }
  }
}

/**
 * A timeout leaves the publish unanswered: it may or may not have been stored, and only sending it again with the
 * same id tells. Anything else is an answer and is not retried here: "no responders" (nats.js reports
 * `JetStreamNotEnabled`: no stream captures the subject, or JetStream is not running) means nothing was stored,
 * and the caller tries again later (the ingestor at the file's next event or scan).
 */
function isUnanswered(error: unknown): boolean {
  if (error instanceof TimeoutError) return true;
  return error instanceof Error && error.cause instanceof TimeoutError;
}
