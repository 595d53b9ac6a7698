import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAaps, planPipeline } from '#aaps';
import { pipelineStatus } from './pipeline-progress.js';
import type { PipelineRun } from './pipeline-repository.js';
import { PipelineWalk, START_CURSOR } from './pipeline-walk.js';

const ir = parseAaps(
  'AUTOAPPDEV_PIPELINE 1\nTASK {"id":"a","title":"A"}\nSTEP {"id":"s1","title":"One","block":"work"}\nSTEP {"id":"s2","title":"Two","block":"work"}\nTASK {"id":"b","title":"B"}\nSTEP {"id":"s","title":"S","block":"work"}\n',
).ir;
const at = new Date('2026-11-26T10:00:00Z');
const run = (over: Partial<PipelineRun>): PipelineRun =>
  ({
    runId: 'r1',
    title: 'R',
    state: 'running',
    ir,
    cursor: START_CURSOR,
    items: null,
    metrics: { tests_passed: 0, tests_total: 0 },
    failure: null,
    createdAt: at,
    startedAt: at,
    ...over,
  }) as PipelineRun;

describe('a run as a build status', () => {
  it('the progress bar never goes back: a task`s end counts all its steps, then the next task starts higher', () => {
    const walk = new PipelineWalk(planPipeline(ir), null, new Set());
    const first = walk.context({ ...START_CURSOR, taskStarted: true })!;
    const [one, two] = first.task.steps;
    const pct = (step: typeof one | undefined, phase: 'in_progress' | 'completed', ctx = first) =>
      pipelineStatus(run({}), ctx, step, { phaseStatus: phase }, at).progress_pct;
    const second = walk.context({ ...START_CURSOR, task: 1, taskStarted: true })!;
    const seen = [
      pct(one, 'in_progress'),
      pct(two, 'in_progress'),
      pct(two, 'completed'),
      pct(undefined, 'completed'),
      pct(undefined, 'in_progress', second),
    ];
    assert.deepEqual(
      [...seen].sort((x, y) => x - y),
      seen,
      `progress went back: ${seen.join(', ')}`,
    );
  });

  it('a completed run names its last task', () => {
    const status = pipelineStatus(
      run({ state: 'completed', cursor: { ...START_CURSOR, task: 2 } }),
      undefined,
      undefined,
      { phaseStatus: 'completed' },
      at,
    );
    assert.deepEqual([status.task_id, status.wave, status.wave_total, status.progress_pct], ['b', 2, 2, 100]);
  });
});
