import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BuildView, Envelope, LogLinePayload } from '#contracts';
import {
  processAlive,
  eventually,
  FAKE_WORKFLOW_AGENT,
  readTrace,
  SseClient,
  Stack,
  TestEnv,
  WorkflowClient,
} from '#test-support';
import { Queue } from 'bullmq';
import { ServiceMetrics } from '#health';
import { Redis } from 'ioredis';

const alive = processAlive;

// The agent is examples/workflows/fake-agent.mjs, a scripted stand-in (the real codex CLI is not here): each
// test scripts it through `FAKE …` lines of the workflow's description. Everything else is real: BullMQ flows on
// Redis, PostgreSQL, NATS, git, processes.
describe('workflows: seed 004`s roles as BullMQ flows, through the real services and real processes', () => {
  let env: TestEnv;
  let stack: Stack;
  let client: WorkflowClient;
  let trace: string;

  before(async () => {
    env = await TestEnv.create({
      AGENT_COMMAND: `node ${FAKE_WORKFLOW_AGENT}`,
      AGENT_ENV_ALLOW: 'FAKE_AGENT_TRACE',
      AGENT_KILL_GRACE_MS: '1000',
      WORKFLOW_RETRY_BACKOFF_MS: '50',
      ROLE_MODELS: 'splitter=model-a,model-b',
      AGENT_CONCURRENCY: 'implementer=4',
      WORKFLOW_LOCK_LEASE_MS: '1500',
    });
    trace = join(env.root, 'trace.log');
    process.env.FAKE_AGENT_TRACE = trace;
    stack = await Stack.start(env);
    client = new WorkflowClient(stack.baseUrl, env);
  });
  after(async () => {
    delete process.env.FAKE_AGENT_TRACE;
    await stack?.stop();
  });

  it('a workflow runs every role to `completed`, as a build with logs, answers and a diff with its new file', async () => {
    const cwd = await client.repository();
    const id = await client.start({ description: 'Add a greeting', guidance: 'keep it small', cwd });
    const done = await client.until(id, ['completed', 'failed']);
    assert.equal(done.state, 'completed', JSON.stringify(done));
    assert.deepEqual(
      done.roles.map((r) => `${r.node}:${r.state}`),
      [
        'analyst-1:succeeded',
        'analyst-2:succeeded',
        'consensus:succeeded',
        'splitter:succeeded',
        'implementer:succeeded',
        'tester:succeeded',
        'reviewer:succeeded',
      ],
    );
    assert.equal(done.roles.find((r) => r.node === 'tester')!.attempts[0].answer!.status, 'OK', 'PASS is OK');
    assert.equal(
      done.roles.find((r) => r.node === 'reviewer')!.attempts[0].answer!.status,
      'OK',
      'APPROVED is OK',
    );
    assert.match(done.base_commit, /^[0-9a-f]{40}$/);

    const diff = await client.artifact(id, 'r1.diff');
    assert.equal(diff.status, 200);
    assert.match(diff.type, /text\/x-diff/);
    assert.match(diff.text, /new file mode .*\n.*\n--- \/dev\/null\n\+\+\+ b\/workflow-change.txt/);
    assert.match(diff.text, /\+\+\+ b\/README.md\n@@.*\n # demo\n\+\n\+Changed in round 1\./);
    const consensus = JSON.parse((await client.artifact(id, 'r1-consensus.json')).text) as {
      details: string;
    };
    assert.equal(
      consensus.details,
      'CONSENSUS of: analyst-1, analyst-2',
      'the drafts reached the consensus`s prompt',
    );

    const build = await eventually(async () => {
      const res = await fetch(`${stack.baseUrl}/builds/${id}`);
      const view = res.status === 200 ? ((await res.json()) as BuildView) : undefined;
      return view?.status === 'completed' ? view : undefined;
    });
    assert.equal(build.latest.build_type, 'workflow');
    assert.equal(build.progress_pct, 100);
    assert.equal(build.latest.wave, 6);
    assert.equal(build.latest.turn, 1);
    // every role was a phase of the build, its start and its end, on the stream
    const stored = (await env.storedOn(env.subjects.buildStatus(id))).map(
      (m) => (JSON.parse(m.data) as Envelope<{ phase: string; phase_status: string }>).payload,
    );
    const phases = new Set(stored.map((p) => `${p.phase}:${p.phase_status}`));
    for (const node of [
      'analyst-1',
      'analyst-2',
      'consensus',
      'splitter',
      'implementer',
      'tester',
      'reviewer',
    ]) {
      assert.ok(phases.has(`${node}:in_progress`), `${node} started, in ${[...phases].join(',')}`);
      assert.ok(phases.has(`${node}:completed`), `${node} ended, in ${[...phases].join(',')}`);
    }

    const logs = await SseClient.open(`${stack.baseUrl}/builds/${id}/logs`);
    await logs.waitFor(() => logs.events.some((e) => e.data.includes('reviewer: OK')), 20_000);
    const lines = logs.events
      .filter((e) => e.event === 'log')
      .map((e) => (JSON.parse(e.data) as Envelope<LogLinePayload>).payload);
    logs.close();
    assert.ok(
      lines.some((l) => l.action_id === 'implementer' && l.line.startsWith('AGENT role=implementer')),
    );
    assert.ok(lines.some((l) => l.action_id === 'analyst-2' && l.line === 'PROMPT Add a greeting'));
    assert.ok(
      lines.some((l) => l.action_id === 'splitter' && l.line.includes('keep it small')),
      'guidance in prompts',
    );

    const metrics = await stack.orchestrator!.get(ServiceMetrics).scrape();
    assert.match(metrics, /^guardkit_workflows\{state="completed"\} [1-9]/m);
    assert.match(
      metrics,
      /^guardkit_workflow_role_duration_seconds_count\{role="reviewer",state="succeeded"\} [1-9]/m,
    );
    assert.match(metrics, /^guardkit_queue_jobs\{queue="agents-consensus",state="completed"\} [1-9]/m);
  });

  it('CHANGES_REQUESTED starts another round, with the reviewer`s feedback in the implementer`s prompt', async () => {
    const cwd = await client.repository();
    const id = await client.start({ description: 'Improve it\nFAKE review-changes 1', cwd });
    const done = await client.until(id, ['completed', 'failed']);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    assert.equal(done.round, 2);
    const second = JSON.parse((await client.artifact(id, 'r2-implementer.json')).text) as { details: string };
    assert.equal(second.details, 'addressed FEEDBACK-R1');
    assert.equal((await client.artifact(id, 'r1-implementer.json')).status, 200);
    const r2 = await client.artifact(id, 'r2.diff');
    assert.match(r2.text, /\+addressed FEEDBACK-R1/);
    assert.deepEqual(
      done.roles.filter((r) => r.round === 2).map((r) => r.node),
      ['implementer', 'tester', 'reviewer'],
      'a review round runs implementer, tester and reviewer again, nothing before',
    );
  });

  it('the review rounds are capped (WORKFLOW_MAX_REVIEW_ROUNDS): then the workflow fails with that reason', async () => {
    const cwd = await client.repository();
    const id = await client.start({ description: 'Never good enough\nFAKE review-changes 99', cwd });
    const done = await client.until(id, ['completed', 'failed']);
    assert.equal(done.state, 'failed');
    assert.equal(done.round, 3);
    assert.equal(done.failure?.node, 'reviewer');
    assert.match(
      done.failure.reason,
      /^review rounds exhausted: the reviewer asked for changes in all 3 rounds/,
    );
    assert.equal(done.roles.filter((r) => r.node === 'reviewer').length, 3);
  });

  it('one analyst failing: the consensus proceeds with one draft, and says so', async () => {
    const cwd = await client.repository();
    const id = await client.start({ description: 'Half the team\nFAKE fail analyst-2', cwd });
    const done = await client.until(id, ['completed', 'failed']);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    const analyst2 = done.roles.find((r) => r.node === 'analyst-2')!;
    assert.equal(analyst2.state, 'failed');
    assert.equal(analyst2.attempts.length, 3, 'tried WORKFLOW_ROLE_ATTEMPTS times');
    assert.match(
      done.notes[0],
      /^analyst-2 failed after 3 attempts \(exited with 1\); the consensus proceeds/,
    );
    const consensus = JSON.parse((await client.artifact(id, 'r1-consensus.json')).text) as {
      details: string;
    };
    assert.equal(consensus.details, 'CONSENSUS of: analyst-1');
    const lines = await logLines(id, (l) =>
      l.some((x) => x.action_id === 'consensus' && x.line.startsWith('PROMPT Note: analyst-2 failed')),
    );
    assert.ok(lines.length > 0);
  });

  it('both analysts failing fails the workflow at the consensus', async () => {
    const cwd = await client.repository();
    const id = await client.start({ description: 'Nobody\nFAKE fail analyst-1\nFAKE fail analyst-2', cwd });
    const done = await client.until(id, ['completed', 'failed']);
    assert.equal(done.state, 'failed');
    assert.equal(done.failure?.node, 'consensus');
    assert.match(done.failure.reason, /every drafter failed/);
    assert.equal(
      done.roles.find((r) => r.node === 'consensus'),
      undefined,
      'no consensus agent ran',
    );
  });

  it('unparseable answers are failed attempts with the raw output kept, retried with the next model, then fail the workflow', async () => {
    const cwd = await client.repository();
    const once = await client.start({ description: 'Garbage once\nFAKE garbage splitter 1', cwd });
    const recovered = await client.until(once, ['completed', 'failed']);
    assert.equal(recovered.state, 'completed');
    const splitter = recovered.roles.find((r) => r.node === 'splitter')!;
    assert.deepEqual(
      splitter.attempts.map((a) => [a.attempt, a.state, a.model]),
      [
        [1, 'failed', 'model-a'],
        [2, 'succeeded', 'model-b'],
      ],
    );
    assert.match(splitter.attempts[0].detail!, /no answer/);
    const raw = await client.artifact(once, 'r1-splitter.a1.raw.txt');
    assert.match(raw.text, /no JSON from me/);

    const cwd2 = await client.repository();
    const always = await client.start({ description: 'Garbage always\nFAKE garbage splitter 99', cwd: cwd2 });
    const failed = await client.until(always, ['completed', 'failed']);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.failure?.node, 'splitter');
    assert.match(failed.failure.reason, /^splitter failed after 3 attempts: no answer/);
    assert.deepEqual(
      failed.roles.find((r) => r.node === 'splitter')!.attempts.map((a) => a.model),
      ['model-a', 'model-b', 'model-b'],
      'the last model of the list once they run out',
    );
    assert.equal(
      failed.roles.find((r) => r.node === 'implementer'),
      undefined,
      'nothing ran after it',
    );

    // retried from the failed role: the roles before it are not run again
    const retried = await client.request('POST', `/workflows/${always}/retry`);
    assert.equal(retried.status, 202, JSON.stringify(retried.body));
    const again = await client.until(always, ['completed', 'failed']);
    assert.equal(again.state, 'failed', 'still garbage: fails again');
    const view = await client.get(always);
    assert.equal(view.roles.find((r) => r.node === 'analyst-1')!.attempts.length, 1);
    assert.equal(view.roles.find((r) => r.node === 'splitter')!.attempts.length, 6);
  });

  it('BLOCKED stops the workflow', async () => {
    const cwd = await client.repository();
    const id = await client.start({ description: 'Impossible\nFAKE blocked splitter', cwd });
    const done = await client.until(id, ['completed', 'failed']);
    assert.equal(done.state, 'failed');
    assert.match(done.failure!.reason, /^splitter is blocked: splitter cannot go on/);
  });

  it('cancel ends the running role`s processes, removes the jobs, and a retry runs it from that role', async () => {
    const cwd = await client.repository();
    const id = await client.start({ description: 'Slow\nFAKE sleep implementer 60', cwd });
    const started = await eventually(
      async () =>
        (await readTrace(trace)).find(
          (t) => t.workflowId === id && t.node === 'implementer' && t.what === 'start',
        ),
      20_000,
    );
    assert.ok(alive(started.pid));
    const live = await client.get(id);
    assert.deepEqual(
      live.roles.map((r) => `${r.node}:${r.state}`),
      [
        'analyst-1:succeeded',
        'analyst-2:succeeded',
        'consensus:succeeded',
        'splitter:succeeded',
        'implementer:running',
        'tester:waiting',
        'reviewer:waiting',
      ],
      'the whole graph, the roles to come waiting',
    );
    const res = await client.request('POST', `/workflows/${id}/cancel`);
    assert.equal(res.status, 202);
    assert.equal((await client.until(id, ['cancelled'])).state, 'cancelled');
    await eventually(() => (!alive(started.pid) ? true : undefined), 10_000, 'the implementer ended');
    const view = await eventually(async () => {
      const v = await client.get(id);
      return v.roles.find((r) => r.node === 'implementer')?.state === 'cancelled' ? v : undefined;
    });
    assert.equal(view.roles.find((r) => r.node === 'implementer')!.attempts.length, 1);
    // no job of the workflow stays on any queue
    await eventually(
      async () => {
        for (const role of ['analyst', 'consensus', 'splitter', 'implementer', 'tester', 'reviewer']) {
          const queue = new Queue(`agents-${role}`, {
            connection: { url: env.urls.redisUrl },
            prefix: env.namespace,
          });
          const ids = (await queue.getJobs()).map((j) => j.id ?? '');
          await queue.close();
          if (ids.some((j) => j.startsWith(id))) return undefined;
        }
        return true;
      },
      20_000,
      'the cancelled workflow`s jobs removed',
    );
    assert.equal((await client.request('POST', `/workflows/${id}/cancel`)).status, 409);

    const retried = await client.request('POST', `/workflows/${id}/retry`);
    assert.equal(retried.status, 202);
    const done = await client.until(id, ['completed', 'failed'], 30_000);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    assert.equal(done.roles.find((r) => r.node === 'consensus')!.attempts.length, 1, 'not run again');
  });

  it('two workflows on one folder take turns at the implementer; on two folders they run at once', async () => {
    const shared = await client.repository('shared');
    const description = 'Turns\nFAKE sleep implementer 2';
    const [a, b] = await Promise.all([
      client.start({ description, cwd: shared }),
      client.start({ description, cwd: shared }),
    ]);
    const [c, d] = await Promise.all([
      client.start({ description, cwd: await client.repository('one') }),
      client.start({ description, cwd: await client.repository('two') }),
    ]);
    for (const id of [a, b, c, d])
      assert.equal((await client.until(id, ['completed', 'failed'])).state, 'completed');
    const lines = await readTrace(trace);
    const span = (id: string) => {
      const mine = lines.filter((l) => l.workflowId === id && l.node === 'implementer');
      return [mine.find((l) => l.what === 'start')!.at, mine.find((l) => l.what === 'end')!.at] as const;
    };
    const overlap = (x: readonly [number, number], y: readonly [number, number]) =>
      x[0] < y[1] && y[0] < x[1];
    assert.ok(
      !overlap(span(a), span(b)),
      `one folder: ${span(a).join('-')} and ${span(b).join('-')} overlap`,
    );
    assert.ok(
      overlap(span(c), span(d)),
      `two folders: ${span(c).join('-')} and ${span(d).join('-')} did not overlap`,
    );
  });

  it('an implementer that loses its workspace lock is stopped and its change not recorded; the next attempt waits for the lock', async () => {
    const cwd = await client.repository();
    const id = await client.start({ description: 'Fenced\nFAKE sleep implementer 20', cwd });
    const started = await eventually(
      async () =>
        (await readTrace(trace)).find(
          (t) => t.workflowId === id && t.node === 'implementer' && t.what === 'start',
        ),
      20_000,
    );
    // another holder takes the workspace, as if this one's lease had lapsed (Redis lost it, a long pause)
    const redis = new Redis(env.urls.redisUrl);
    const [key] = await redis.keys(`${env.namespace}:workspace:lock:*`);
    assert.ok(key, 'the implementer holds a lock');
    await redis.set(key, '999999 someone-else', 'PX', 2000);
    await redis.quit();
    const done = await client.until(id, ['completed', 'failed']);
    assert.equal(done.state, 'completed', JSON.stringify(done.failure));
    assert.ok(!alive(started.pid), 'the first attempt was ended');
    const attempts = done.roles.find((r) => r.node === 'implementer')!.attempts;
    assert.deepEqual(
      attempts.map((a) => a.state),
      ['failed', 'succeeded'],
    );
    assert.match(attempts[0].detail!, /lost the workspace lock/);
    const ran = Date.parse(attempts[0].ended_at!) - Date.parse(attempts[0].started_at);
    assert.ok(ran < 10_000, `stopped when the lock was lost, not after its 20 s (${ran} ms)`);
    assert.equal(
      (await client.get(id)).artifacts.filter((a) => a.name.endsWith('.diff')).length,
      1,
      'one diff: the second attempt`s',
    );
  });

  it('a bug hunt runs N hunters into the consensus', async () => {
    const cwd = await client.repository();
    const id = await client.start({ description: 'Find bugs', cwd, mode: 'bug_hunt', hunters: 3 });
    const done = await client.until(id, ['completed', 'failed']);
    assert.equal(done.state, 'completed');
    const consensus = JSON.parse((await client.artifact(id, 'r1-consensus.json')).text) as {
      details: string;
    };
    assert.equal(consensus.details, 'CONSENSUS of: bug_hunter-1, bug_hunter-2, bug_hunter-3');
  });

  it('bad input is refused with a clear error', async () => {
    const repo = await client.repository();
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ cwd: repo }, /description/],
      [{ description: 'x', cwd: 'relative/path' }, /absolute path/],
      [{ description: 'x', cwd: '/' }, /not under PIPELINE_WORKSPACE_ROOTS/],
      [{ description: 'x', cwd: await client.folder('not-a-repo') }, /not a git repository with a commit/],
      [{ description: 'x', cwd: repo, mode: 'party' }, /mode/],
      [{ description: 'x', cwd: repo, hunters: 3 }, /hunters is for mode bug_hunt/],
      [{ description: 'x', cwd: repo, mode: 'bug_hunt', hunters: 99 }, /hunters/],
    ];
    for (const [body, message] of cases) {
      const res = await client.request('POST', '/workflows', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(String(res.body.message), message);
    }
    assert.equal((await client.request('GET', '/workflows/wf-nope')).status, 404);
    assert.equal((await client.request('GET', '/workflows/bad$id')).status, 400);
    assert.equal((await client.request('POST', '/workflows/wf-nope/pause')).status, 400);
    assert.equal((await client.artifact('wf-nope', 'x.json')).status, 404);
    assert.equal((await client.artifact('wf-nope', 'a%20b')).status, 400);
  });

  it('a role`s concurrency changes at run time and shows on /agents', async () => {
    const set = await client.request('PUT', '/agents/reviewer', { concurrency: 3 });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const agents = (await client.request('GET', '/agents')).body.items as {
      role: string;
      concurrency: number;
      queue: string;
    }[];
    assert.deepEqual(
      agents.find((a) => a.role === 'reviewer'),
      {
        ...agents.find((a) => a.role === 'reviewer'),
        concurrency: 3,
        queue: 'agents-reviewer',
      },
    );
    assert.equal(agents.find((a) => a.role === 'implementer')!.concurrency, 4, 'AGENT_CONCURRENCY');
    assert.equal((await client.request('PUT', '/agents/reviewer', { concurrency: 0 })).status, 400);
    assert.equal((await client.request('PUT', '/agents/bad$role', { concurrency: 1 })).status, 400);
  });

  async function logLines(
    id: string,
    until: (lines: LogLinePayload[]) => boolean,
  ): Promise<LogLinePayload[]> {
    const logs = await SseClient.open(`${stack.baseUrl}/builds/${id}/logs`);
    try {
      const payloads = () =>
        logs.events
          .filter((e) => e.event === 'log')
          .map((e) => (JSON.parse(e.data) as Envelope<LogLinePayload>).payload);
      await logs.waitFor(() => until(payloads()), 20_000);
      return payloads();
    } finally {
      logs.close();
    }
  }
});

describe('workflows: the tester runs WORKFLOW_TEST_COMMAND, whose exit code decides', () => {
  let env: TestEnv;
  let stack: Stack;
  let client: WorkflowClient;

  before(async () => {
    env = await TestEnv.create({
      AGENT_COMMAND: `node ${FAKE_WORKFLOW_AGENT}`,
      WORKFLOW_RETRY_BACKOFF_MS: '50',
      WORKFLOW_TEST_COMMAND:
        'grep -q "round 1" workflow-change.txt && echo TESTS-OK || { echo TESTS-FAILED; exit 3; }',
    });
    stack = await Stack.start(env);
    client = new WorkflowClient(stack.baseUrl, env);
  });
  after(() => stack?.stop());

  it('passes: OK with its output as an artifact; the metrics say so', async () => {
    const id = await client.start({ description: 'Tested', cwd: await client.repository() });
    const done = await client.until(id, ['completed', 'failed']);
    assert.equal(done.state, 'completed');
    const tester = done.roles.find((r) => r.node === 'tester')!.attempts[0];
    assert.equal(tester.answer!.status, 'OK');
    assert.equal(tester.model, null, 'no agent ran');
    assert.match((await client.artifact(id, 'r1-tester.log')).text, /^TESTS-OK$/m);
    // the build's view is the projection, which may trail the stream by PROJECTION_BATCH_MS
    const build = await eventually(async () => {
      const view = (await (await fetch(`${stack.baseUrl}/builds/${id}`)).json()) as BuildView;
      return view.status === 'completed' ? view : undefined;
    });
    assert.equal(build.latest.metrics?.tests_passed, 1);
    assert.equal(build.latest.metrics?.files_created, 1);
    assert.equal(build.latest.metrics?.files_modified, 1);
  });

  it('fails: CHANGES_REQUESTED with the output, for the reviewer to see', async () => {
    const id = await client.start({
      description: 'Tested\nFAKE review-changes 1',
      cwd: await client.repository(),
    });
    const done = await client.until(id, ['completed', 'failed']);
    assert.equal(done.state, 'completed');
    const tester2 = done.roles.find((r) => r.node === 'tester' && r.round === 2)!.attempts[0];
    assert.equal(tester2.answer!.status, 'CHANGES_REQUESTED', 'round 2 writes "round 2": the check fails');
    assert.match(tester2.answer!.details, /TESTS-FAILED/);
    assert.match(tester2.answer!.summary, /exited with 3/);
  });
});
