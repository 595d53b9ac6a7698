import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CORPUS_DIR, corpusIrExamples } from './corpus.js';
import { isPipelinePlanError, PipelinePlanError } from './errors.js';
import { readIrDocument } from './ir-document.js';
import { parseAaps } from './parser.js';
import { expandPlaceholders, planPipeline } from './run-plan.js';

const plan = (script: string) => {
  const parsed = parseAaps(`AUTOAPPDEV_PIPELINE 1\n${script}`);
  return planPipeline(parsed.ir, parsed.lineOf);
};
const refused = (script: string): PipelinePlanError => {
  try {
    plan(script);
  } catch (error) {
    assert.ok(isPipelinePlanError(error), String(error));
    return error;
  }
  assert.fail('expected the plan to be refused');
};

describe('what a pipeline must be to run', () => {
  it('every runnable IR example of AutoAppDev plans (the codegen demo and the v1 IR use kinds it never ran)', () => {
    const runnable = corpusIrExamples().filter(({ name }) =>
      /meta_round|conditional|placeholders/.test(name),
    );
    assert.equal(runnable.length, 3);
    for (const { name, ir } of runnable) assert.doesNotThrow(() => planPipeline(readIrDocument(ir).ir), name);
    const meta = planPipeline(readIrDocument(runnable.find((r) => r.name.includes('meta_round'))!.ir).ir);
    assert.equal(meta.metaRound?.taskListPath, 'task_list.json');
    assert.equal(meta.metaRound?.template.id, 'template');
  });

  it('an unknown action kind is refused with its line and place', () => {
    const error = refused(
      'TASK {"id":"t","title":"T"}\nSTEP {"id":"s","title":"S","block":"work"}\nACTION {"id":"a","kind":"deploy"}\n',
    );
    assert.equal(error.error, 'unknown_kind');
    assert.equal(error.line, 4);
    assert.equal(error.where, 'task t / step s / action a');
  });

  it('a run without params.cmd, an unknown conditional, an unknown placeholder are refused', () => {
    assert.equal(
      refused(
        'TASK {"id":"t","title":"T"}\nSTEP {"id":"s","title":"S","block":"work"}\nACTION {"id":"a","kind":"run"}\n',
      ).error,
      'invalid_params',
    );
    const conditional = refused(
      'TASK {"id":"t","title":"T"}\nSTEP {"id":"s","title":"S","block":"fix","meta":{"conditional":"always"}}\n',
    );
    assert.deepEqual([conditional.error, conditional.line], ['unknown_conditional', 3]);
    const placeholder = refused(
      'TASK {"id":"t","title":"T"}\nSTEP {"id":"s","title":"S","block":"work"}\nACTION {"id":"a","kind":"run","params":{"cmd":"echo {{ task.owner }}"}}\n',
    );
    assert.equal(placeholder.error, 'unknown_placeholder');
    assert.match(placeholder.detail, /task\.owner/);
  });

  it('AutoAppDev`s numbered meta-round example has no template task: refused, naming the controller`s line', () => {
    const text = readFileSync(
      `${CORPUS_DIR}examples/pipeline_meta_round_numbered_placeholders_v0.aaps`,
      'utf8',
    );
    const parsed = parseAaps(text);
    assert.throws(
      () => planPipeline(parsed.ir, parsed.lineOf),
      (error: unknown) =>
        isPipelinePlanError(error) &&
        error.error === 'invalid_meta_round' &&
        error.line === 4 &&
        /template task/.test(error.detail),
    );
  });

  it('a meta-round: task_limit must be a positive integer', () => {
    const base = (limit: string) =>
      `TASK {"id":"m","title":"M","meta":{"meta_round_v0":{"task_list_path":"l.json"${limit}}}}\nTASK {"id":"x","title":"X","meta":{"task_template_v0":true}}\n`;
    assert.equal(plan(base(',"task_limit":2')).metaRound?.taskLimit, 2);
    assert.equal(refused(base(',"task_limit":0')).error, 'invalid_meta_round');
    assert.equal(
      refused(base('').replace('"task_list_path":"l.json"', '"task_list_path":""')).error,
      'invalid_meta_round',
    );
  });

  it('placeholders expand strictly, with spaces inside the braces allowed', () => {
    const values = {
      runtime_dir: '/r',
      'task.id': 't1',
      'task.title': 'Title',
      'task.acceptance': '',
      'step.id': 's',
      'step.title': 'S',
      'step.block': 'plan',
      'action.id': 'a',
      'action.kind': 'run',
    };
    assert.equal(
      expandPlaceholders('echo {{task.id}} {{ task.title }} [{{task.acceptance}}] {{runtime_dir}}', values),
      'echo t1 Title [] /r',
    );
    assert.throws(
      () => expandPlaceholders('{{nope}}', values),
      (e: unknown) => isPipelinePlanError(e) && e.error === 'unknown_placeholder',
    );
  });
});
