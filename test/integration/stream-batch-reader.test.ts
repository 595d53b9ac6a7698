import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstream, StorageType } from '@nats-io/jetstream';
import { StreamBatchReader, StreamReaderLostError } from '#bus';
import { TestEnv } from '#test-support';

/**
 * The projections' reader against the real NATS: what is stored comes in one answer, a quiet stream is waited
 * on for its first message only, and a reader whose consumer is gone says so instead of waiting forever.
 */
describe('StreamBatchReader', () => {
  let env: TestEnv;
  let stream: string;
  const readers: StreamBatchReader[] = [];

  before(async () => {
    env = await TestEnv.create();
    stream = `${env.namespace}_reader`;
    const { jsm } = await env.nats();
    await jsm.streams.add({
      name: stream,
      subjects: [`${env.namespace}.reader.>`],
      storage: StorageType.Memory,
    });
  });
  after(async () => {
    for (const reader of readers) await reader.close();
    await env?.cleanup();
  });

  const publish = async (subject: string, body: unknown) => {
    const { nc } = await env.nats();
    return (await jetstream(nc).publish(`${env.namespace}.reader.${subject}`, JSON.stringify(body))).seq;
  };
  const open = async (filter: string, startSeq: number) => {
    const reader = await StreamBatchReader.open(
      await env.nats(),
      stream,
      `${env.namespace}.reader.${filter}`,
      startSeq,
    );
    readers.push(reader);
    return reader;
  };

  it('answers with every message stored, in one answer, up to the batch size; the rest on the next call', async () => {
    for (let n = 1; n <= 7; n++) await publish(n % 2 ? 'a' : 'b', { n });
    const reader = await open('>', 1);
    const started = performance.now();
    const first = await reader.next(5, 20_000);
    const second = await reader.next(5, 20_000);
    // a pull that waited for more than what is stored would end only after its 20 s
    assert.ok(performance.now() - started < 10_000, 'answered with what was there, without waiting');
    assert.deepEqual(
      first.map((m) => m.json<{ n: number }>().n),
      [1, 2, 3, 4, 5],
    );
    assert.deepEqual(
      second.map((m) => [m.seq, m.json<{ n: number }>().n]),
      [
        [6, 6],
        [7, 7],
      ],
    );
    assert.equal(second[0]?.subject, `${env.namespace}.reader.b`);
    assert.ok(Math.abs((second[0]?.storedAtMs ?? 0) - Date.now()) < 60_000, 'the time the stream stored it');
  });

  it('reads only its filter subject, from the sequence it was opened at', async () => {
    const reader = await open('a', 4);
    const read = await reader.next(100, 20_000);
    assert.deepEqual(
      read.map((m) => m.seq),
      [5, 7],
    );
  });

  it('on a quiet stream, waits for the first message and answers with it at once', async () => {
    const reader = await open('c', 1);
    const reading = reader.next(100, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    const started = performance.now();
    const seq = await publish('c', { n: 'late' });
    const read = await reading;
    assert.ok(
      performance.now() - started < 10_000,
      'answered when the message came, not at the end of the wait',
    );
    assert.deepEqual(
      read.map((m) => m.seq),
      [seq],
    );
  });

  it('answers empty when nothing comes within the wait', async () => {
    const reader = await open('d', 1);
    assert.deepEqual(await reader.next(100, 1000), []);
  });

  const deleteConsumers = async () => {
    const { jsm } = await env.nats();
    const names: string[] = [];
    for await (const info of jsm.consumers.list(stream)) names.push(info.name);
    for (const name of names) await jsm.consumers.delete(stream, name);
    return names;
  };

  it('says the consumer is lost when it is deleted on the server while a read waits', async () => {
    const reader = await open('e', 1);
    const refused = assert.rejects(reader.next(100, 20_000), StreamReaderLostError);
    const started = performance.now();
    assert.ok((await deleteConsumers()).length > 0);
    await refused;
    assert.ok(performance.now() - started < 10_000, 'told before the read would have ended');
    await assert.rejects(reader.next(100, 1000), StreamReaderLostError, 'and stays lost');
  });

  it('says the consumer is lost when it was deleted before the read (no answer within the wait)', async () => {
    const reader = await open('e', 1);
    await deleteConsumers();
    await assert.rejects(reader.next(100, 500), StreamReaderLostError);
  });

  it('close() ends an open read empty and removes its consumer', async () => {
    const reader = await open('e', 1);
    const reading = reader.next(100, 20_000);
    await reader.close();
    assert.deepEqual(await reading, []);
    assert.deepEqual(await deleteConsumers(), [], 'no consumer left');
  });
});
