import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createEnvelope } from '#contracts';
import { ManualClock } from '#platform';
import {
  eventually,
  LogCapture,
  NatsServer,
  payloadOf,
  progressUpdate,
  ResumingClient,
  SseClient,
  TestEnv,
} from '#test-support';
import { createGateway } from '../../apps/gateway/src/gateway.module.js';

const urlOf = (gateway: NestExpressApplication) => {
  const address = gateway.getHttpServer().address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
};

/** One for the file: nestjs-pino keeps the first application's destination for the ones after it. */
const logs = new LogCapture(30);

/** A build status envelope as a producer publishes it. */
const statusEnvelope = (buildId: string, turn: number) =>
  createEnvelope({
    source_id: 'test',
    event_type: 'build_progress',
    payload: { ...progressUpdate(turn), build_id: buildId, task_id: buildId },
  });

/** Every consumer of this test's streams, as the NATS server counts them. */
async function consumerCount(env: TestEnv): Promise<number> {
  const { jsm } = await env.nats();
  let count = 0;
  for (const role of ['builds', 'triggers', 'outbox'] as const)
    count += (await jsm.streams.info(env.subjects.streamName(role))).state.consumer_count;
  return count;
}

describe('SSE edge: resume judged per build, one reader per gateway', () => {
  let env: TestEnv;
  let gateway: NestExpressApplication;
  let baseUrl: string;

  before(async () => {
    // a per-subject limit of 5, so one build can lose its oldest events while the stream keeps older ones
    env = await TestEnv.create({
      STREAM_MAX_MSGS_PER_SUBJECT: '5',
      SSE_HEARTBEAT_MS: '1000',
      LOG_LEVEL: 'info', // the log test below counts info lines (the first application's level holds)
    });
    gateway = await createGateway(logs.into(env.settings));
    baseUrl = urlOf(gateway);
  });
  after(() => env?.cleanup(gateway));

  it('resets a build trimmed by the per-subject limit, though the stream still holds older events of others', async () => {
    await env.publishStatus('KEEPER', 1); // an older event of another build: the stream's first stays low
    const seen = [await env.publishStatus('TRIMMED', 1), await env.publishStatus('TRIMMED', 2)];
    let latest = 0;
    for (let turn = 3; turn <= 9; turn++) latest = await env.publishStatus('TRIMMED', turn); // 3 and 4 are gone
    const client = await SseClient.open(`${baseUrl}/builds/TRIMMED/events`, {
      'Last-Event-ID': String(seen[1]),
    });
    await client.waitForCount(1);
    assert.equal(client.events[0].event, 'reset', 'events 3 and 4 are gone: the client is told');
    assert.equal(Number(client.events[0].id), latest);
    assert.equal(payloadOf(client.events[0].data).turn, 9, 'the reset carries the latest status');
    const next = await env.publishStatus('TRIMMED', 10);
    await client.waitForCount(2);
    assert.deepEqual(
      client.events.map((e) => [e.event, Number(e.id)]),
      [
        ['reset', latest],
        ['status', next],
      ],
    );
    client.close();

    // A resume whose events are all still there is no reset, on the same trimmed build.
    const resumed = await SseClient.open(`${baseUrl}/builds/TRIMMED/events`, {
      'Last-Event-ID': String(latest),
    });
    await resumed.waitForCount(1);
    assert.deepEqual(
      resumed.events.map((e) => [e.event, Number(e.id)]),
      [['status', next]],
    );
    resumed.close();
  });

  it('tells a client of a build nobody has written yet that it waits, then streams it', async () => {
    const client = await SseClient.open(`${baseUrl}/builds/NOT-YET/events`);
    await client.waitFor(() =>
      client.comments.includes('no events yet for build NOT-YET; waiting for its first'),
    );
    const seq = await env.publishStatus('NOT-YET', 1);
    await client.waitForCount(1);
    assert.deepEqual(client.ids, [seq]);
    client.close();
  });

  it('closes a multi-build stream when the last build ends, though the other ended before the resume point', async () => {
    await env.publishStatus('MULTI-A', 1);
    await env.publishStatus('MULTI-B', 1);
    const first = await SseClient.open(`${baseUrl}/events?builds=MULTI-A,MULTI-B`);
    await first.waitForCount(2);
    await env.publishStatus('MULTI-A', 2, { status: 'completed' });
    await first.waitFor((events) => events.some((e) => e.event === 'end'));
    first.close();

    const resumed = await SseClient.open(`${baseUrl}/events?builds=MULTI-A,MULTI-B`, {
      'Last-Event-ID': String(first.ids.at(-1)),
    });
    assert.equal(resumed.status, 200);
    const last = await env.publishStatus('MULTI-B', 2, { status: 'failed' });
    await Promise.race([
      resumed.ended,
      new Promise((_, reject) => setTimeout(() => reject(new Error('the stream never closed')), 5000)),
    ]);
    assert.deepEqual(
      resumed.events.map((e) => e.event),
      ['status', 'end'],
    );
    assert.equal(Number(resumed.events[0].id), last);
    assert.deepEqual(JSON.parse(resumed.events[1].data), { build_id: 'MULTI-B', status: 'failed' });
  });

  it('leaves nothing on the NATS server after 200 connections open and close, and adds nothing while open', async () => {
    await eventually(async () => ((await consumerCount(env)) > 0 ? true : undefined), 5000, 'live readers');
    const start = await consumerCount(env);
    assert.ok(start <= 3, `one reader per stream, not per connection (${start})`);
    const clients = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        SseClient.open(
          i % 2 === 0 ? `${baseUrl}/builds/OPEN-${i % 7}/events` : `${baseUrl}/events?builds=OPEN-1,OPEN-2`,
          i % 3 === 0 ? { 'Last-Event-ID': '1' } : {},
        ),
      ),
    );
    assert.ok(clients.every((c) => c.status === 200));
    assert.equal(await consumerCount(env), start, 'open connections add no consumer');
    for (const client of clients) client.close();
    await Promise.all(
      Array.from(
        { length: 30 },
        (_, i) =>
          new Promise<void>((resolve) => {
            const req = request(`${baseUrl}/builds/LEAVER-${i}/events`, (res) => {
              res.destroy();
              resolve();
            });
            req.on('error', () => resolve());
            req.end();
            if (i % 2 === 0) setTimeout(() => req.destroy(), i % 4); // some leave before the answer
          }),
      ),
    );
    await eventually(
      async () => {
        const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
        return /guardkit_sse_clients\{stream="build"\} 0\b/.test(metrics) &&
          /guardkit_sse_clients\{stream="builds"\} 0\b/.test(metrics)
          ? true
          : undefined;
      },
      5000,
      'no open SSE connection left',
    );
    assert.equal(await consumerCount(env), start, 'the consumer count is back to where it started');
  });
});

describe('SSE edge: a build that goes quiet', () => {
  let env: TestEnv;
  let gateway: NestExpressApplication;
  let baseUrl: string;
  const clock = new ManualClock();

  before(async () => {
    env = await TestEnv.create({ BUILD_STALE_MINUTES: '30' });
    gateway = await createGateway(logs.into(env.settings), clock);
    baseUrl = urlOf(gateway);
  });
  after(() => env?.cleanup(gateway));

  it('tells its clients it is stale after BUILD_STALE_MINUTES without an event, once, and again after the next', async () => {
    const first = await env.publishStatus('GOES-QUIET', 1);
    const client = await SseClient.open(`${baseUrl}/builds/GOES-QUIET/events`);
    await client.waitForCount(1);
    clock.advance(29 * 60_000);
    await new Promise((r) => setTimeout(r, 6000)); // a sweep runs every 5 s
    assert.deepEqual(client.ids, [first], 'not stale before 30 minutes');
    clock.advance(2 * 60_000);
    await client.waitFor((events) => events.some((e) => e.event === 'stale'), 8000);
    const stale = client.events.find((e) => e.event === 'stale')!;
    assert.equal(stale.id, undefined, 'not a stream event: it has no id');
    const data = JSON.parse(stale.data) as Record<string, unknown>;
    assert.equal(data['build_id'], 'GOES-QUIET');
    assert.equal(data['status'], 'running');
    assert.equal(data['stale'], true);
    await new Promise((r) => setTimeout(r, 6000));
    assert.equal(client.events.filter((e) => e.event === 'stale').length, 1, 'said once');
    const late = await SseClient.open(`${baseUrl}/builds/GOES-QUIET/events`);
    await late.waitFor((events) => events.some((e) => e.event === 'stale'), 3000);
    assert.deepEqual(
      late.events.map((e) => e.event),
      ['status', 'stale'],
      'a client that comes later hears it too, after the status',
    );
    late.close();
    const next = await env.publishStatus('GOES-QUIET', 2);
    await client.waitFor((events) => events.some((e) => Number(e.id) === next));
    clock.advance(31 * 60_000);
    await client.waitFor((events) => events.filter((e) => e.event === 'stale').length === 2, 8000);
    client.close();
  });
});

describe('SSE edge: a full replay and a resume racing a burst', () => {
  let env: TestEnv;
  let gateway: NestExpressApplication;
  let baseUrl: string;

  before(async () => {
    // conflation as soon as a client is behind: a replay must still reach a reading client whole
    env = await TestEnv.create({ SSE_CONFLATE_AFTER_MS: '0', SSE_CLIENT_QUEUE_LIMIT: '100000' });
    gateway = await createGateway(logs.into(env.settings));
    baseUrl = urlOf(gateway);
  });
  after(() => env?.cleanup(gateway));

  it('replays a completed build of 250 events to a reading client: 250 status events, then end', async () => {
    const seqs: number[] = [];
    for (let turn = 1; turn <= 249; turn++)
      seqs.push(await env.publishStatus('FULL', turn, { notes: 'n'.repeat(8000) }));
    seqs.push(await env.publishStatus('FULL', 250, { status: 'completed', notes: 'n'.repeat(8000) }));
    for (let round = 0; round < 3; round++) {
      const client = await SseClient.open(`${baseUrl}/builds/FULL/events`, { 'Last-Event-ID': '0' });
      await client.ended;
      assert.deepEqual(client.ids, seqs, `round ${round}: every event, in order`);
      assert.equal(client.events.at(-1)?.event, 'end');
    }
  });

  it('gives 50 clients resuming at random points during a burst of 1,000 events every event once, in order', async () => {
    const published: number[] = [];
    const clients: Promise<number[]>[] = [];
    const burst = (async () => {
      for (let turn = 1; turn <= 1000; turn++) {
        const last = turn === 1000;
        published.push(await env.publishStatus('BURST', turn, last ? { status: 'completed' } : {}));
        if (turn % 20 === 0) {
          // a client comes back from some id it had already seen
          const from = published[Math.floor(Math.random() * published.length)];
          clients.push(
            (async () => {
              const client = await SseClient.open(`${baseUrl}/builds/BURST/events`, {
                'Last-Event-ID': String(from),
              });
              await client.ended;
              return [from, ...client.ids];
            })(),
          );
        }
      }
    })();
    await burst;
    const results = await Promise.all(clients);
    assert.equal(results.length, 50);
    for (const [from, ...ids] of results) {
      assert.deepEqual(
        ids,
        published.filter((seq) => seq > from),
        `the client resuming after ${from}`,
      );
    }
  });
});

describe('SSE edge: NATS going away and coming back', () => {
  let nats: NatsServer;
  let env: TestEnv;
  let gateway: NestExpressApplication;
  let baseUrl: string;

  before(async () => {
    nats = await NatsServer.start();
    env = await TestEnv.create({ NATS_URL: nats.url, STREAM_STORAGE: 'file' });
    gateway = await createGateway(logs.into(env.settings));
    baseUrl = urlOf(gateway);
  });
  after(async () => {
    try {
      // the test's own connection may still be reconnecting to the restarted server
      const { jsm } = await env.nats();
      await eventually(() => jsm.streams.info(env.subjects.streamName('builds')), 10_000, 'JetStream');
      await env.cleanup(gateway);
    } finally {
      await nats?.stop();
    }
  });

  const ready = async () => (await fetch(`${baseUrl}/readyz`)).status;

  it('resumes live delivery within 3 s of a NATS restart, catches up the gap, and serves a connection made during the outage', async (t) => {
    await eventually(async () => ((await ready()) === 200 ? true : undefined), 5000, 'ready');
    const before = await env.publishStatus('OUTAGE', 1);
    const live = new ResumingClient(`${baseUrl}/builds/OUTAGE/events`, 1);
    let during: SseClient | undefined;
    try {
      await eventually(() => (live.ids.includes(before) ? true : undefined), 5000, 'the first event');

      const logged = logs.lines.length;
      await nats.kill();
      await eventually(async () => ((await ready()) === 503 ? true : undefined), 5000, 'not ready');
      for (let probe = 0; probe < 5; probe++) assert.equal(await ready(), 503);
      // REST blames NATS, not the orchestrator, and says when to try again
      const rest = await fetch(`${baseUrl}/builds?limit=1`);
      assert.equal(rest.status, 503);
      assert.equal(rest.headers.get('retry-after'), '5');
      assert.deepEqual(await rest.json(), {
        error: 'BUS_UNAVAILABLE',
        message: 'NATS is not reachable (reconnecting); builds.list could not be asked',
      });
      // A browser opening the page now gets a stream, not an error it would never retry.
      during = await SseClient.open(`${baseUrl}/builds/OUTAGE/events`);
      assert.equal(during.status, 200, 'accepted while NATS is down');
      assert.ok(during.retry !== undefined, 'with a retry hint');

      await nats.restart();
      const back = Date.now();
      // A publisher of its own, connected at once (the test's shared connection waits seconds to reconnect).
      const publisher = await connect({ servers: nats.url });
      const js = jetstream(publisher);
      const subject = env.subjects.buildStatus('OUTAGE');
      const publish = (turn: number) =>
        eventually(
          async () => (await js.publish(subject, JSON.stringify(statusEnvelope('OUTAGE', turn)))).seq,
          10_000,
          'JetStream takes publishes again',
        );
      const gap = await publish(2);
      await eventually(() => (live.ids.includes(gap) ? true : undefined), 10_000, 'live again');
      const took = Date.now() - back;
      t.diagnostic(`live delivery resumed ${took} ms after nats-server was back`);
      assert.ok(took < 3000, `live delivery resumed ${took} ms after NATS came back`);
      const next = await publish(3);
      await eventually(() => (live.ids.includes(next) ? true : undefined), 5000, 'the next event');
      await publisher.close();
      assert.deepEqual(live.ids, [before, gap, next], 'every event once, in order');
      await during.waitFor((events) => events.some((e) => Number(e.id) === next), 5000);
      assert.deepEqual(during.ids.slice(-2), [gap, next], 'the connection made during the outage is served');
      await eventually(async () => ((await ready()) === 200 ? true : undefined), 5000, 'ready again');
      const outage = logs.lines.slice(logged);
      const count = (pattern: RegExp) => outage.filter((line) => pattern.test(line.msg)).length;
      assert.equal(count(/^not ready$/), 1, 'the outage is logged once, not at every probe');
      assert.equal(count(/^ready again$/), 1);
      assert.equal(count(/live delivery resumed/), 4, 'once per stream (builds, triggers, outbox, logs)');
      assert.equal(count(/request failed|Health Check has failed/), 0);
    } finally {
      live.close();
      during?.close();
    }
  });
});
