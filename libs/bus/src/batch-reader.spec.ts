import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Msg } from '@nats-io/nats-core';
import { parseDelivery } from './batch-reader.js';

const delivery = (reply: string | undefined) =>
  ({
    subject: 'ns.guardkit.builds.B1.status',
    reply,
    data: new TextEncoder().encode('{"a":1}'),
    json: () => ({ a: 1 }),
  }) as unknown as Msg;

/** A delivery's place in the stream comes from its reply subject, in both forms servers send. */
describe('StreamBatchReader: a delivery', () => {
  it('reads the stream sequence, the consumer sequence and the time from the short form', () => {
    const parsed = parseDelivery(delivery('$JS.ACK.NS_BUILDS.c1.1.42.7.1795773650503708183.3'));
    assert.equal(parsed?.message.seq, 42);
    assert.equal(parsed?.consumerSeq, 7);
    assert.equal(parsed?.message.storedAtMs, 1795773650503);
    assert.equal(parsed?.message.subject, 'ns.guardkit.builds.B1.status');
    assert.deepEqual(parsed?.message.json(), { a: 1 });
  });

  it('and from the long form (domain, account hash, a random token)', () => {
    const parsed = parseDelivery(
      delivery('$JS.ACK.hub.ACCHASH.NS_BUILDS.c1.1.43.8.1795773650603708183.0.rNd0m'),
    );
    assert.equal(parsed?.message.seq, 43);
    assert.equal(parsed?.consumerSeq, 8);
    assert.equal(parsed?.message.storedAtMs, 1795773650603);
  });

  it('refuses anything that is not a JetStream delivery', () => {
    assert.equal(parseDelivery(delivery(undefined)), undefined);
    assert.equal(parseDelivery(delivery('_INBOX.abc')), undefined);
    assert.equal(parseDelivery(delivery('$JS.API.CONSUMER.INFO.S.C.1.2.3')), undefined);
  });
});
