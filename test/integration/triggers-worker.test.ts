import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TriggerAttemptView, TriggerCreated } from '#contracts';
import { eventually, ServiceProcess, TestEnv } from '#test-support';

/**
 * The worker as a real process: SIGTERM lets the job in hand finish; kill -9 leaves it stalled, and another
 * worker picks it up once its lock (TRIGGER_LOCK_MS) runs out, with the lost attempt in the history.
 */
describe('triggers: workers stopping and dying', () => {
  let env: TestEnv;
  const workers: ServiceProcess[] = [];

  before(async () => {
    env = await TestEnv.create({ TRIGGER_LOCK_MS: '1000', TRIGGER_COMMAND_TIMEOUT_MS: '60000' });
  });
  after(async () => {
    for (const worker of workers) await worker.kill();
    await env?.cleanup();
  });

  async function startWorker(spawnCommand: string): Promise<ServiceProcess> {
    const worker = ServiceProcess.start('orchestrator', {
      ...env.processEnv(),
      TRIGGER_SPAWN_COMMAND: spawnCommand,
    });
    workers.push(worker);
    const { nc } = await env.nats();
    await eventually(
      () => nc.request(env.subjects.rpc('sessions.list'), '{}', { timeout: 500 }).then(() => true),
      20_000,
      'the orchestrator to answer',
    );
    return worker;
  }

  async function trigger(thread: string): Promise<string> {
    const { nc } = await env.nats();
    const body = {
      workspace_id: 'ws',
      thread_id: thread,
      target_agent_id: 'agent',
      reason: 'r',
      prompt: 'p',
    };
    const reply = await nc.request(env.subjects.rpc('triggers.create'), JSON.stringify(body), {
      timeout: 5000,
    });
    return reply.json<{ result: TriggerCreated }>().result.trigger_id;
  }

  const attempts = (id: string) =>
    env.query<Pick<TriggerAttemptView, 'attempt' | 'step' | 'result' | 'error_code'>>(
      `SELECT attempt, step, result, error_code FROM trigger_attempts WHERE trigger_id = $1 ORDER BY attempt`,
      [id],
    );
  const stateOf = async (id: string) =>
    (await env.query<{ state: string }>(`SELECT state FROM trigger_jobs WHERE trigger_id = $1`, [id]))[0]
      ?.state;
  const exists = (path: string) =>
    access(path).then(
      () => true,
      () => false,
    );

  it('finishes the job in hand on SIGTERM before exiting', async () => {
    const done = join(env.root, 'graceful-done');
    const worker = await startWorker(`sleep 1; touch ${done}`);
    const id = await trigger('graceful');
    await eventually(async () => ((await attempts(id)).length === 1 ? true : undefined));
    const { code, signal } = await worker.stop();
    assert.ok(
      code === 0 || signal === 'SIGTERM',
      `exited with ${code ?? signal}: ${worker.output.slice(-2000)}`,
    );
    assert.ok(await exists(done), 'the spawn command ran to its end');
    assert.equal(await stateOf(id), 'fallback_spawn');
    assert.deepEqual(await attempts(id), [
      { attempt: 1, step: 'spawn', result: 'delivered', error_code: null },
    ]);
  });

  it('picks up the job of a worker killed mid-job, recording the lost attempt', async () => {
    const marker = join(env.root, 'first-run');
    // the first run hangs (and is killed with its worker); the second succeeds
    const command = `if [ -f ${marker} ]; then exit 0; fi; touch ${marker}; sleep 20`;
    const first = await startWorker(command);
    const id = await trigger('stalled');
    await eventually(
      () => exists(marker).then((found) => found || undefined),
      10_000,
      'the first run to start',
    );
    await first.kill();

    await startWorker(command);
    await eventually(
      async () => ((await stateOf(id)) === 'fallback_spawn' ? true : undefined),
      20_000,
      'the retry',
    );
    assert.deepEqual(await attempts(id), [
      { attempt: 1, step: 'spawn', result: 'interrupted', error_code: 'WORKER_STALLED' },
      { attempt: 2, step: 'spawn', result: 'delivered', error_code: null },
    ]);
  });
});
