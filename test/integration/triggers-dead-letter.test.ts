import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Queue } from 'bullmq';
import { TRIGGERS_DEAD_QUEUE, type TriggerView } from '#contracts';
import { redisConnection } from '#queues';
import { eventually, Stack, TestEnv, TriggerApi } from '#test-support';

interface DeadLetter {
  trigger_id: string;
  prompt: string;
  last_error: { code: string; message: string };
  attempts: TriggerView['attempts'];
}

/**
 * A trigger that can never succeed: retried with backoff, then failed into `triggers-dead` with its payload,
 * last error and attempt history; replayed from the board (bull-board's own API) or the REST endpoint.
 */
describe('triggers: retries, the dead-letter queue and the board', () => {
  let env: TestEnv;
  let stack: Stack;
  let api: TriggerApi;
  let dead: Queue<DeadLetter>;
  let healthy: string;

  before(async () => {
    env = await TestEnv.create({
      TRIGGER_ATTEMPTS: '3',
      TRIGGER_BACKOFF_MS: '30',
      TRIGGER_BACKOFF_MAX_MS: '60',
    });
    healthy = join(env.root, 'spawn-works');
    // spawn fails (exit 3) until the test creates the file: a runtime that is down, then fixed
    env.vars['TRIGGER_SPAWN_COMMAND'] = `test -f ${healthy} || { echo "runtime down" >&2; exit 3; }`;
    stack = await Stack.start(env);
    api = new TriggerApi(stack.baseUrl);
    dead = new Queue(TRIGGERS_DEAD_QUEUE, {
      connection: redisConnection(env.urls.redisUrl),
      prefix: env.namespace,
    });
  });
  after(async () => {
    await dead?.close();
    await stack?.stop();
  });

  /** A trigger failed for good, its dead letter parked in the board's Failed tab of triggers-dead. */
  async function failedTrigger(thread: string): Promise<TriggerView> {
    const created = await api.create(api.trigger({ target_agent_id: 'nobody', thread_id: thread }));
    const view = await api.settled(created.trigger_id, ['failed']);
    await eventually(async () => {
      const job = await dead.getJob(view.trigger_id);
      return job && (await job.isFailed()) ? true : undefined;
    });
    return view;
  }

  it('retries a failing spawn with backoff, then fails it into triggers-dead with its history', async () => {
    const view = await failedTrigger('dlq-1');
    assert.deepEqual(
      view.attempts.map((a) => [a.attempt, a.step, a.result, a.error_code]),
      [
        [1, 'spawn', 'failed', 'COMMAND_FAILED'],
        [2, 'spawn', 'failed', 'COMMAND_FAILED'],
        [3, 'spawn', 'failed', 'COMMAND_FAILED'],
      ],
    );
    assert.equal(view.last_error?.code, 'COMMAND_FAILED');
    assert.match(view.last_error?.message ?? '', /runtime down/);

    const job = await dead.getJob(view.trigger_id);
    assert.ok(job);
    assert.equal(job.data.prompt, view.prompt);
    assert.equal(job.data.last_error.code, 'COMMAND_FAILED');
    assert.equal(job.data.attempts.length, 3);
    assert.match(job.failedReason, /COMMAND_FAILED/);
  });

  it('shows both queues on the board, and Retry on the dead letter replays the trigger', async () => {
    const view = await failedTrigger('dlq-board');
    const board = (await (await fetch(`${stack.baseUrl}/admin/queues/api/queues`)).json()) as {
      queues: { name: string; counts: { failed: number } }[];
    };
    assert.deepEqual(board.queues.map((q) => q.name).sort(), [
      'agents-analyst',
      'agents-bug_hunter',
      'agents-committer',
      'agents-consensus',
      'agents-implementer',
      'agents-planner',
      'agents-reviewer',
      'agents-splitter',
      'agents-tester',
      'triggers',
      'triggers-dead',
    ]);
    assert.ok((board.queues.find((q) => q.name === 'triggers-dead')?.counts.failed ?? 0) >= 1);

    await writeFile(healthy, '');
    try {
      const retry = await fetch(
        `${stack.baseUrl}/admin/queues/api/queues/triggers-dead/${view.trigger_id}/retry`,
        {
          method: 'PUT',
        },
      );
      assert.equal(retry.status, 204);
      const replayed = await api.settled(view.trigger_id, ['fallback_spawn']);
      assert.deepEqual(
        replayed.attempts.map((a) => [a.attempt, a.step, a.result]),
        [
          [1, 'spawn', 'failed'],
          [2, 'spawn', 'failed'],
          [3, 'spawn', 'failed'],
          [4, 'spawn', 'delivered'],
        ],
      );
      await eventually(
        async () => ((await dead.getJob(view.trigger_id)) ? undefined : true),
        5000,
        'the dead letter to go',
      );
      const audit = await env.query<{ details: { via: string } }>(
        `SELECT details FROM audit_log WHERE action = 'trigger_replayed' AND subject_id = $1`,
        [view.trigger_id],
      );
      assert.deepEqual(
        audit.map((a) => a.details.via),
        ['board'],
      );
    } finally {
      await rm(healthy, { force: true });
    }
  });

  it('replays from the failed job in triggers too (Retry on the board), and drops the dead letter', async () => {
    const view = await failedTrigger('dlq-main-queue');
    await writeFile(healthy, '');
    try {
      const retry = await fetch(
        `${stack.baseUrl}/admin/queues/api/queues/triggers/${view.trigger_id}/retry`,
        {
          method: 'PUT',
        },
      );
      assert.equal(retry.status, 204);
      const replayed = await api.settled(view.trigger_id, ['fallback_spawn']);
      assert.equal(replayed.attempts.at(-1)?.result, 'delivered');
      await eventually(
        async () => ((await dead.getJob(view.trigger_id)) ? undefined : true),
        5000,
        'the dead letter to go',
      );
    } finally {
      await rm(healthy, { force: true });
    }
  });

  it('replays over REST (POST /triggers/:id/replay) and refuses to replay what has not failed', async () => {
    const view = await failedTrigger('dlq-rest');
    await writeFile(healthy, '');
    const replay = await api.request('POST', `/triggers/${view.trigger_id}/replay`);
    assert.equal(replay.status, 202);
    const done = await api.settled(view.trigger_id, ['fallback_spawn']);
    await rm(healthy, { force: true });
    assert.equal(done.attempts.length, 4);
    assert.equal(await dead.getJob(view.trigger_id), undefined);
    const again = await api.request('POST', `/triggers/${view.trigger_id}/replay`);
    assert.equal(again.status, 409);
    assert.equal(((await again.json()) as { error: string }).error, 'CONFLICT');
    assert.equal((await api.request('POST', '/triggers/no-such-trigger/replay')).status, 404);
  });

  it('purges a dead letter, keeping the failed trigger and its history', async () => {
    const view = await failedTrigger('dlq-purge');
    const purge = await api.request('DELETE', `/triggers/${view.trigger_id}/dead-letter`);
    assert.equal(purge.status, 204);
    assert.equal(await dead.getJob(view.trigger_id), undefined);
    assert.equal((await api.get(view.trigger_id)).state, 'failed');
    assert.equal((await api.request('DELETE', `/triggers/${view.trigger_id}/dead-letter`)).status, 404);
  });

  it('fails at once, without retries, what cannot succeed (no spawn command configured)', async () => {
    const other = await TestEnv.create({ TRIGGER_ATTEMPTS: '5' });
    const solo = await Stack.start(other);
    try {
      const soloApi = new TriggerApi(solo.baseUrl);
      const created = await soloApi.create(soloApi.trigger({ target_agent_id: 'nobody' }));
      const view = await soloApi.settled(created.trigger_id, ['failed']);
      assert.deepEqual(
        view.attempts.map((a) => [a.step, a.result, a.error_code]),
        [['spawn', 'failed', 'NOT_CONFIGURED']],
      );
      assert.match(view.last_error?.message ?? '', /TRIGGER_SPAWN_COMMAND/);
    } finally {
      await solo.stop();
    }
  });

  it('answers the board on loopback only while access is open (GATEWAY_OPEN=true on a wide address)', async (t) => {
    const address = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    if (!address) return t.skip('this machine has no non-loopback address to test from');
    const open = await TestEnv.create({ GATEWAY_HOST: '0.0.0.0', GATEWAY_OPEN: 'true' });
    const wide = await Stack.start(open);
    try {
      const port = new URL(wide.baseUrl).port;
      const remote = await fetch(`http://${address}:${port}/admin/queues/api/queues`);
      assert.equal(remote.status, 403);
      assert.equal(((await remote.json()) as { error: string }).error, 'FORBIDDEN');
      assert.equal((await fetch(`http://${address}:${port}/healthz`)).status, 200);
      assert.equal((await fetch(`${wide.baseUrl}/admin/queues/api/queues`)).status, 200);
    } finally {
      await wide.stop();
    }
  });
});
