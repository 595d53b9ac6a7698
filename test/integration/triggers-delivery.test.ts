import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ServiceMetrics } from '#health';
import type { Envelope, TriggerStatusPayload } from '#contracts';
import { eventually, SseClient, Stack, TestEnv, TmuxServer, TriggerApi } from '#test-support';

/**
 * Triggers through the real stack: gateway → NATS request/reply → orchestrator → BullMQ (Redis) →
 * tmux, with the ledger in PostgreSQL and every state change on JetStream.
 */
describe('triggers: delivery into tmux and the fallback chain', () => {
  let env: TestEnv;
  let stack: Stack;
  let api: TriggerApi;
  let tmux: TmuxServer;
  let spawnLog: string;

  before(async () => {
    env = await TestEnv.create({
      TRIGGER_PAYLOAD_MAX_BYTES: '200',
      TRIGGER_BACKOFF_MS: '20',
      TRIGGER_BACKOFF_MAX_MS: '50',
      // resume fails unless its session is named "resumable-*"; spawn records what it was given
      TRIGGER_RESUME_COMMAND:
        'case "$GUARDKIT_TMUX_TARGET" in resumable-*) echo resumed;; *) echo "cannot resume" >&2; exit 4;; esac',
    });
    spawnLog = join(env.root, 'spawn');
    env.vars['TRIGGER_SPAWN_COMMAND'] =
      'tmux -L "$GUARDKIT_TMUX_SOCKET" new-session -d -s "spawned-$GUARDKIT_TRIGGER_ID" cat && ' +
      `printf "%s" "$GUARDKIT_THREAD_SUMMARY" > "${spawnLog}.$GUARDKIT_TRIGGER_ID"`;
    stack = await Stack.start(env);
    api = new TriggerApi(stack.baseUrl);
    tmux = new TmuxServer(env.tmuxSocket);
  });
  after(() => stack?.stop());

  it('types the prompt into a live pane, then Enter, and records one delivered attempt', async () => {
    await tmux.newSession('agent-live');
    await api.registerSession({ agent_id: 'coder', tmux_target: 'agent-live' });
    const created = await api.create({ prompt: 'run the tests' });
    assert.equal(created.decision, 'deliver');
    assert.equal(created.created, true);

    const view = await api.settled(created.trigger_id, ['delivered', 'failed']);
    assert.equal(view.state, 'delivered');
    assert.deepEqual(
      view.attempts.map((a) => [a.attempt, a.step, a.result]),
      [[1, 'deliver', 'delivered']],
    );
    // cat prints the line back once Enter is pressed: the text arrived and was submitted
    await eventually(async () =>
      (await tmux.capture('agent-live')).match(/run the tests/g)?.length === 2 ? true : undefined,
    );

    // the hop is timed, and the trigger counted by state and decision
    const metrics = await stack.orchestrator!.get(ServiceMetrics).scrape();
    assert.match(
      metrics,
      /^guardkit_trigger_attempt_duration_seconds_count\{step="deliver",result="delivered"\} [1-9]/m,
    );
    assert.match(metrics, /^guardkit_triggers\{state="delivered",decision="deliver"\} [1-9]/m);
  });

  it('publishes every state change on guardkit.triggers.<id>.status and streams them over SSE', async () => {
    await tmux.newSession('agent-sse');
    await api.registerSession({ agent_id: 'watcher', tmux_target: 'agent-sse' });
    const created = await api.create({ target_agent_id: 'watcher' });
    await api.settled(created.trigger_id, ['delivered']);

    const stored = await env.storedOn(
      env.subjects.triggerStatus(created.trigger_id),
      env.subjects.streamName('triggers'),
    );
    const states = stored.map((m) => (JSON.parse(m.data) as Envelope<TriggerStatusPayload>).payload.state);
    assert.deepEqual(states, ['queued', 'triggering', 'delivered']);
    const first = JSON.parse(stored[0]?.data ?? '{}') as Envelope<TriggerStatusPayload>;
    assert.equal(first.event_type, 'trigger_queued');
    assert.equal(first.correlation_id, created.trigger_id);

    const sse = await SseClient.open(`${stack.baseUrl}/triggers/${created.trigger_id}/events?lastEventId=0`);
    await sse.waitFor((events) => events.some((e) => e.event === 'end'));
    assert.deepEqual(
      sse.events.filter((e) => e.event === 'trigger').map((e) => Number(e.id)),
      stored.map((m) => m.seq),
    );
    sse.close();
    const again = await fetch(`${stack.baseUrl}/triggers/${created.trigger_id}/events`, {
      headers: { 'Last-Event-ID': String(stored.at(-1)?.seq) },
    });
    assert.equal(again.status, 204);
  });

  it('strips control characters before typing', async () => {
    await tmux.newSession('agent-safe');
    await api.registerSession({ agent_id: 'safe', tmux_target: 'agent-safe' });
    const prompt = `\u001b[2J\u001b[31mred\u001b[0m\nsecond line\u0003 ${'x'.repeat(100)}`;
    const created = await api.create({ target_agent_id: 'safe', prompt });
    const view = await api.settled(created.trigger_id, ['delivered']);
    assert.equal(view.attempts[0]?.details['bytes'], 'red second line '.length + 100);
    const screen = await tmux.capture('agent-safe');
    assert.match(screen, /red second line x{100}/);
    assert.ok(await tmux.hasSession('agent-safe'), 'Ctrl-C was not sent: the pane is still running cat');
  });

  it('refuses a prompt over TRIGGER_PAYLOAD_MAX_BYTES with 413, storing nothing (never half an instruction)', async () => {
    await api.registerSession({ agent_id: 'long', tmux_target: 'agent-long' });
    // 201 bytes once cleaned (the limit here is 200); the escape sequences do not count
    const prompt = `\u001b[31m${'é'.repeat(100)}x\u001b[0m`;
    const res = await api.request('POST', '/triggers', api.trigger({ target_agent_id: 'long', prompt }));
    assert.equal(res.status, 413);
    const body = (await res.json()) as { error: string; message: string };
    assert.equal(body.error, 'PAYLOAD_TOO_LARGE');
    assert.match(body.message, /201 bytes.*TRIGGER_PAYLOAD_MAX_BYTES/);
    const rows = await env.query(`SELECT 1 FROM trigger_jobs WHERE target_agent_id = 'long'`);
    assert.equal(rows.length, 0);
    // exactly at the limit is fine
    const ok = await api.request(
      'POST',
      '/triggers',
      api.trigger({ target_agent_id: 'long', prompt: 'é'.repeat(100) }),
    );
    assert.equal(ok.status, 202);
  });

  it('never reaches a session whose name only starts the same (tmux prefix matching)', async () => {
    await tmux.newSession('prefix10');
    await api.registerSession({ agent_id: 'prefix', tmux_target: 'prefix1', resumable: false });
    const created = await api.create({ target_agent_id: 'prefix', prompt: 'not for prefix10' });
    const view = await api.settled(created.trigger_id, ['fallback_spawn', 'failed']);
    assert.equal(view.attempts[0]?.error_code, 'TARGET_MISSING');
    assert.doesNotMatch(await tmux.capture('prefix10'), /not for prefix10/);
  });

  it('falls back from a dead pane to resume', async () => {
    await tmux.newDeadPane('resumable-dead');
    await api.registerSession({ agent_id: 'crashy', tmux_target: 'resumable-dead', resumable: true });
    const created = await api.create({ target_agent_id: 'crashy' });
    const view = await api.settled(created.trigger_id, ['fallback_resume', 'failed']);
    assert.equal(view.state, 'fallback_resume');
    assert.deepEqual(
      view.attempts.map((a) => [a.step, a.result, a.error_code]),
      [
        ['deliver', 'failed', 'PANE_DEAD'],
        ['resume', 'delivered', null],
      ],
    );
  });

  it('resumes at most twice, then spawns with a summary of the thread', async () => {
    await api.registerSession({ agent_id: 'gone', tmux_target: 'no-such-session', resumable: true });
    const created = await api.create({
      target_agent_id: 'gone',
      thread_id: 'thread-sum',
      reason: 'tests red',
    });
    const view = await api.settled(created.trigger_id, ['fallback_spawn', 'failed']);
    assert.equal(view.state, 'fallback_spawn');
    assert.deepEqual(
      view.attempts.map((a) => [a.step, a.result, a.error_code]),
      [
        ['deliver', 'failed', 'TARGET_MISSING'],
        ['resume', 'failed', 'COMMAND_FAILED'],
        ['resume', 'failed', 'COMMAND_FAILED'],
        ['spawn', 'delivered', null],
      ],
    );
    assert.ok(await tmux.hasSession(`spawned-${created.trigger_id}`));
    const summary = await readFile(`${spawnLog}.${created.trigger_id}`, 'utf8');
    assert.match(summary, /Thread thread-sum in workspace ws/);
    assert.match(summary, /tests red: Please address the review comments/);
  });

  it('spawns at once when the agent has no session', async () => {
    const created = await api.create({ target_agent_id: 'newcomer' });
    assert.equal(created.decision, 'spawn');
    assert.equal(created.session_id, null);
    const view = await api.settled(created.trigger_id, ['fallback_spawn', 'failed']);
    assert.deepEqual(
      view.attempts.map((a) => a.step),
      ['spawn'],
    );
  });

  it('returns the same trigger for the same idempotency_key', async () => {
    const first = await api.create({ target_agent_id: 'idem', idempotency_key: 'wake-42' });
    const second = await api.create({ target_agent_id: 'idem', idempotency_key: 'wake-42', prompt: 'other' });
    assert.equal(second.trigger_id, first.trigger_id);
    assert.equal(second.created, false);
    const [{ count }] = await env.query<{ count: string }>(
      `SELECT count(*) FROM trigger_jobs WHERE idempotency_key = 'wake-42'`,
    );
    assert.equal(count, '1');
  });

  it('answers trigger_participant over NATS request/reply with plain JSON', async () => {
    const { nc } = await env.nats();
    const reply = await nc.request(
      env.subjects.rpc('triggers.create'),
      JSON.stringify(api.trigger({ target_agent_id: 'natsy', thread_id: 'nats-thread' })),
      { timeout: 5000 },
    );
    const answer = reply.json<{ ok: boolean; result: { trigger_id: string; decision: string } }>();
    assert.equal(answer.ok, true);
    assert.equal(answer.result.decision, 'spawn');
    const bad = await nc.request(
      env.subjects.rpc('triggers.create'),
      JSON.stringify({ workspace_id: 'a.b' }),
      {
        timeout: 5000,
      },
    );
    const error = bad.json<{ ok: boolean; error: { code: string; message: string } }>();
    assert.equal(error.ok, false);
    assert.equal(error.error.code, 'INVALID_PAYLOAD');
    assert.match(error.error.message, /workspace_id/);
  });

  it('keeps sessions: register, heartbeat, list, deregister', async () => {
    const session = await api.registerSession({
      agent_id: 'reg',
      tmux_target: 'reg:0.0',
      session_id: 'reg-1',
    });
    assert.equal(session.session_id, 'reg-1');
    const beat = await api.request('POST', '/sessions/reg-1/heartbeat');
    assert.equal(beat.status, 200);
    const list = (await (await api.request('GET', '/sessions?agent_id=reg')).json()) as {
      items: { stale: boolean }[];
    };
    assert.equal(list.items.length, 1);
    assert.equal(list.items[0]?.stale, false);
    const gone = await api.request('DELETE', '/sessions/reg-1');
    assert.equal(gone.status, 200);
    assert.ok(((await gone.json()) as { deregistered_at: string | null }).deregistered_at);
    assert.equal((await api.request('POST', '/sessions/reg-1/heartbeat')).status, 404);
    assert.equal((await api.request('GET', '/sessions/nobody')).status, 404);
  });

  it('refuses bad requests with a clear error, and stores nothing for them', async () => {
    const before = await env.query<{ count: string }>(`SELECT count(*) FROM trigger_jobs`);
    const cases: [unknown, number, RegExp][] = [
      [api.trigger({ prompt: undefined }), 400, /prompt/],
      [api.trigger({ prompt: '' }), 400, /prompt/],
      [api.trigger({ thread_id: 'a.b' }), 400, /thread_id/],
      [api.trigger({ target_agent_id: '*' }), 400, /target_agent_id/],
      [api.trigger({ force_override: {} }), 400, /force_override.reason/],
      [api.trigger({ force_override: 'yes' }), 400, /force_override/],
      ['{not json', 400, /INVALID_PAYLOAD/],
    ];
    for (const [body, status, pattern] of cases) {
      const res = await api.request('POST', '/triggers', body);
      assert.equal(res.status, status, JSON.stringify(body));
      assert.match(await res.text(), pattern);
    }
    assert.equal((await api.request('GET', '/triggers/a.b')).status, 400);
    assert.equal((await api.request('GET', '/triggers/unknown-id')).status, 404);
    assert.equal((await api.request('POST', '/sessions', { agent_id: 'x', runtime: 'screen' })).status, 400);
    assert.equal(
      (
        await api.request('POST', '/sessions', {
          agent_id: 'x',
          workspace_id: 'ws',
          runtime: 'tmux',
          tmux_target: 'a;rm',
          managed: true,
          resumable: true,
        })
      ).status,
      400,
    );
    const afterwards = await env.query<{ count: string }>(`SELECT count(*) FROM trigger_jobs`);
    assert.equal(afterwards[0]?.count, before[0]?.count);
  });
});
