import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TimeoutError } from '@nats-io/nats-core';
import { BusUnavailableError, createEnvelope, Subjects } from '#contracts';
import { loadSettings } from '#platform';
import type { Bus } from './bus.js';
import { EventPublisher } from './event-publisher.js';

/**
 * The retry policy alone. A real NATS cannot be made to lose one acknowledgement on demand, so the JetStream
 * client here is a stand-in that answers as the real one does (`test/integration/services.test.ts` covers
 * publishing and deduplication against the real server).
 */
function publisherWith(answers: (() => unknown)[]) {
  const calls: { msgID?: string }[] = [];
  const bus = {
    subjects: new Subjects(),
    js: {
      publish: (_subject: string, _data: string, options: { msgID?: string }) => {
        calls.push(options);
        const next = answers.shift();
        return Promise.resolve().then(() => (next ? next() : { seq: 1, duplicate: false, stream: 'S' }));
      },
    },
  } as unknown as Bus;
  const settings = loadSettings({ NATS_PUBLISH_ATTEMPTS: '3', NATS_PUBLISH_TIMEOUT_MS: '100' });
  return { publisher: new EventPublisher(bus, settings), calls };
}
const envelope = createEnvelope({ source_id: 't', event_type: 'x', payload: {} });
const timeout = () => {
  throw new TimeoutError();
};

describe('EventPublisher retries', () => {
  it('sends an unanswered publish again with the same Nats-Msg-Id', async () => {
    const { publisher, calls } = publisherWith([timeout, timeout]);
    const ack = await publisher.publish('s', envelope, { msgId: 'same-id' });
    assert.equal(ack.seq, 1);
    assert.deepEqual(
      calls.map((c) => c.msgID),
      ['same-id', 'same-id', 'same-id'],
    );
  });

  it('gives up after NATS_PUBLISH_ATTEMPTS with BusUnavailableError, the timeout as cause', async () => {
    const { publisher, calls } = publisherWith([timeout, timeout, timeout, timeout]);
    await assert.rejects(publisher.publish('s', envelope, { msgId: 'x' }), (error: unknown) => {
      assert.ok(error instanceof BusUnavailableError);
      assert.equal(error.retryable, true);
      assert.ok(error.cause instanceof TimeoutError);
      return true;
    });
    assert.equal(calls.length, 3);
  });

  it('does not retry an answer, such as no stream for the subject', async () => {
    const refused = new Error('jetstream is not enabled');
    const { publisher, calls } = publisherWith([
      () => {
        throw refused;
      },
    ]);
    await assert.rejects(
      publisher.publish('s', envelope, { msgId: 'x' }),
      (error: unknown) => error === refused,
    );
    assert.equal(calls.length, 1);
  });
});
