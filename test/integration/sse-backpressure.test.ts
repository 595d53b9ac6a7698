import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { eventually, payloadOf, SseClient, TestEnv } from '#test-support';
import { createGateway } from '../../apps/gateway/src/gateway.module.js';

/** Big events (~800 KB) fill the socket buffers of a client that stops reading. */
describe('SSE: a slow client never slows the others', () => {
  let env: TestEnv;
  let gateway: NestExpressApplication;
  let baseUrl: string;

  before(async () => {
    // conflation from the first event a client is behind: these clients stop reading on purpose
    env = await TestEnv.create({ SSE_CLIENT_QUEUE_LIMIT: '2', SSE_CONFLATE_AFTER_MS: '0' });
    gateway = await createGateway(env.settings);
    const address = gateway.getHttpServer().address();
    baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(() => env?.cleanup(gateway));

  /** A status with an ~800 KB extra field, so a few fill a socket. */
  const publishBig = (buildId: string, turn: number) =>
    env.publishStatus(buildId, turn, { log_tail: 'x'.repeat(800_000) });

  it('conflates waiting statuses of one build: the newest arrives, in order, while a fast client gets all', async () => {
    const slow = await SseClient.open(`${baseUrl}/builds/CONFLATE/events`);
    const fast = await SseClient.open(`${baseUrl}/builds/CONFLATE/events`);
    slow.pause();
    let last = 0;
    for (let turn = 1; turn <= 30; turn++) last = await publishBig('CONFLATE', turn);
    await fast.waitForCount(30, 20_000);
    // What waits for each client, as a distribution: one of the two is behind, by events and bytes.
    const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
    const sample = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
    assert.equal(sample('guardkit_sse_client_lag_events_count'), 2);
    assert.equal(
      sample('guardkit_sse_client_lag_events_bucket\\{le="0"\\}'),
      1,
      'the fast one waits for nothing',
    );
    assert.equal(
      sample('guardkit_sse_client_lag_bytes_bucket\\{le="1024"\\}'),
      1,
      'the slow one has bytes waiting',
    );
    assert.match(metrics, /guardkit_sse_conflated_total\{stream="build"\} [1-9]/);
    slow.resume();
    await slow.waitFor((events) => events.some((e) => Number(e.id) === last), 20_000);
    assert.ok(
      slow.events.length < 30,
      `the slow client got ${slow.events.length} of 30: superseded ones were dropped`,
    );
    assert.deepEqual(
      slow.ids,
      [...slow.ids].sort((a, b) => a - b),
      'ids still ascend',
    );
    assert.equal(payloadOf(slow.events.at(-1)!.data).turn, 30, 'the newest status arrived');
    slow.close();
    fast.close();
  });

  it('disconnects a client past its queue bound; it resumes by Last-Event-ID without a gap', async () => {
    const ids = ['OVER-A', 'OVER-B', 'OVER-C'];
    const slow = await SseClient.open(`${baseUrl}/events?builds=${ids.join(',')}`);
    slow.pause();
    const seqs: number[] = [];
    for (let round = 1; round <= 8; round++) for (const id of ids) seqs.push(await publishBig(id, round));
    slow.resume();
    await slow.ended; // the server dropped it
    const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
    assert.match(metrics, /guardkit_sse_closed_total\{stream="builds",reason="overflow"\} [1-9]/);

    // As EventSource does: reconnect from the last id until caught up (with a bound of 2 and ~800 KB events,
    // even a reading client may be cut again during the replay; each connection makes progress).
    const lastSeen = slow.ids.at(-1) ?? 0;
    const received: number[] = [];
    for (let attempt = 0; attempt < 20 && received.at(-1) !== seqs.at(-1); attempt++) {
      const from = received.at(-1) ?? lastSeen;
      const client = await SseClient.open(`${baseUrl}/events?builds=${ids.join(',')}`, {
        'Last-Event-ID': String(from),
      });
      await Promise.race([
        client.ended,
        eventually(() => (client.ids.at(-1) === seqs.at(-1) ? true : undefined), 10_000),
      ]);
      received.push(...client.ids);
      client.close();
    }
    const missed = seqs.filter((seq) => seq > lastSeen);
    assert.ok(
      received.every((seq, k) => k === 0 || seq > received[k - 1]),
      'strictly ascending: in order, nothing twice',
    );
    assert.ok(
      received.every((seq) => missed.includes(seq)),
      'only events after the last one seen',
    );
    assert.equal(received.at(-1), seqs.at(-1), 'caught up');
    // Conflation may drop superseded statuses of a build, never the newest of any build.
    for (const id of ids) {
      const newest = seqs[seqs.length - ids.length + ids.indexOf(id)];
      assert.ok(received.includes(newest), `the newest status of ${id}`);
    }
  });
});
