import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { nanos } from '@nats-io/nats-core';
import { BusUnavailableError, createEnvelope } from '#contracts';
import { EventPublisher } from '#bus';
import { freePort, ServiceProcess, SseClient, TestEnv } from '#test-support';
import { createIngestor } from '../../apps/ingestor/src/ingestor.module.js';

describe('services as processes', () => {
  let env: TestEnv;
  before(async () => {
    env = await TestEnv.create({ LOG_LEVEL: 'info' });
  });
  after(() => env?.cleanup());

  for (const name of ['orchestrator', 'ingestor', 'gateway'] as const) {
    it(`${name}: a bad setting stops it with exit code 2 and a message naming the variable`, async () => {
      const service = ServiceProcess.start(name, {
        ...env.processEnv(),
        GATEWAY_PORT: 'eighty',
        STREAM_REPLICAS: '2',
      });
      const { code } = await service.exited;
      assert.equal(code, 2);
      assert.match(service.output, /GATEWAY_PORT="eighty"/);
      assert.match(service.output, /STREAM_REPLICAS="2"/);
    });
  }

  it('on SIGTERM the gateway ends open SSE streams and exits promptly', async () => {
    const port = await freePort();
    const gateway = ServiceProcess.start('gateway', { ...env.processEnv(), GATEWAY_PORT: String(port) });
    await gateway.waitForOutput(/gateway listening/);
    const client = await SseClient.open(`http://127.0.0.1:${port}/builds/SIGTERM-1/events`);
    assert.equal(client.status, 200);
    const started = Date.now();
    await gateway.stop();
    await client.ended;
    assert.ok(Date.now() - started < 5000, 'stopped within 5 s despite an open stream');
  });

  it('on SIGTERM the ingestor and the orchestrator drain and exit', async () => {
    for (const name of ['ingestor', 'orchestrator'] as const) {
      const service = ServiceProcess.start(name, env.processEnv());
      await service.waitForOutput(
        name === 'ingestor'
          ? /watching GuardKit progress files/
          : /Nest application successfully started|stream up to date/,
      );
      const { code, signal } = await service.stop();
      assert.ok(code === 0 || signal === 'SIGTERM', `${name} exited with ${code ?? signal}`);
    }
  });
});

describe('the bus', () => {
  let env: TestEnv;
  before(async () => {
    env = await TestEnv.create({ STREAM_MAX_AGE_SECONDS: '3600', STREAM_STORAGE: 'file' });
  });
  after(() => env?.cleanup());

  it('creates the four streams from the settings, and updates them on the next start', async () => {
    let app = await createIngestor(env.settings);
    const { jsm } = await env.nats();
    const names = ['builds', 'outbox', 'triggers', 'ingest'] as const;
    for (const role of names) {
      const { config } = await jsm.streams.info(env.subjects.streamName(role));
      assert.deepEqual(config.subjects, env.subjects.streamSubjects(role));
      assert.equal(config.max_age, nanos(3600 * 1000));
      // the outbox is bounded by age and size, never per subject (a source's backlog is one subject)
      assert.equal(config.max_msgs_per_subject, role === 'outbox' ? -1 : 10_000);
      assert.equal(config.max_bytes, role === 'outbox' ? 64 * 1024 * 1024 : -1);
      assert.equal(config.duplicate_window, nanos(120 * 1000));
      assert.equal(config.num_replicas, 1);
      assert.equal(config.storage, 'file');
    }
    await app.close();

    env.vars['STREAM_MAX_AGE_SECONDS'] = '7200';
    env.vars['STREAM_MAX_MSGS_PER_SUBJECT'] = '500';
    app = await createIngestor(env.settings);
    const { config } = await jsm.streams.info(env.subjects.streamName('builds'));
    assert.equal(config.max_age, nanos(7200 * 1000));
    assert.equal(config.max_msgs_per_subject, 500);

    // A publish sent again with the same Nats-Msg-Id (as a retry after a lost acknowledgement) is stored once.
    const publisher = app.get(EventPublisher);
    const envelope = createEnvelope({
      source_id: 'test',
      event_type: 'x',
      payload: { n: 1 },
      message_id: 'once',
    });
    const subject = env.subjects.buildStatus('ONCE');
    const first = await publisher.publish(subject, envelope, { msgId: 'once' });
    const again = await publisher.publish(subject, envelope, { msgId: 'once' });
    assert.equal(first.duplicate, false);
    assert.equal(again.duplicate, true);
    assert.equal(again.seq, first.seq);
    assert.equal((await env.storedOn(subject)).length, 1);
    await app.close();
  });

  it('fails at once to publish to a subject no stream captures: nothing was stored, nothing to retry', async () => {
    const app = await createIngestor(env.settings);
    const publisher = app.get(EventPublisher);
    const started = Date.now();
    await assert.rejects(
      publisher.publish(
        `${env.namespace}.nowhere`,
        createEnvelope({ source_id: 't', event_type: 'x', payload: {} }),
        {
          msgId: 'nowhere',
        },
      ),
      // nats.js reports "no responders" on a JetStream subject so; never our BusUnavailableError (a timeout)
      (error: Error) => error.name === 'JetStreamNotEnabled' && !(error instanceof BusUnavailableError),
    );
    assert.ok(Date.now() - started < 2000, 'an answer (no responders), not a timeout: not retried');
    await app.close();
  });
});
