import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { BuildView, Envelope, OutboxMessagePayload } from '#contracts';
import { CORPUS_DIR } from '../../libs/aaps/src/corpus.js';
import { eventually, PipelineClient, SseClient, Stack, TestEnv } from '#test-support';

const example = async (name: string) =>
  JSON.parse(await readFile(`${CORPUS_DIR}examples/${name}`, 'utf8')) as unknown;

describe('pipelines: AutoAppDev`s demos run as builds, through the real services and real processes', () => {
  let env: TestEnv;
  let stack: Stack;
  let client: PipelineClient;

  before(async () => {
    env = await TestEnv.create();
    stack = await Stack.start(env);
    client = new PipelineClient(stack.baseUrl, env);
  });
  after(() => stack?.stop());

  it('the conditional-steps demo: a fix step runs only after its task`s debug step failed', async () => {
    const cwd = await client.workspace();
    const runId = await client.start({
      ir: await example('pipeline_ir_conditional_steps_demo_v0.json'),
      cwd,
    });
    const done = await client.until(runId, ['completed', 'failed']);
    assert.equal(done.state, 'completed', JSON.stringify(done));
    const lines = await client.lines(runId, (l) => l.includes('runner done'));
    assert.ok(lines.includes('DEBUG_OK'));
    assert.ok(lines.includes('DEBUG_FAIL'));
    assert.ok(lines.includes('FIX_RAN_EXPECTED'));
    assert.ok(!lines.includes('FIX_RAN_UNEXPECTED'), lines.join('\n'));
    assert.ok(lines.includes('SKIP STEP f1 (fix): conditional=on_debug_failure'));
    const build = await eventually(async () => {
      const res = await fetch(`${stack.baseUrl}/builds/${runId}`);
      const view = res.status === 200 ? ((await res.json()) as BuildView) : undefined;
      return view?.status === 'completed' ? view : undefined;
    });
    assert.equal(build.latest.build_type, 'pipeline');
    assert.equal(build.progress_pct, 100);
  });

  it('the meta-round demo runs its template once per item, with META_TASK messages on the outbox; a re-run skips them', async () => {
    const cwd = await client.workspace();
    const ir = await example('pipeline_ir_meta_round_v0_demo_v0.json');
    const outbox = await SseClient.open(`${stack.baseUrl}/outbox/events?source=local`);
    const first = await client.start({ ir, cwd });
    assert.equal((await client.until(first, ['completed', 'failed'])).state, 'completed');
    const lines = await client.lines(first, (l) => l.includes('runner done'));
    assert.ok(lines.includes('TEMPLATE_RUN id=t1 title=Demo task 1 acceptance=A1'), lines.join('\n'));
    assert.ok(lines.includes('TEMPLATE_RUN id=t2 title=Demo task 2 acceptance=A2'));

    const second = await client.start({ ir, cwd });
    assert.equal((await client.until(second, ['completed', 'failed'])).state, 'completed');
    const again = await client.lines(second, (l) => l.includes('runner done'));
    assert.ok(!again.some((l) => l.startsWith('TEMPLATE_RUN')), again.join('\n'));
    assert.ok(again.includes('SKIP META_TASK t1: already completed'));

    const contents = () =>
      outbox.events.map((e) => (JSON.parse(e.data) as Envelope<OutboxMessagePayload>).payload.content);
    await outbox.waitFor(() => contents().includes('SKIP META_TASK t2: already completed'));
    assert.deepEqual(
      contents().filter((c) => c.includes('META_TASK')),
      [
        'META_TASK t1: start (Demo task 1)',
        'META_TASK t1: done',
        'META_TASK t2: start (Demo task 2)',
        'META_TASK t2: done',
        'SKIP META_TASK t1: already completed',
        'SKIP META_TASK t2: already completed',
      ],
    );
    outbox.close();
  });
});
