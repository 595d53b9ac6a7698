import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EnvelopeDto, validatePlain } from '#contracts';
import { ProgressFileWriter } from '#producers';
import {
  envelopeOf,
  eventually,
  payloadOf,
  progressUpdate,
  rejectionOf,
  SseClient,
  Stack,
  TestEnv,
} from '#test-support';
import { ProgressIngestor } from '../../apps/ingestor/src/progress/progress-ingestor.js';

describe('GuardKit progress.json to SSE, through the real services', () => {
  let env: TestEnv;
  let stack: Stack;

  before(async () => {
    // a short duplicate window, so NATS cannot hide a second publish after the ingestor restarts
    env = await TestEnv.create({ SSE_HEARTBEAT_MS: '1000', STREAM_DUPLICATE_WINDOW_SECONDS: '1' });
    stack = await Stack.start(env);
  });
  after(() => stack?.stop());

  const stored = (buildId: string) => env.storedOn(env.subjects.buildStatus(buildId));
  async function writeAndWait(
    writer: ProgressFileWriter,
    update: ReturnType<typeof progressUpdate>,
  ): Promise<number> {
    const before = (await stored(writer.taskId)).length;
    await writer.write(update);
    const after = await eventually(async () => {
      const all = await stored(writer.taskId);
      return all.length > before ? all : undefined;
    });
    return after.at(-1)!.seq;
  }

  it('streams a progress.json written to disk as a status event, to a client that connected first', async () => {
    const client = await SseClient.open(`${stack.baseUrl}/builds/TASK-SSE-1/events`);
    assert.equal(client.status, 200);
    assert.match(String(client.response.headers['content-type']), /^text\/event-stream/);
    assert.match(String(client.response.headers['cache-control']), /no-cache/);
    assert.equal(client.response.headers['x-accel-buffering'], 'no');

    const writer = new ProgressFileWriter(env.root, 'TASK-SSE-1');
    await writer.write(progressUpdate(1));
    await client.waitForCount(1);
    const [event] = client.events;
    assert.equal(event?.event, 'status');
    assert.match(event?.id ?? '', /^\d+$/);
    const envelope = JSON.parse(event.data) as Record<string, unknown> & {
      payload: Record<string, unknown>;
    };
    assert.ok(validatePlain(EnvelopeDto, envelope).ok, 'the data is a valid envelope');
    assert.equal(envelope['event_type'], 'build_started');
    assert.equal(envelope['version'], '1.0');
    assert.equal(envelope.payload['build_id'], 'TASK-SSE-1');
    assert.equal(envelope.payload['turn'], 1);
    assert.equal(envelope.payload['progress_pct'], 0); // turn 1 of 50, in progress, wave 1 of 2
    assert.ok(client.retry !== undefined && client.retry >= 3000, 'a retry hint opens the stream');
    await client.waitFor(() => client.comments.includes('ping'), 5000);
    client.close();
  });

  it('resumes with Last-Event-ID while the build goes on: every event once, in order, then end and 204', async () => {
    const writer = new ProgressFileWriter(env.root, 'TASK-RESUME');
    for (let turn = 1; turn <= 3; turn++) await writeAndWait(writer, progressUpdate(turn));

    const first = await SseClient.open(`${stack.baseUrl}/builds/TASK-RESUME/events?lastEventId=0`);
    await first.waitForCount(3);
    first.close();
    const lastSeen = first.ids.at(-1)!;

    // The build goes on while nobody listens, and keeps going while the client comes back.
    for (let turn = 4; turn <= 6; turn++) await writeAndWait(writer, progressUpdate(turn));
    const writing = (async () => {
      for (let turn = 7; turn <= 14; turn++) {
        await writer.write(progressUpdate(turn));
        await new Promise((r) => setTimeout(r, 15));
      }
      await writeAndWait(writer, progressUpdate(15, { status: 'completed', phase_status: 'completed' }));
    })();
    const second = await SseClient.open(`${stack.baseUrl}/builds/TASK-RESUME/events`, {
      'Last-Event-ID': String(lastSeen),
    });
    await writing;
    await second.ended;

    const all = (await stored('TASK-RESUME')).map((m) => m.seq);
    assert.deepEqual(
      [...first.ids, ...second.ids],
      all,
      'both connections together saw every stored event once, in order',
    );
    assert.equal(second.events.at(-1)?.event, 'end');
    assert.equal((JSON.parse(second.events.at(-1)!.data) as { status: string }).status, 'completed');

    const again = await SseClient.open(`${stack.baseUrl}/builds/TASK-RESUME/events`, {
      'Last-Event-ID': String(all.at(-1)),
    });
    assert.equal(again.status, 204, 'a resume past the terminal event gets 204, which stops EventSource');
  });

  it('sends a finished build its latest status, then end, to a client without Last-Event-ID', async () => {
    const client = await SseClient.open(`${stack.baseUrl}/builds/TASK-RESUME/events`);
    await client.ended;
    assert.deepEqual(
      client.events.map((e) => e.event),
      ['status', 'end'],
    );
    assert.equal(payloadOf(client.events[0].data).status, 'completed');
  });

  it('rejects an invalid file with a reason, keeps running, and takes the file again once it is fixed', async () => {
    const dir = join(env.root, '.guardkit', 'autobuild', 'TASK-BAD');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'progress.json'), '{"status": "running", "turn": ');
    const rejected = await eventually(async () => {
      const all = await env.storedOn(env.subjects.ingestRejected(), env.subjects.streamName('ingest'));
      return all.find((m) => m.data.includes('TASK-BAD'));
    });
    const payload = rejectionOf(rejected.data);
    assert.equal(payload.bridge, 'progress');
    assert.equal(payload.path, join(dir, 'progress.json'));
    assert.equal(payload.reason, 'not JSON');

    await writeFile(
      join(dir, 'progress.json'),
      JSON.stringify({ ...progressUpdate(1), task_id: 'TASK-BAD', turn: 'two' }),
    );
    const schema = await eventually(async () => {
      const all = await env.storedOn(env.subjects.ingestRejected(), env.subjects.streamName('ingest'));
      return all
        .map((m) => rejectionOf(m.data))
        .find((p) => p.path.includes('TASK-BAD') && p.reason.includes('schema'));
    });
    assert.ok(
      schema.problems.some((p) => p.startsWith('turn')),
      JSON.stringify(schema.problems),
    );
    assert.equal((await stored('TASK-BAD')).length, 0, 'nothing invalid reached the build subject');

    // the same two, newest first, over REST
    const listed = (await (await fetch(`${stack.baseUrl}/ingest/rejections?limit=2`)).json()) as {
      items: { path: string; reason: string; problems: string[]; seq: number; received_at: string }[];
    };
    assert.deepEqual(
      listed.items.map((r) => [r.path, r.reason.includes('schema') ? 'schema' : r.reason]),
      [
        [join(dir, 'progress.json'), 'schema'],
        [join(dir, 'progress.json'), 'not JSON'],
      ],
    );
    assert.ok(listed.items[0].seq > listed.items[1].seq);
    assert.ok(Math.abs(Date.parse(listed.items[0].received_at) - Date.now()) < 60_000);
    assert.equal((await fetch(`${stack.baseUrl}/ingest/rejections?limit=0`)).status, 400);

    const writer = new ProgressFileWriter(env.root, 'TASK-BAD');
    await writeAndWait(writer, progressUpdate(2));
    const client = await SseClient.open(`${stack.baseUrl}/builds/TASK-BAD/events`);
    await client.waitForCount(1);
    assert.equal(payloadOf(client.events[0].data).turn, 2);
    client.close();
  });

  it('publishes nothing twice after the ingestor restarts, and publishes the next change once', async () => {
    const writer = new ProgressFileWriter(env.root, 'TASK-RESTART');
    await writeAndWait(writer, progressUpdate(1));
    await writeAndWait(writer, progressUpdate(2));
    const before = await stored('TASK-RESTART');
    await new Promise((r) => setTimeout(r, 1100)); // past the duplicate window: a second publish would be stored

    await stack.restartIngestor();
    const restarted = stack.ingestor!.get(ProgressIngestor);
    const path = join(env.root, '.guardkit', 'autobuild', 'TASK-RESTART', 'progress.json');
    await eventually(
      () => (restarted.handled(path) ? true : undefined),
      10_000,
      'the new ingestor to read it',
    );
    assert.deepEqual(await stored('TASK-RESTART'), before);

    await writeAndWait(writer, progressUpdate(3));
    const afterChange = await stored('TASK-RESTART');
    assert.equal(afterChange.length, before.length + 1);
    assert.equal(envelopeOf(afterChange.at(-1)!.data).event_type, 'build_progress');
  });

  it('serves several builds on /events in stream order', async () => {
    const a = new ProgressFileWriter(env.root, 'TASK-MULTI-A');
    const b = new ProgressFileWriter(env.root, 'TASK-MULTI-B');
    await writeAndWait(a, progressUpdate(1));
    const client = await SseClient.open(`${stack.baseUrl}/events?builds=TASK-MULTI-A,TASK-MULTI-B`);
    await client.waitForCount(1);
    await writeAndWait(b, progressUpdate(1));
    await writeAndWait(a, progressUpdate(2));
    await writeAndWait(b, progressUpdate(2, { status: 'failed' }));
    await client.waitFor((events) => events.some((e) => e.event === 'end'));
    await writeAndWait(a, progressUpdate(3, { status: 'cancelled' }));
    await client.ended;
    const builds = client.events.filter((e) => e.event === 'status').map((e) => payloadOf(e.data).build_id);
    assert.deepEqual(builds, [
      'TASK-MULTI-A',
      'TASK-MULTI-B',
      'TASK-MULTI-A',
      'TASK-MULTI-B',
      'TASK-MULTI-A',
    ]);
    assert.deepEqual(
      client.ids,
      [...client.ids].sort((x, y) => x - y),
      'ids ascend',
    );
    assert.equal(client.events.filter((e) => e.event === 'end').length, 2);
  });

  it('serves every build on /events?builds=*: new builds as they start, `end` per build, resumable', async () => {
    const client = await SseClient.open(`${stack.baseUrl}/events?builds=*`);
    await client.waitForCount(1); // the stream's newest event, as any stream without Last-Event-ID starts
    const first = client.events.length;
    const a = new ProgressFileWriter(env.root, 'TASK-ALL-A');
    const b = new ProgressFileWriter(env.root, 'TASK-ALL-B');
    await writeAndWait(a, progressUpdate(1));
    await writeAndWait(b, progressUpdate(1));
    const bCompleted = await writeAndWait(b, progressUpdate(2, { status: 'completed' }));
    await writeAndWait(a, progressUpdate(2));
    await client.waitFor(
      (events) => events.filter((e) => e.event === 'status' && e.data.includes('TASK-ALL-A')).length >= 2,
    );
    const live = client.events.slice(first);
    assert.deepEqual(
      live.map(
        (e) =>
          `${e.event} ${e.event === 'end' ? (JSON.parse(e.data) as { build_id: string }).build_id : payloadOf(e.data).build_id}`,
      ),
      ['status TASK-ALL-A', 'status TASK-ALL-B', 'status TASK-ALL-B', 'end TASK-ALL-B', 'status TASK-ALL-A'],
      'a build that ends does not end the stream',
    );
    client.close();

    // resuming from before B's end: every build's events after it, in order
    const resumed = await SseClient.open(`${stack.baseUrl}/events?builds=*`, {
      'Last-Event-ID': String(bCompleted - 1),
    });
    await resumed.waitFor((events) => events.filter((e) => e.event === 'status').length >= 2);
    assert.deepEqual(
      resumed.events.filter((e) => e.event === 'status').map((e) => Number(e.id)),
      [bCompleted, bCompleted + 1],
    );
    resumed.close();
  });

  it('answers bad ids and bad Last-Event-IDs with 400 and a JSON error', async () => {
    for (const path of [
      '/builds/bad.id/events',
      '/builds/a%20b',
      '/events?builds=ok,no.pe',
      '/events',
      '/builds/x/events?lastEventId=abc',
    ]) {
      const res = await fetch(`${stack.baseUrl}${path}`);
      assert.equal(res.status, 400, path);
      const body = (await res.json()) as { error: string; message: string };
      assert.ok(body.error && body.message, path);
    }
  });

  it('lists builds newest first with a cursor, filters by status, and answers 404 for an unknown build', async () => {
    await eventually(async () => {
      const res = await fetch(`${stack.baseUrl}/builds?limit=200`);
      const page = (await res.json()) as { items: { build_id: string }[] };
      return page.items.length >= 5 ? page : undefined;
    });
    const seen: string[] = [];
    let cursor: string | null = null;
    let lastEventIds: number[] = [];
    do {
      const res: Response = await fetch(
        `${stack.baseUrl}/builds?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      const page = (await res.json()) as {
        items: { build_id: string; last_event_id: number }[];
        next_cursor: string | null;
      };
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((b) => b.build_id));
      lastEventIds = [...lastEventIds, ...page.items.map((b) => b.last_event_id)];
      cursor = page.next_cursor;
    } while (cursor);
    assert.equal(new Set(seen).size, seen.length, 'pages do not overlap');
    assert.deepEqual(
      lastEventIds,
      [...lastEventIds].sort((x, y) => y - x),
      'most recently active first',
    );

    // the listing is the projection, which may trail the stream by PROJECTION_BATCH_MS
    const completed = await eventually(async () => {
      const page = (await (await fetch(`${stack.baseUrl}/builds?status=completed`)).json()) as {
        items: { build_id: string }[];
      };
      return page.items.length >= 2 ? page : undefined;
    });
    assert.deepEqual(
      completed.items.map((b) => b.build_id),
      ['TASK-ALL-B', 'TASK-RESUME'],
    );

    const one = await fetch(`${stack.baseUrl}/builds/TASK-RESUME`);
    assert.equal(one.status, 200);
    const view = (await one.json()) as { status: string; progress_pct: number; latest: { turn: number } };
    assert.equal(view.status, 'completed');
    assert.equal(view.progress_pct, 100);
    assert.equal(view.latest.turn, 15);

    const missing = await fetch(`${stack.baseUrl}/builds/NO-SUCH-BUILD`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: string }).error, 'NOT_FOUND');
    for (const query of ['limit=0', 'limit=abc', 'limit=201', 'status=done', 'cursor=zzzz']) {
      const res = await fetch(`${stack.baseUrl}/builds?${query}`);
      assert.equal(res.status, 400, query);
    }
  });

  it('reports readiness and serves metrics', async () => {
    const ready = await fetch(`${stack.baseUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { status: string }).status, 'ok');
    assert.equal((await fetch(`${stack.baseUrl}/healthz`)).status, 200);
    const metrics = await (await fetch(`${stack.baseUrl}/metrics`)).text();
    assert.match(metrics, /guardkit_sse_events_total\{stream="build",event="status"\} \d+/);
  });
});

describe('SSE reset when the events after Last-Event-ID are gone', () => {
  let env: TestEnv;
  let stack: Stack;

  before(async () => {
    env = await TestEnv.create({ STREAM_MAX_MSGS_PER_SUBJECT: '2' });
    stack = await Stack.start(env);
  });
  after(() => stack?.stop());

  it('sends event: reset with the latest status, then live events', async () => {
    const writer = new ProgressFileWriter(env.root, 'TASK-OLD');
    const subject = env.subjects.buildStatus('TASK-OLD');
    for (let turn = 1; turn <= 5; turn++) {
      await writer.write(progressUpdate(turn));
      await eventually(async () =>
        (await env.storedOn(subject)).some((m) => payloadOf(m.data).turn === turn) ? true : undefined,
      );
    }
    const client = await SseClient.open(`${stack.baseUrl}/builds/TASK-OLD/events`, { 'Last-Event-ID': '1' });
    await client.waitForCount(1);
    assert.equal(client.events[0]?.event, 'reset');
    assert.equal(payloadOf(client.events[0].data).turn, 5);
    await writer.write(progressUpdate(6));
    await client.waitForCount(2);
    assert.equal(client.events[1]?.event, 'status');
    assert.equal(payloadOf(client.events[1].data).turn, 6);
    client.close();

    const future = await SseClient.open(`${stack.baseUrl}/builds/TASK-OLD/events`, {
      'Last-Event-ID': '999999',
    });
    await future.waitForCount(1);
    assert.equal(
      future.events[0]?.event,
      'reset',
      'an id past the end of the stream (a replaced stream) resets too',
    );
    future.close();
  });

  it('resets, never answers 204, a client whose id is from a stream since made anew, though the build ended', async () => {
    await env.publishStatus('TASK-ANEW', 1, { status: 'completed' });
    const { jsm } = await env.nats();
    const name = env.subjects.streamName('builds');
    const { config } = await jsm.streams.info(name);
    await jsm.streams.delete(name); // a lost volume: the stream is made again, sequences start over
    await jsm.streams.add(config);
    await env.publishStatus('TASK-ANEW', 2, { status: 'completed' }); // sequence 1 of the new stream
    const client = await SseClient.open(`${stack.baseUrl}/builds/TASK-ANEW/events`, {
      'Last-Event-ID': '50',
    });
    assert.equal(client.status, 200, 'the client never saw this stream: not 204');
    await client.waitFor((events) => events.some((e) => e.event === 'end'));
    assert.equal(client.events[0]?.event, 'reset');
    assert.equal(payloadOf(client.events[0].data).turn, 2);
    client.close();
  });
});
