import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { eventually, PipelineClient, Stack, TestEnv } from '#test-support';
import { PipelineRepository } from '../../apps/orchestrator/src/pipelines/pipeline-repository.js';

const FAKE_AGENT = fileURLToPath(new URL('../../../test/fixtures/fake-agent.sh', import.meta.url));
const exec = promisify(execFile);

/** A one-task pipeline of `run` actions in one step of `block`. */
function script(commands: string[], block = 'work'): string {
  return [
    'AUTOAPPDEV_PIPELINE 1',
    'TASK {"id":"t1","title":"Task one"}',
    `  STEP {"id":"s1","title":"Step one","block":"${block}"}`,
    ...commands.map(
      (cmd, i) => `    ACTION ${JSON.stringify({ id: `a${i + 1}`, kind: 'run', params: { cmd } })}`,
    ),
  ].join('\n');
}

/** Processes whose command line holds `marker` (pgrep -f), other than pgrep itself. */
async function processesWith(marker: string): Promise<string[]> {
  const { stdout } = await exec('pgrep', ['-af', marker]).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter((l) => l.trim() !== '' && !l.includes('pgrep'));
}

describe('pipelines: control, agents and refusals, through the real services and real processes', () => {
  let env: TestEnv;
  let stack: Stack;
  let client: PipelineClient;

  before(async () => {
    // the fake agent stands in for `codex exec --json` (the real codex CLI is not on these machines)
    env = await TestEnv.create({ AGENT_COMMAND: `bash ${FAKE_AGENT}`, AGENT_KILL_GRACE_MS: '1000' });
    stack = await Stack.start(env);
    client = new PipelineClient(stack.baseUrl, env);
  });
  after(() => stack?.stop());

  it('codex_exec: the prompt with its placeholders on stdin, the model, the role; the session kept and continued; no service secret in sight', async () => {
    const cwd = await client.workspace();
    const text = [
      'AUTOAPPDEV_PIPELINE 1',
      'TASK {"id":"t1","title":"Add login","meta":{"acceptance":"tests pass"}}',
      '  STEP {"id":"p","title":"Plan","block":"plan"}',
      '    ACTION {"id":"a1","kind":"codex_exec","params":{"prompt":"Plan {{ task.title }} until {{task.acceptance}} ({{step.block}}/{{action.id}})"}}',
      '  STEP {"id":"w","title":"Work","block":"work"}',
      '    ACTION {"id":"a2","kind":"codex_exec","params":{"prompt":"Do it","model":"m-2","reasoning":"high"}}',
      '    ACTION {"id":"a3","kind":"run","params":{"cmd":"echo CTX $AUTOAPPDEV_CTX_TASK_ID $AUTOAPPDEV_CTX_STEP_ID $GUARDKIT_BUILD_ID $GUARDKIT_ROLE runtime={{runtime_dir}}"}}',
    ].join('\n');
    const runId = await client.start({ script_text: text, cwd });
    assert.equal((await client.until(runId, ['completed', 'failed'])).state, 'completed');
    const lines = await client.lines(runId, (l) => l.includes('runner done'));
    assert.ok(lines.includes('PROMPT Plan Add login until tests pass (plan/a1)'), lines.join('\n'));
    assert.ok(
      lines.includes('AGENT model=gpt-5.3-codex reasoning=medium role=planner attempt=1 db=none redis=none'),
    );
    assert.ok(
      lines.includes('{"type":"turn.started","resumed":"sess-fake-1"}'),
      'the second agent action continues the first`s session',
    );
    assert.ok(lines.includes('AGENT model=m-2 reasoning=high role=implementer attempt=1 db=none redis=none'));
    assert.ok(
      lines.includes(`CTX t1 w ${runId} implementer runtime=${join(env.root, 'runtime')}`),
      lines.join('\n'),
    );
    // the agent queues are on the board, with the jobs they ran
    const board = (await (await fetch(`${stack.baseUrl}/admin/queues/api/queues`)).json()) as {
      queues: { name: string; counts: { completed: number } }[];
    };
    const planner = board.queues.find((q) => q.name === 'agents-planner');
    assert.ok(
      (planner?.counts.completed ?? 0) >= 1,
      JSON.stringify(board.queues.map((q) => [q.name, q.counts])),
    );
  });

  it('an execution is taken once, and a run has one driver: second deliveries and other replicas are refused', async () => {
    const repo = stack.orchestrator!.get(PipelineRepository);
    const cwd = await client.workspace();
    const runId = await client.start({ script_text: script(['sleep 1; echo ONCE']), cwd });
    await client.until(runId, ['running']);
    assert.equal(await repo.claimDriver(runId, 'another-replica', 15_000), false, 'its lease is held');
    await client.until(runId, ['completed']);
    assert.equal(
      await repo.claimActionRun(runId, 1, 1, new Date()),
      'taken',
      'a late second delivery runs nothing',
    );
    await env.query(
      `INSERT INTO pipeline_action_runs (run_id, seq, attempt, task_id, step_id, action_id, kind, role, state, queued_at)
       VALUES ($1, 99, 1, 't1', 's1', 'a1', 'run', 'implementer', 'queued', now())`,
      [runId],
    );
    assert.equal(await repo.claimActionRun(runId, 99, 1, new Date()), 'claimed');
    assert.equal(await repo.claimActionRun(runId, 99, 1, new Date()), 'taken');
    const lines = await client.lines(runId, (l) => l.includes('runner done'));
    assert.equal(lines.filter((l) => l === 'ONCE').length, 1);
  });

  it('pause takes effect between actions; resume goes on from the next one', async () => {
    const cwd = await client.workspace();
    const runId = await client.start({
      script_text: script(['sleep 1; echo FIRST', 'echo SECOND', 'echo THIRD']),
      cwd,
    });
    await client.until(runId, ['running']);
    const paused = await client.post(`/pipelines/${runId}/pause`);
    assert.equal(paused.status, 202);
    const view = await client.until(runId, ['paused']);
    assert.equal(view.current.action_id, 'a2', 'paused before the second action');
    assert.equal((await client.post(`/pipelines/${runId}/pause`)).status, 409);
    const lines = await client.lines(runId, (l) => l.some((x) => x.startsWith('paused')));
    assert.ok(lines.includes('FIRST') && !lines.includes('SECOND'), lines.join('\n'));
    assert.equal((await client.post(`/pipelines/${runId}/resume`)).status, 202);
    assert.equal((await client.until(runId, ['completed', 'failed'])).state, 'completed');
    const all = await client.lines(runId, (l) => l.includes('runner done'));
    assert.deepEqual(
      all.filter((l) => /^(FIRST|SECOND|THIRD)$/.test(l)),
      ['FIRST', 'SECOND', 'THIRD'],
    );
  });

  it('cancel ends the running action`s whole process group: nothing is left behind', async () => {
    const cwd = await client.workspace();
    const marker = `sleep 31.${process.pid}`;
    const runId = await client.start({ script_text: script([`(${marker}) & ${marker}; echo NEVER`]), cwd });
    await eventually(
      async () => ((await processesWith(marker)).length >= 2 ? true : undefined),
      10_000,
      'the action and its background child running',
    );
    const cancelled = await client.post(`/pipelines/${runId}/cancel`);
    assert.equal(cancelled.status, 202);
    const view = await client.until(runId, ['cancelled', 'failed', 'completed'], 10_000);
    assert.equal(view.state, 'cancelled');
    // the group is ended at once; give the kernel a moment to reap it before looking
    await eventually(
      async () => ((await processesWith(marker)).length === 0 ? true : undefined),
      5000,
      'nothing left',
    );
    const rows = await env.query<{ state: string }>(
      `SELECT state FROM pipeline_action_runs WHERE run_id = $1`,
      [runId],
    );
    assert.deepEqual(
      rows.map((r) => r.state),
      ['cancelled'],
    );
    assert.equal((await client.post(`/pipelines/${runId}/resume`)).status, 409);
  });

  it('a failing action fails the run, naming it and its exit code; retry runs its task again', async () => {
    const cwd = await client.workspace();
    const runId = await client.start({
      script_text: script(['echo START', 'test -f ready || exit 3', 'echo AFTER']),
      cwd,
    });
    const failed = await client.until(runId, ['failed', 'completed']);
    assert.equal(failed.state, 'failed');
    assert.deepEqual(
      [
        failed.failure?.task_id,
        failed.failure?.step_id,
        failed.failure?.action_id,
        failed.failure?.exit_code,
      ],
      ['t1', 's1', 'a2', 3],
    );
    await writeFile(join(cwd, 'ready'), '');
    assert.equal((await client.post(`/pipelines/${runId}/retry`)).status, 202);
    const done = await client.until(runId, ['completed', 'failed']);
    assert.equal(done.state, 'completed');
    assert.equal(done.failure, null);
    const lines = await client.lines(runId, (l) => l.includes('AFTER'));
    assert.equal(lines.filter((l) => l === 'START').length, 2, 'the task ran again from its start');
  });

  it('refuses what cannot run, with a clear error and nothing started', async () => {
    const cwd = await client.workspace();
    const refusal = async (body: unknown) => {
      const res = await client.post('/pipelines', body);
      return { status: res.status, error: res.body.error as string, message: res.body.message as string };
    };
    const outside = await refusal({ script_text: script(['true']), cwd: '/tmp' });
    assert.equal(outside.status, 400);
    assert.match(outside.message, /PIPELINE_WORKSPACE_ROOTS/);
    assert.match((await refusal({ script_text: script(['true']), cwd: 'relative/dir' })).message, /absolute/);
    assert.match(
      (await refusal({ script_text: script(['true']), cwd: join(cwd, 'missing') })).message,
      /not an existing folder/,
    );
    const unknown = await refusal({
      script_text:
        'AUTOAPPDEV_PIPELINE 1\nTASK {"id":"t","title":"T"}\nSTEP {"id":"s","title":"S","block":"work"}\nACTION {"id":"a","kind":"deploy"}\n',
      cwd,
    });
    assert.deepEqual([unknown.status, unknown.error], [400, 'INVALID_PIPELINE']);
    assert.match(unknown.message, /line 4: task t \/ step s \/ action a: unknown_kind/);
    const parse = await refusal({ script_text: 'AUTOAPPDEV_PIPELINE 1\nTASK {"id":"t"}\n', cwd });
    assert.match(parse.message, /line 2: missing_or_invalid_field: title must be a non-empty string/);
    const irError = await refusal({
      ir: {
        kind: 'autoappdev_ir',
        version: 1,
        tasks: [{ id: 't', title: 'T', steps: [{ id: 's', title: 'S', block: 'nope' }] }],
      },
      cwd,
    });
    assert.match(irError.message, /ir\.tasks\[0\]\.steps\[0\]: invalid_block/);
    assert.equal((await refusal({ cwd })).status, 400);
    assert.equal((await refusal({ script_text: script(['true']), ir: {}, cwd })).status, 400);
    assert.match(
      (await refusal({ script_text: script(['true']), cwd, env: { 'BAD NAME': 'x' } })).message,
      /not a variable name/,
    );
    const notJson = await fetch(`${stack.baseUrl}/pipelines`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{oops',
    });
    assert.equal(notJson.status, 400);
    assert.equal((await fetch(`${stack.baseUrl}/pipelines/run-nope`)).status, 404);
    assert.equal((await fetch(`${stack.baseUrl}/pipelines/a.b`)).status, 400);
    assert.equal((await client.post('/pipelines/run-nope/explode')).status, 400);
    const listed = (await (await fetch(`${stack.baseUrl}/pipelines?limit=100`)).json()) as {
      items: { cwd: string }[];
    };
    assert.ok(!listed.items.some((r) => r.cwd === cwd), 'no refused run was recorded');
  });

  it('a meta-round whose task list is invalid fails, naming the file and what is wrong', async () => {
    const cwd = await client.workspace();
    await writeFile(
      join(cwd, 'tasks.json'),
      JSON.stringify({ kind: 'autoappdev_task_list', version: 0, tasks: [{ id: 't1' }] }),
    );
    const ir = {
      kind: 'autoappdev_ir',
      version: 1,
      tasks: [
        { id: 'meta', title: 'M', meta: { meta_round_v0: { task_list_path: 'tasks.json' } }, steps: [] },
        {
          id: 'tpl',
          title: 'T',
          meta: { task_template_v0: true },
          steps: [
            {
              id: 's',
              title: 'S',
              block: 'work',
              actions: [{ id: 'a', kind: 'run', params: { cmd: 'echo {{task.id}}' } }],
            },
          ],
        },
      ],
    };
    const runId = await client.start({ ir, cwd });
    const failed = await client.until(runId, ['failed', 'completed']);
    assert.equal(failed.state, 'failed');
    assert.match(
      failed.failure?.reason ?? '',
      /task list tasks\.json: tasks\[0\]\.title must be a non-empty string/,
    );
    // a meta-round without a template task is refused before it runs
    const res = await client.post('/pipelines', { ir: { ...ir, tasks: [ir.tasks[0]] }, cwd });
    assert.equal(res.status, 400);
    assert.match(res.body.message as string, /template task/);
  });
});
