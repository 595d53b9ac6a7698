import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { NestExpressApplication } from '@nestjs/platform-express';
import {
  processAlive,
  eventually,
  FAKE_WORKFLOW_AGENT,
  readTrace,
  ServiceProcess,
  Stack,
  TestEnv,
  WorkflowClient,
} from '#test-support';
import { Queue } from 'bullmq';
import { createGateway } from '../../apps/gateway/src/gateway.module.js';

const alive = processAlive;

// The agent is examples/workflows/fake-agent.mjs, a scripted stand-in (the real codex CLI is not here); the
// orchestrators are real processes, killed for real.
describe('workflows: an orchestrator killed with SIGKILL mid-role costs a retried role, never a stuck workflow', () => {
  let env: TestEnv;
  let gateway: NestExpressApplication;
  let client: WorkflowClient;
  let trace: string;
  const orchestrators: ServiceProcess[] = [];

  before(async () => {
    env = await TestEnv.create({
      AGENT_COMMAND: `node ${FAKE_WORKFLOW_AGENT}`,
      AGENT_ENV_ALLOW: 'FAKE_AGENT_TRACE',
      // a dead worker's job is taken over, and its workspace lock lapses, within seconds
      AGENT_LOCK_MS: '2000',
      WORKFLOW_LOCK_LEASE_MS: '2000',
    });
    trace = join(env.root, 'trace.log');
    gateway = await createGateway(env.settings);
    const address = gateway.getHttpServer().address();
    client = new WorkflowClient(
      `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
      env,
    );
  });
  after(async () => {
    for (const o of orchestrators) await o.stop();
    await env?.cleanup(gateway);
  });

  const startOrchestrator = async () => {
    const orchestrator = ServiceProcess.start('orchestrator', {
      ...env.processEnv(),
      FAKE_AGENT_TRACE: trace,
      LOG_LEVEL: 'info',
    });
    orchestrators.push(orchestrator);
    await orchestrator.waitForOutput(/orchestrator ready/, 30_000);
    return orchestrator;
  };

  it('the implementer is run again by the next orchestrator (the first recorded as interrupted), its orphan ended, the workspace lock recovered', async () => {
    const first = await startOrchestrator();
    const cwd = await client.repository();
    const id = await client.start({ description: 'Killed mid-role\nFAKE sleep implementer 30', cwd });
    const started = await eventually(
      async () =>
        (await readTrace(trace)).find(
          (t) => t.workflowId === id && t.node === 'implementer' && t.what === 'start',
        ),
      30_000,
      'the implementer started',
    );
    await first.kill();
    assert.ok(alive(started.pid), 'the role outlives its orchestrator (its own process group)');

    await startOrchestrator();
    const done = await client.until(id, ['completed', 'failed'], 60_000);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    const implementer = done.roles.find((r) => r.node === 'implementer')!;
    assert.deepEqual(
      implementer.attempts.map((a) => [a.attempt, a.state]),
      [
        [1, 'interrupted'],
        [2, 'succeeded'],
      ],
    );
    assert.match(implementer.attempts[0].detail!, /taken over/);
    assert.ok(!alive(started.pid), 'what the dead orchestrator left running was ended');
    const starts = (await readTrace(trace)).filter((t) => t.workflowId === id && t.what === 'start');
    assert.equal(starts.filter((t) => t.node === 'implementer').length, 2);
    for (const node of ['analyst-1', 'analyst-2', 'consensus', 'splitter', 'tester', 'reviewer'])
      assert.equal(starts.filter((t) => t.node === node).length, 1, `${node} ran once`);
    const diff = await client.artifact(id, 'r1.diff');
    assert.match(diff.text, /\+\+\+ b\/workflow-change.txt/);
  });
});

describe('workflows: the sweep keeps every live workflow`s flow', () => {
  let env: TestEnv;
  let stack: Stack;
  let client: WorkflowClient;

  before(async () => {
    env = await TestEnv.create({ AGENT_COMMAND: `node ${FAKE_WORKFLOW_AGENT}` });
    stack = await Stack.start(env);
    client = new WorkflowClient(stack.baseUrl, env);
  });
  after(() => stack?.stop());

  /** A workflow as a create leaves it when Redis did not take its flow: recorded, queued, no job anywhere. */
  async function recordedOnly(state: 'queued' | 'running'): Promise<string> {
    const cwd = await client.repository();
    const base = execFileSync('git', ['rev-parse', 'HEAD'], { cwd }).toString().trim();
    const id = `wf-swept-${state}`;
    await env.query(
      `INSERT INTO workflows (workflow_id, state, mode, hunters, description, cwd, base_commit, created_at, updated_at)
       VALUES ($1, $2, 'feature', 2, 'Swept', $3, $4, now() - interval '1 minute', now() - interval '1 minute')`,
      [id, state, cwd, base],
    );
    return id;
  }

  it('a workflow whose flow never reached Redis gets it added, and runs to the end', async () => {
    const id = await recordedOnly('queued');
    const done = await client.until(id, ['completed', 'failed'], 40_000);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    assert.equal(done.roles.length, 7);
  });

  it('a workflow whose flow failed under it is failed with the reason', async () => {
    const id = await recordedOnly('running');
    const queue = new Queue('agents-reviewer', {
      connection: { url: env.urls.redisUrl },
      prefix: env.namespace,
    });
    // a root job that fails: no handler knows its name
    await queue.add('not-a-role', {}, { jobId: `${id}.g1.r1.reviewer` });
    await queue.close();
    const done = await client.until(id, ['completed', 'failed'], 40_000);
    assert.equal(done.state, 'failed');
    assert.match(done.failure!.reason, /^a role's job failed: no handler for not-a-role jobs/);
  });
});
