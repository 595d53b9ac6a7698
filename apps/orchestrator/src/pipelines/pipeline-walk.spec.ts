import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAaps, planPipeline } from '#aaps';
import { PipelineWalk, type RunCursor, START_CURSOR, type TaskItem } from './pipeline-walk.js';

/** Walks a script to its end: `fails` says which actions fail; returns what happened, in order. */
function walk(
  script: string,
  fails: (actionId: string, taskId: string) => boolean = () => false,
  items: TaskItem[] = [],
  done = new Set<string>(),
) {
  const plan = planPipeline(parseAaps(`AUTOAPPDEV_PIPELINE 1\n${script}`).ir);
  let cursor: RunCursor = START_CURSOR;
  let list: TaskItem[] | null = null;
  const trace: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const w = new PipelineWalk(plan, list, done);
    const move = w.next(cursor);
    switch (move.type) {
      case 'finish':
        trace.push('finish');
        return trace;
      case 'run_action': {
        const failed = fails(move.action.id, move.ctx.id);
        trace.push(`${move.ctx.id}/${move.step.id}/${move.action.id}${failed ? '!' : ''}`);
        if (failed && move.step.block !== 'debug') return [...trace, 'failed'];
        cursor = w.apply(cursor, move, failed);
        continue;
      }
      case 'skip_step':
        trace.push(`skip ${move.ctx.id}/${move.step.id}`);
        break;
      case 'skip_item':
        trace.push(`skip item ${move.item.id}`);
        break;
      case 'end_step':
        if (move.failed) trace.push(`${move.ctx.id}/${move.step.id} failed`);
        break;
      case 'read_task_list':
        list = items;
        trace.push(`list ${move.path}`);
        break;
      case 'start_task':
      case 'start_step':
      case 'end_task':
        break;
    }
    cursor = w.apply(cursor, move);
  }
  throw new Error('no end');
}

const conditional = `
TASK {"id":"t1","title":"T1"}
STEP {"id":"d","title":"D","block":"debug"}
ACTION {"id":"a","kind":"run","params":{"cmd":"x"}}
ACTION {"id":"b","kind":"run","params":{"cmd":"x"}}
STEP {"id":"f","title":"F","block":"fix","meta":{"conditional":"on_debug_failure"}}
ACTION {"id":"fix","kind":"run","params":{"cmd":"x"}}
STEP {"id":"s","title":"S","block":"summary"}
ACTION {"id":"sum","kind":"run","params":{"cmd":"x"}}
TASK {"id":"t2","title":"T2"}
STEP {"id":"f","title":"F","block":"fix","meta":{"conditional":"on_debug_failure"}}
ACTION {"id":"fix","kind":"run","params":{"cmd":"x"}}
`;

describe('the walk of a pipeline (AutoAppDev`s runner as a state machine)', () => {
  it('a debug step runs all its actions even after one fails, and its failure runs the fix step', () => {
    assert.deepEqual(
      walk(conditional, (id, task) => id === 'a' && task === 't1'),
      [
        't1/d/a!',
        't1/d/b',
        't1/d failed',
        't1/f/fix',
        't1/s/sum',
        // a new task forgets the previous task's debug failure
        'skip t2/f',
        'finish',
      ],
    );
  });

  it('a passing debug step skips the fix step', () => {
    assert.deepEqual(walk(conditional), ['t1/d/a', 't1/d/b', 'skip t1/f', 't1/s/sum', 'skip t2/f', 'finish']);
  });

  it('a failing action outside a debug step fails the run there', () => {
    assert.deepEqual(
      walk(conditional, (id) => id === 'sum'),
      ['t1/d/a', 't1/d/b', 'skip t1/f', 't1/s/sum!', 'failed'],
    );
  });

  it('the latest debug step of the task decides: a passing one after a failing one skips the fix', () => {
    const script = `
TASK {"id":"t","title":"T"}
STEP {"id":"d1","title":"D1","block":"debug"}
ACTION {"id":"a","kind":"run","params":{"cmd":"x"}}
STEP {"id":"d2","title":"D2","block":"debug"}
ACTION {"id":"b","kind":"run","params":{"cmd":"x"}}
STEP {"id":"f","title":"F","block":"fix","meta":{"conditional":"on_debug_failure"}}
ACTION {"id":"fix","kind":"run","params":{"cmd":"x"}}
`;
    assert.deepEqual(
      walk(script, (id) => id === 'a'),
      ['t/d1/a!', 't/d1 failed', 't/d2/b', 'skip t/f', 'finish'],
    );
  });

  it('a meta-round: the controller first (wherever it is), then the template per item, skipping completed items', () => {
    const script = `
TASK {"id":"tpl","title":"Template","meta":{"task_template_v0":true}}
STEP {"id":"w","title":"W","block":"work"}
ACTION {"id":"a","kind":"run","params":{"cmd":"x"}}
TASK {"id":"ctl","title":"Controller","meta":{"meta_round_v0":{"task_list_path":"l.json","task_limit":3}}}
STEP {"id":"p","title":"P","block":"plan"}
ACTION {"id":"plan","kind":"run","params":{"cmd":"x"}}
`;
    const items = ['i1', 'i2', 'i3', 'i4'].map((id) => ({ id, title: id, acceptance: '' }));
    const capped = PipelineWalk.capped(items, 3);
    assert.deepEqual(
      walk(script, () => false, capped, new Set(['i2'])),
      ['ctl/p/plan', 'list l.json', 'i1/w/a', 'skip item i2', 'i3/w/a', 'finish'],
    );
  });

  it('retry restarts the task it stopped in, keeping the actions counted', () => {
    const cursor: RunCursor = {
      ...START_CURSOR,
      task: 1,
      taskStarted: true,
      step: 2,
      action: 1,
      stepStarted: true,
      seq: 7,
      running: { seq: 7, attempt: 1 },
    };
    assert.deepEqual(PipelineWalk.restartTask(cursor), {
      ...cursor,
      taskStarted: false,
      step: 0,
      action: 0,
      stepStarted: false,
      running: null,
    });
  });
});
