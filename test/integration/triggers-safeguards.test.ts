import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '#platform';
import { eventually, Stack, TestEnv, TmuxServer, TriggerApi } from '#test-support';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * SPEC 5's safeguards against the real services, with the orchestrator's clock in the test's hand: time-based
 * rules are checked by moving the clock, not by waiting.
 */
describe('triggers: safeguards', () => {
  let env: TestEnv;
  let stack: Stack;
  let api: TriggerApi;
  let tmux: TmuxServer;
  const clock = new ManualClock();

  before(async () => {
    env = await TestEnv.create({
      TRIGGER_SPAWN_COMMAND: 'true',
      TRIGGER_AUTO_BLOCK_TURNS: '12',
      TRIGGER_DEFER_RECHECK_MS: '50',
      TRIGGER_BACKOFF_MS: '20',
      TRIGGER_BACKOFF_MAX_MS: '50',
    });
    stack = await Stack.start(env, { clock });
    api = new TriggerApi(stack.baseUrl);
    tmux = new TmuxServer(env.tmuxSocket);
  });
  after(() => stack?.stop());

  const errorOf = async (res: Response) => ({
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    ...((await res.json()) as { error: string }),
  });

  it('allows 10 triggers a minute per agent and thread, then answers 429 TRIGGER_RATE_LIMITED', async () => {
    const body = (n: number) =>
      api.trigger({ target_agent_id: 'busy', thread_id: 'rate', prompt: `finding ${n}` });
    for (let n = 1; n <= 10; n++) await api.create(body(n));
    const limited = await errorOf(await api.request('POST', '/triggers', body(11)));
    assert.equal(limited.status, 429);
    assert.equal(limited.error, 'TRIGGER_RATE_LIMITED');
    assert.equal(limited.retryAfter, '60', 'a 429 says when to try again');
    // another thread of the same agent, and the same thread for another agent, are counted apart
    await api.create(api.trigger({ target_agent_id: 'busy', thread_id: 'rate-2' }));
    await api.create(api.trigger({ target_agent_id: 'other', thread_id: 'rate' }));
    clock.advance(MINUTE + 1);
    await api.create(body(12));
    const [{ count }] = await env.query<{ count: string }>(
      `SELECT count(*) FROM trigger_jobs WHERE target_agent_id = 'busy' AND thread_id = 'rate'`,
    );
    assert.equal(count, '11', 'the refused trigger was not stored');
  });

  it('blocks a thread after 3 identical findings in a row, until progress is reported', async () => {
    const same = api.trigger({ thread_id: 'loop', target_agent_id: 'looper', prompt: 'Fix the flaky test' });
    for (let n = 0; n < 3; n++) await api.create(same);
    const blocked = await errorOf(
      await api.request(
        'POST',
        '/triggers',
        api.trigger({ thread_id: 'loop', target_agent_id: 'looper', prompt: 'new' }),
      ),
    );
    assert.equal(blocked.status, 409);
    assert.equal(blocked.error, 'THREAD_AUTO_BLOCKED');
    const audit = await env.query<{ action: string; reason: string }>(
      `SELECT action, reason FROM audit_log WHERE subject_id = 'ws/loop' ORDER BY id`,
    );
    assert.deepEqual(audit, [{ action: 'thread_auto_blocked', reason: '3 identical findings in a row' }]);

    const progress = await api.request('POST', '/threads/loop/progress', { workspace_id: 'ws' });
    assert.equal(progress.status, 204);
    await api.create(same);
  });

  it('blocks a thread after the configured number of turns without progress (12 here)', async () => {
    for (let n = 1; n <= 12; n++) {
      await api.create(
        api.trigger({ thread_id: 'turns', target_agent_id: `agent-${n}`, prompt: `finding ${n}` }),
      );
    }
    const blocked = await errorOf(
      await api.request('POST', '/triggers', api.trigger({ thread_id: 'turns', prompt: 'thirteenth' })),
    );
    assert.equal(blocked.error, 'THREAD_AUTO_BLOCKED');
  });

  it('lets force_override through a blocked thread only with a reason, and audits it', async () => {
    for (let n = 0; n < 3; n++)
      await api.create(api.trigger({ thread_id: 'forced', prompt: 'same finding' }));
    const noReason = await api.request(
      'POST',
      '/triggers',
      api.trigger({ thread_id: 'forced', force_override: { reason: '' } }),
    );
    assert.equal(noReason.status, 400);
    const forced = await api.create(
      api.trigger({
        thread_id: 'forced',
        prompt: 'same finding',
        force_override: { reason: 'operator: the test was fixed by hand' },
      }),
    );
    assert.equal(forced.created, true);
    const view = await api.get(forced.trigger_id);
    assert.equal(view.forced, true);
    const audit = await env.query<{ action: string; reason: string | null }>(
      `SELECT action, reason FROM audit_log WHERE subject_id = 'ws/forced' ORDER BY id`,
    );
    assert.deepEqual(
      audit.map((a) => a.action),
      ['thread_auto_blocked', 'force_override'],
    );
    assert.equal(audit[1]?.reason, 'operator: the test was fixed by hand');
  });

  it('skips resume for a session stale for more than 12 hours', async () => {
    await api.registerSession({ agent_id: 'sleepy', tmux_target: 'sleepy', managed: false, resumable: true });
    const fresh = await api.create(api.trigger({ target_agent_id: 'sleepy', thread_id: 'stale-1' }));
    assert.equal(fresh.decision, 'resume');
    clock.advance(12 * HOUR + MINUTE);
    const stale = await api.create(api.trigger({ target_agent_id: 'sleepy', thread_id: 'stale-2' }));
    assert.equal(stale.decision, 'spawn');
    const sessions = (await (await api.request('GET', '/sessions?agent_id=sleepy')).json()) as {
      items: { stale: boolean }[];
    };
    assert.equal(sessions.items[0]?.stale, true);
  });

  it('goes straight to spawn after 3 runtime failures in 15 minutes', async () => {
    await api.registerSession({ agent_id: 'crashing', tmux_target: 'crashing' });
    for (let n = 1; n <= 3; n++) {
      const created = await api.create(api.trigger({ target_agent_id: 'crashing', thread_id: `crash-${n}` }));
      assert.equal(created.decision, 'deliver');
      const view = await api.settled(created.trigger_id, ['fallback_spawn', 'failed']);
      assert.equal(view.attempts[0]?.error_code, 'TARGET_MISSING');
    }
    await tmux.newSession('crashing'); // the pane is back, but the agent has been crashing
    const looping = await api.create(api.trigger({ target_agent_id: 'crashing', thread_id: 'crash-4' }));
    assert.equal(looping.decision, 'spawn');
    clock.advance(15 * MINUTE + 1);
    await api.request(
      'POST',
      `/sessions/${(await api.registerSession({ agent_id: 'crashing', tmux_target: 'crashing' })).session_id}/heartbeat`,
    );
    const calm = await api.create(api.trigger({ target_agent_id: 'crashing', thread_id: 'crash-5' }));
    assert.equal(calm.decision, 'deliver');
    assert.equal((await api.settled(calm.trigger_id, ['delivered', 'failed'])).state, 'delivered');
  });

  it('defers while a person is typing in the pane, then delivers once it is quiet', async () => {
    await tmux.newSession('typing');
    await api.registerSession({ agent_id: 'typist', tmux_target: 'typing' });
    const person = tmux.attach('typing');
    try {
      await person.ready();
      person.type('ls\r'); // a line typed and sent: the input line is empty again
      clock.set(Date.now());
      const created = await api.create(api.trigger({ target_agent_id: 'typist', thread_id: 'typing' }));
      const deferred = await api.settled(created.trigger_id, ['deferred', 'delivered']);
      assert.equal(deferred.state, 'deferred');
      assert.equal(deferred.attempts.length, 0, 'a deferral is not an attempt');
      clock.advance(20_000 + 1000); // 20 s of quiet
      const view = await api.settled(created.trigger_id, ['delivered', 'failed']);
      assert.equal(view.state, 'delivered');
    } finally {
      person.detach();
    }
  });

  it('gives up on a pane that stays busy for 60 s and falls back; force_override does not wait', async () => {
    await tmux.newSession('busy-pane');
    await api.registerSession({ agent_id: 'typist2', tmux_target: 'busy-pane', resumable: false });
    const person = tmux.attach('busy-pane');
    try {
      await person.ready();
      // deferred 70 s ago by the orchestrator's clock, and the person is still typing now
      person.type('x\r');
      clock.set(Date.now() - 70_000);
      const created = await api.create(api.trigger({ target_agent_id: 'typist2', thread_id: 'busy' }));
      await api.settled(created.trigger_id, ['deferred']);
      person.type('y\r');
      clock.set(Date.now());
      const view = await api.settled(created.trigger_id, ['fallback_spawn', 'failed']);
      assert.deepEqual(
        view.attempts.map((a) => [a.step, a.result, a.error_code]),
        [
          ['deliver', 'deferred', 'DEFER_TIMEOUT'],
          ['spawn', 'delivered', null],
        ],
      );

      const forced = await api.create(
        api.trigger({
          target_agent_id: 'typist2',
          thread_id: 'busy-forced',
          force_override: { reason: 'urgent' },
        }),
      );
      assert.equal((await api.settled(forced.trigger_id, ['delivered', 'deferred'])).state, 'delivered');
    } finally {
      person.detach();
    }
  });

  it("never types into a person's unsent line: it defers, even when forced, then falls back", async () => {
    await tmux.newSession('half-typed');
    await api.registerSession({ agent_id: 'typist3', tmux_target: 'half-typed', resumable: false });
    const person = tmux.attach('half-typed');
    try {
      await person.ready();
      person.type('human typed this'); // and no Enter
      await eventually(async () =>
        (await tmux.capture('half-typed')).includes('human typed this') ? true : undefined,
      );
      clock.set(Date.now() + 25_000); // the person has been quiet for longer than the quiet window
      const created = await api.create(
        api.trigger({ target_agent_id: 'typist3', thread_id: 'half', prompt: 'TRIGGER TEXT' }),
      );
      assert.equal((await api.settled(created.trigger_id, ['deferred', 'delivered'])).state, 'deferred');
      const forced = await api.create(
        api.trigger({
          target_agent_id: 'typist3',
          thread_id: 'half-forced',
          prompt: 'FORCED TEXT',
          force_override: { reason: 'urgent' },
        }),
      );
      assert.equal((await api.settled(forced.trigger_id, ['deferred', 'delivered'])).state, 'deferred');

      clock.advance(61_000); // past TRIGGER_DEFER_MAX_MS: both fall back to spawn
      for (const id of [created.trigger_id, forced.trigger_id]) {
        const view = await api.settled(id, ['fallback_spawn', 'failed', 'delivered']);
        assert.deepEqual(
          view.attempts.map((a) => [a.step, a.result, a.error_code]),
          [
            ['deliver', 'deferred', 'DEFER_TIMEOUT'],
            ['spawn', 'delivered', null],
          ],
        );
      }
      const screen = await tmux.capture('half-typed');
      assert.doesNotMatch(screen, /TRIGGER TEXT|FORCED TEXT/);
      assert.match(screen, /human typed this\s*$/, "the person's line is as they left it");
    } finally {
      person.detach();
    }
  });
});
