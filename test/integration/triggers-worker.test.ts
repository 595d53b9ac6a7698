import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
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

  it('never repeats a side effect cut off by a worker killed mid-job: OUTCOME_UNKNOWN, dead-lettered, replayable', async () => {
    const runs = join(env.root, 'spawn-runs');
    // every run leaves a line; the first hangs (and is killed with its worker), later ones return at once
    const command = `echo run >> ${runs}; if [ "$(wc -l < ${runs})" -gt 1 ]; then exit 0; fi; sleep 20`;
    const first = await startWorker(command);
    const id = await trigger('stalled');
    await eventually(
      () => exists(runs).then((found) => found || undefined),
      10_000,
      'the first run to start',
    );
    await first.kill();

    await startWorker(command);
    await eventually(
      async () => ((await stateOf(id)) === 'failed' ? true : undefined),
      20_000,
      'the stalled job to be taken over',
    );
    assert.deepEqual(await attempts(id), [
      { attempt: 1, step: 'spawn', result: 'interrupted', error_code: 'OUTCOME_UNKNOWN' },
    ]);
    assert.equal((await readFile(runs, 'utf8')).trim().split('\n').length, 1, 'spawned once, not again');
    const [job] = await env.query<{ last_error_code: string }>(
      'SELECT last_error_code FROM trigger_jobs WHERE trigger_id = $1',
      [id],
    );
    assert.equal(job?.last_error_code, 'OUTCOME_UNKNOWN');

    // a person checked the agent and replays it: now it runs again, once
    const { nc } = await env.nats();
    const reply = await nc.request(env.subjects.rpc('triggers.replay'), JSON.stringify({ trigger_id: id }), {
      timeout: 5000,
    });
    assert.equal(reply.json<{ ok: boolean }>().ok, true);
    await eventually(
      async () => ((await stateOf(id)) === 'fallback_spawn' ? true : undefined),
      20_000,
      'the replay',
    );
    assert.equal((await readFile(runs, 'utf8')).trim().split('\n').length, 2);
  });
});
