import type { Consumer, ConsumerMessages } from '@nats-io/jetstream';

/**
 * The pull expiry of every ordered reader's `consume()`. nats.js sends idle heartbeats at half of it and resets
 * the reader after two are missed, so a pull lost in a NATS restart (or a consumer created while JetStream was
 * still recovering) is noticed within about this long, instead of after about 30 s with the defaults.
 */
export const ORDERED_PULL_EXPIRES_MS = 5000;

/**
 * Stops an ordered consumer's messages and deletes the consumer on the server. nats.js leaves an ordered
 * consumer to expire after 5 minutes of inactivity, so every closed reader would otherwise stay behind that
 * long. Safe to call more than once; failures (NATS away: the server drops it itself later) are ignored.
 */
export function releaseOrdered(
  consumer: Consumer,
  messages: ConsumerMessages | undefined,
): () => Promise<void> {
  let released: Promise<void> | undefined;
  return () => {
    released ??= (async () => {
      await messages?.close().catch(() => undefined);
      await consumer.delete().catch(() => undefined);
    })();
    return released;
  };
}
