import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FlowJob } from 'bullmq';
import { flowJobIds, modelFor, nodeOf, workflowFlow } from './workflow-graph.js';
import { buildPrompt } from './role-prompt.js';

const shape = { workflowId: 'wf-1', mode: 'feature' as const, hunters: 2, generation: 1 };
const chain = (flow: FlowJob): string[][] => {
  const out: string[][] = [];
  let level: FlowJob[] | undefined = [flow];
  while (level && level.length > 0) {
    out.push(level.map((j) => j.opts!.jobId!));
    level = level[0].children;
  }
  return out;
};

describe('workflow graph', () => {
  it('a first round: the reviewer at the root, the two analysts as the consensus`s children', () => {
    const flow = workflowFlow(shape, 0, 1, { attempts: 3 });
    assert.deepEqual(chain(flow), [
      ['wf-1.g1.r1.reviewer'],
      ['wf-1.g1.r1.tester'],
      ['wf-1.g1.r1.implementer'],
      ['wf-1.g1.r1.splitter'],
      ['wf-1.g1.r1.consensus'],
      ['wf-1.g1.r1.analyst-1', 'wf-1.g1.r1.analyst-2'],
    ]);
    assert.equal(flow.queueName, 'agents-reviewer');
    const consensus = flow.children![0].children![0].children![0].children![0];
    assert.equal(consensus.opts!.failParentOnFailure, true);
    for (const analyst of consensus.children!) {
      assert.equal(analyst.opts!.ignoreDependencyOnFailure, true);
      assert.equal(analyst.opts!.failParentOnFailure, undefined);
      assert.equal(analyst.queueName, 'agents-analyst');
    }
  });

  it('a review round: implementer → tester → reviewer of that round; bug hunts have N hunters', () => {
    assert.deepEqual(chain(workflowFlow(shape, 3, 2, {})), [
      ['wf-1.g1.r2.reviewer'],
      ['wf-1.g1.r2.tester'],
      ['wf-1.g1.r2.implementer'],
    ]);
    const hunt = workflowFlow({ ...shape, mode: 'bug_hunt', hunters: 3 }, 0, 1, {});
    assert.deepEqual(chain(hunt).at(-1), [
      'wf-1.g1.r1.bug_hunter-1',
      'wf-1.g1.r1.bug_hunter-2',
      'wf-1.g1.r1.bug_hunter-3',
    ]);
    assert.equal(flowJobIds(shape, 2).length, 14);
  });

  it('nodes and models', () => {
    assert.deepEqual(nodeOf('analyst-2'), { node: 'analyst-2', role: 'analyst', stage: 0 });
    assert.deepEqual(nodeOf('tester'), { node: 'tester', role: 'tester', stage: 4 });
    assert.throws(() => nodeOf('draft'));
    const models = { implementer: ['m1', 'm2'] };
    assert.equal(modelFor(models, 'implementer', 0, 'd'), 'm1');
    assert.equal(modelFor(models, 'implementer', 1, 'd'), 'm2');
    assert.equal(modelFor(models, 'implementer', 5, 'd'), 'm2');
    assert.equal(modelFor(models, 'reviewer', 0, 'd'), 'd');
  });
});

describe('role prompts', () => {
  const base = {
    instructions: 'Do it.',
    description: 'Add a feature',
    guidance: 'small',
    round: 2,
    notes: [],
  };
  const inputs = [
    {
      title: 'analyst-1',
      answer: { status: 'OK' as const, summary: 'draft one', details: 'A'.repeat(3000) },
    },
    {
      title: 'reviewer (round 1)',
      answer: { status: 'CHANGES_REQUESTED' as const, summary: 'fix x', details: 'FEEDBACK-1' },
    },
  ];

  it('holds the task, the guidance and every input, with the contract', () => {
    const prompt = buildPrompt({ ...base, inputs, maxChars: 100_000 });
    for (const part of [
      'Do it.',
      'Add a feature',
      'small',
      'review round 2',
      'draft one',
      'FEEDBACK-1',
      '"status"',
    ])
      assert.ok(prompt.includes(part), part);
    assert.ok(!prompt.includes('trimmed'));
  });

  it('trims the oldest detail first, says so, and stays under the bound', () => {
    const prompt = buildPrompt({ ...base, inputs, maxChars: 2000 });
    assert.ok(prompt.length <= 2000, String(prompt.length));
    assert.ok(prompt.includes('[3000 characters of detail trimmed to fit the prompt]'));
    assert.ok(prompt.includes('FEEDBACK-1'), 'the newest detail is kept');
    assert.ok(prompt.includes('the oldest detail below was trimmed first'));
  });

  it('cuts the task itself only when nothing else is left to trim', () => {
    const prompt = buildPrompt({ ...base, description: 'D'.repeat(5000), inputs, maxChars: 2000 });
    assert.ok(prompt.length <= 2000, String(prompt.length));
    assert.ok(prompt.includes('[task cut to fit the prompt]'));
    assert.ok(prompt.includes('"status"'));
  });
});
