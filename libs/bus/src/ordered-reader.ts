import type { Consumer, ConsumerMessages } from '@nats-io/jetstream';

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
