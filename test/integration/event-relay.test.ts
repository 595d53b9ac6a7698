import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PubAck } from '@nats-io/jetstream';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Logger } from 'nestjs-pino';
import { BusUnavailableError, createEnvelope, type Envelope } from '#contracts';
import { EventPublisher, type PublishOptions } from '#bus';
import { eventually, TestEnv } from '#test-support';
import { OrchestratorModule } from '../../apps/orchestrator/src/orchestrator.module.js';
import { EventRelay } from '../../apps/orchestrator/src/relay/event-relay.js';

/** Publishes for real, but refuses the message ids in `refuse` once each (NATS not answering for them). */
class RefusingPublisher extends EventPublisher {
  static refuse = new Set<string>();

  override async publish(
    subject: string,
    envelope: Envelope<object>,
    options: PublishOptions,
  ): Promise<PubAck> {
    if (RefusingPublisher.refuse.delete(options.msgId)) {
      throw new BusUnavailableError(`publish of ${options.msgId} not acknowledged (stand-in)`);
    }
    return super.publish(subject, envelope, options);
  }
}

describe('EventRelay: a batch at once, each subject in commit order', () => {
  let env: TestEnv;
  let app: INestApplication;

  before(async () => {
    env = await TestEnv.create();
    const moduleRef = await Test.createTestingModule({ imports: [OrchestratorModule.forRoot(env.settings)] })
      .overrideProvider(EventPublisher)
      .useClass(RefusingPublisher)
      .compile();
    app = moduleRef.createNestApplication({ bufferLogs: true });
    app.useLogger(app.get(Logger));
    await app.init();
  });
  after(() => env?.cleanup(app));

  it('a refused publish holds back the rest of its subject, not the other subjects; nothing is lost or reordered', async () => {
    const a = env.subjects.triggerStatus('relay-a');
    const b = env.subjects.triggerStatus('relay-b');
    const rows = [
      [a, 'a.1'],
      [a, 'a.2'],
      [b, 'b.1'],
      [a, 'a.3'],
      [b, 'b.2'],
    ];
    RefusingPublisher.refuse = new Set(['a.2']);
    for (const [subject, msgId] of rows) {
      const envelope = createEnvelope({ source_id: 'test', event_type: 'relay_test', payload: { n: msgId } });
      await env.query('INSERT INTO unpublished_events (subject, msg_id, envelope) VALUES ($1, $2, $3)', [
        subject,
        msgId,
        JSON.stringify(envelope),
      ]);
    }
    app.get(EventRelay).notify();
    await eventually(async () => {
      const [{ n }] = await env.query<{ n: number }>('SELECT count(*)::int AS n FROM unpublished_events');
      return n === 0 ? true : undefined;
    });
    assert.equal(RefusingPublisher.refuse.size, 0, 'a.2 was refused once');
    const stream = env.subjects.streamName('triggers');
    const order = async (subject: string) =>
      (await env.storedOn(subject, stream)).map(
        (m) => (JSON.parse(m.data) as Envelope<{ n: string }>).payload.n,
      );
    assert.deepEqual(await order(a), ['a.1', 'a.2', 'a.3'], 'each event of a subject once, in commit order');
    assert.deepEqual(await order(b), ['b.1', 'b.2']);
  });

  it('publishes a row nobody announced (committed by another instance) at its idle pass', async () => {
    const subject = env.subjects.triggerStatus('relay-unannounced');
    const envelope = createEnvelope({ source_id: 'test', event_type: 'relay_test', payload: { n: 'u.1' } });
    await env.query('INSERT INTO unpublished_events (subject, msg_id, envelope) VALUES ($1, $2, $3)', [
      subject,
      'u.1',
      JSON.stringify(envelope),
    ]);
    // no notify(): only the relay's idle pass (every second) can find it
    await eventually(async () => {
      const [{ n }] = await env.query<{ n: number }>('SELECT count(*)::int AS n FROM unpublished_events');
      return n === 0 ? true : undefined;
    }, 5000);
    const stored = await env.storedOn(subject, env.subjects.streamName('triggers'));
    assert.deepEqual(
      stored.map((m) => (JSON.parse(m.data) as Envelope<{ n: string }>).payload.n),
      ['u.1'],
    );
  });
});
