import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import { type PubAck } from '@nats-io/jetstream';
import { headers as natsHeaders, RequestError, TimeoutError } from '@nats-io/nats-core';
import { BusUnavailableError, type Envelope } from '#contracts';
import { SETTINGS, type Settings } from '#platform';
import { Bus } from './bus.js';

export interface PublishOptions {
  /** `Nats-Msg-Id`: a publish retried with the same id is stored once. */
  msgId: string;
  headers?: Record<string, string>;
}

/**
 * Publishes envelopes to JetStream and waits for the stream's acknowledgement. A publish that is not answered
 * (timeout, no responders while JetStream restarts or NATS reconnects) is sent again with the same
 * Nats-Msg-Id, so it is stored once; after NATS_PUBLISH_ATTEMPTS it fails with BusUnavailableError.
 * Errors the server states (a wrong subject, limits) are not retried.
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

/** The publish may or may not have been stored: only sending it again (same id) tells. */
function isUnanswered(error: unknown): boolean {
  if (error instanceof TimeoutError) return true;
  if (error instanceof RequestError) return true; // no responders: JetStream (re)starting
  return error instanceof Error && error.cause instanceof TimeoutError;
}
