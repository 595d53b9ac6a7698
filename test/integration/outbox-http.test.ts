import assert from 'node:assert/strict';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Envelope, OutboxMessagePayload, OutboxMessageView } from '#contracts';
import { eventually, SseClient, Stack, TestEnv } from '#test-support';

type Page = { messages: OutboxMessageView[] };
const payloadOf = (data: string) => (JSON.parse(data) as Envelope<OutboxMessagePayload>).payload;

describe('outbox over HTTP: AutoAppDev-compatible API and SSE, through the real services', () => {
  let env: TestEnv;
  let stack: Stack;
  let outbox: string;

  before(async () => {
    env = await TestEnv.create();
    outbox = join(env.root, 'runtime', 'outbox');
    await mkdir(outbox, { recursive: true });
    stack = await Stack.start(env);
  });
  after(() => stack?.stop());

  const post = (body: string) =>
    fetch(`${stack.baseUrl}/api/outbox`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body,
    });
  const list = async (query = '') =>
    (await (await fetch(`${stack.baseUrl}/api/outbox${query}`)).json()) as Page;
  async function drop(name: string, content: string): Promise<void> {
    await writeFile(join(outbox, `.tmp.${name}`), content);
    await rename(join(outbox, `.tmp.${name}`), join(outbox, name));
  }

  it('shows a runner file and a POST live on /outbox/events, and stores both once', async () => {
    const client = await SseClient.open(`${stack.baseUrl}/outbox/events`);
    await drop('1800000000000_pipeline.md', 'META_TASK t1: start');
    await client.waitForCount(1);
    const posted = await post(JSON.stringify({ role: 'System', content: '  deploy finished  ' }));
    assert.equal(posted.status, 200);
    assert.deepEqual(await posted.json(), { ok: true });
    await client.waitForCount(2);
    assert.deepEqual(
      client.events.map((e) => [
        e.event,
        payloadOf(e.data).source,
        payloadOf(e.data).role,
        payloadOf(e.data).content,
      ]),
      [
        ['outbox', 'local', 'pipeline', 'META_TASK t1: start'],
        ['outbox', 'api', 'system', 'deploy finished'],
      ],
    );
    client.close();
    const page = await eventually(async () => {
      const got = await list();
      return got.messages.length === 2 ? got : undefined;
    });
    assert.deepEqual(
      page.messages.map((m) => [m.role, m.content, m.source]),
      [
        ['pipeline', 'META_TASK t1: start', 'local'],
        ['system', 'deploy finished', 'api'],
      ],
    );
    assert.deepEqual(
      page.messages.map((m) => m.seq),
      client.ids,
      'seq is the stream sequence, the same as the SSE id',
    );
    assert.ok(page.messages[0].id < page.messages[1].id, 'ids follow the order messages were stored in');
    assert.match(page.messages[0].created_at, /^\d{4}-\d\d-\d\dT/);
  });

  it('lists the newest N, oldest first, and narrows by source', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await post(JSON.stringify({ content: `n${i}` }))).status, 200);
    const page = await eventually(async () => {
      const got = await list('?limit=3');
      return got.messages.at(-1)?.content === 'n4' ? got : undefined;
    });
    assert.deepEqual(
      page.messages.map((m) => m.content),
      ['n2', 'n3', 'n4'],
    );
    assert.deepEqual(
      (await list('?source=local')).messages.map((m) => m.content),
      ['META_TASK t1: start'],
    );
    for (const bad of ['?limit=0', '?limit=501', '?limit=abc', '?source=a.b']) {
      assert.equal((await fetch(`${stack.baseUrl}/api/outbox${bad}`)).status, 400, bad);
    }
  });

  it("answers bad POSTs with AutoAppDev's error bodies, and stores nothing for them", async () => {
    const before = (await list('?limit=500')).messages.length;
    const cases: [string, string][] = [
      ['[1, 2]', 'invalid_body'],
      ['"text"', 'invalid_body'],
      ['{not json', 'invalid_body'],
      [JSON.stringify({ content: { text: 'hi' } }), 'invalid_body'],
      ['{}', 'empty'],
      [JSON.stringify({ content: '   ' }), 'empty'],
      [JSON.stringify({ content: 'x'.repeat(10_001) }), 'too_long'],
    ];
    for (const [body, error] of cases) {
      const res = await post(body);
      assert.equal(res.status, 400, body.slice(0, 20));
      assert.equal(((await res.json()) as { error: string }).error, error, body.slice(0, 20));
    }
    assert.equal(
      (await post(JSON.stringify({ content: 'x'.repeat(10_000) }))).status,
      200,
      'exactly the limit is fine',
    );
    await eventually(async () =>
      (await list('?limit=500')).messages.length === before + 1 ? true : undefined,
    );
  });

  it('resumes /outbox/events from Last-Event-ID, and narrows it by ?source=', async () => {
    const all = (await list('?limit=500')).messages;
    const from = all[1].seq;
    const resumed = await SseClient.open(`${stack.baseUrl}/outbox/events`, { 'Last-Event-ID': String(from) });
    await resumed.waitForCount(all.length - 2);
    assert.deepEqual(
      resumed.ids,
      all.slice(2).map((m) => m.seq),
    );
    resumed.close();

    const local = await SseClient.open(`${stack.baseUrl}/outbox/events?source=local&lastEventId=0`);
    await local.waitForCount(1);
    await drop('1800000000001_system.md', 'local again');
    await local.waitForCount(2);
    assert.deepEqual(
      local.events.map((e) => payloadOf(e.data).source),
      ['local', 'local'],
    );
    local.close();
    assert.equal((await fetch(`${stack.baseUrl}/outbox/events?source=no.pe`)).status, 400);
  });
});
