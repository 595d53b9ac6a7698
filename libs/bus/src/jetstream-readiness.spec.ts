import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JetStreamApiError } from '@nats-io/jetstream';
import { TimeoutError } from '@nats-io/nats-core';
import { describeJetStreamError, isClusterNotReady, isJetStreamNotEnabled } from './jetstream-readiness.js';

const apiError = (code: number, description: string) =>
  new JetStreamApiError({ code: 503, err_code: code, description });

/** What a start waits for and what stops it (`cluster.test.ts` meets the same answers from real servers). */
describe('JetStream readiness', () => {
  it('a cluster without its meta leader is waited for: a timeout, then 10008 from a lone member, or 10009', () => {
    assert.equal(isClusterNotReady(new TimeoutError()), true);
    assert.equal(isClusterNotReady(apiError(10008, 'JetStream system temporarily unavailable')), true);
    assert.equal(isClusterNotReady(apiError(10009, 'JetStream cluster can not handle request')), true);
  });

  it('a refusal that waiting does not change is final', () => {
    assert.equal(
      isClusterNotReady(apiError(10074, 'replicas > 1 not supported in non-clustered mode')),
      false,
    );
    const notEnabled = Object.assign(new Error('jetstream is not enabled'), { name: 'JetStreamNotEnabled' });
    assert.equal(isClusterNotReady(notEnabled), false);
    assert.equal(isJetStreamNotEnabled(notEnabled), true);
    assert.equal(isJetStreamNotEnabled(new TimeoutError()), false);
  });

  it('names the JetStream error code', () => {
    assert.equal(
      describeJetStreamError(apiError(10008, 'JetStream system temporarily unavailable')),
      'JetStream system temporarily unavailable (JetStream error 10008)',
    );
  });
});
