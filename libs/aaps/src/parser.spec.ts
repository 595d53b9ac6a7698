import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { corpusCases, corpusIrExamples } from './corpus.js';
import { AapsParseError, isAapsParseError } from './errors.js';
import type { AapsIr } from './ir.js';
import { readIrDocument } from './ir-document.js';
import { parseAaps } from './parser.js';
import { importAnnotatedShell } from './shell-import.js';
import { printAaps } from './printer.js';
import { pyStrip } from './python-text.js';

function outcome(text: string) {
  try {
    const { ir, warnings } = parseAaps(text);
    return { ok: true as const, ir, warnings };
  } catch (error) {
    assert.ok(isAapsParseError(error), `only AapsParseError may escape, got ${String(error)}`);
    return { ok: false as const, code: error.error, line: error.line, message: error.detail };
  }
}

describe('AAPS v1 parser against AutoAppDev`s own results', () => {
  for (const item of corpusCases()) {
    it(`${item.name} (${item.tags.join(', ')})`, () => {
      const got = outcome(item.text);
      const want = item.expected;
      if (want.ok) {
        assert.ok(got.ok, `expected success, got ${JSON.stringify(got)}`);
        assert.deepStrictEqual(JSON.parse(JSON.stringify(got.ir)), want.ir);
        return;
      }
      assert.ok(!got.ok, 'expected an error');
      assert.equal(got.code, want.code);
      assert.equal(got.line, want.line);
      // invalid_json's text is Python's own JSON message; every other message is AutoAppDev's.
      if (want.code !== 'invalid_json') assert.equal(got.message, want.message);
    });
  }

  it('every IR example of AutoAppDev is a valid IR document, and prints to a script that parses back to it', () => {
    const examples = corpusIrExamples();
    assert.ok(examples.length >= 5);
    for (const { name, ir } of examples) {
      const read = readIrDocument(ir);
      assert.deepStrictEqual(read.ir, ir, name);
      assert.deepStrictEqual(parseAaps(printAaps(read.ir)).ir, ir, name);
    }
  });
});

describe('AAPS v1 parser: our own cases', () => {
  const header = 'AUTOAPPDEV_PIPELINE 1\n';

  it('drops keys the IR has no place for, and says so with the line', () => {
    const { ir, warnings } = parseAaps(
      `${header}TASK {"id":"t1","title":"T","owner":"me"}\nSTEP {"id":"s","title":"S","block":"work","x":1}\nACTION {"id":"a","kind":"note","params":{"text":"hi"},"extra":true}\n`,
    );
    assert.deepEqual(ir.tasks[0], {
      id: 't1',
      title: 'T',
      steps: [
        { id: 's', title: 'S', block: 'work', actions: [{ id: 'a', kind: 'note', params: { text: 'hi' } }] },
      ],
    });
    assert.deepEqual(
      warnings.map((w) => [w.line, w.where, w.key]),
      [
        [2, 'TASK t1', 'owner'],
        [3, 'STEP t1/s', 'x'],
        [4, 'ACTION t1/s/a', 'extra'],
      ],
    );
  });

  it('reads null meta and params as absent, and tells the line of each node', () => {
    const result = parseAaps(
      `${header}\n# c\nTASK {"id":"t","title":"T","meta":null}\n  STEP {"id":"s","title":"S","block":"plan"}\n    ACTION {"id":"a","kind":"run","params":null,"meta":null}\n`,
    );
    assert.deepEqual(result.ir.tasks[0].steps[0].actions[0], { id: 'a', kind: 'run' });
    assert.equal(result.lineOf(result.ir.tasks[0]), 4);
    assert.equal(result.lineOf(result.ir.tasks[0].steps[0].actions[0]), 6);
  });

  it('numeric prefixes: trailing dots allowed, a prefix without a keyword is the keyword', () => {
    assert.equal(
      parseAaps(`${header}1. TASK {"id":"t","title":"T"}\n1.2.. STEP {"id":"s","title":"S","block":"plan"}\n`)
        .ir.tasks[0].steps.length,
      1,
    );
    assert.deepEqual(outcome(`${header}1 TASK{"id":"t","title":"T"}\n`), {
      ok: false,
      code: 'unknown_keyword',
      line: 2,
      message: 'unknown keyword: 1',
    });
    assert.deepEqual(outcome(`${header}1..2 TASK {"id":"t","title":"T"}\n`), {
      ok: false,
      code: 'unknown_keyword',
      line: 2,
      message: 'unknown keyword: 1..2',
    });
    assert.deepEqual(outcome(`${header}1.2\n`), {
      ok: false,
      code: 'invalid_statement',
      line: 2,
      message: 'expected: KEYWORD <json-object> (optional numeric prefix allowed)',
    });
  });

  it('Python`s whitespace and line breaks: U+00A0 is space, U+FEFF is not, U+0085 breaks a line', () => {
    assert.equal(parseAaps(`${header}TASK\u00a0{"id":"t","title":"T"}`).ir.tasks[0].id, 't');
    assert.equal(outcome(`${header}TASK\ufeff{"id":"t","title":"T"}`).ok, false);
    assert.deepEqual(outcome(`${header}TASK {"id":"t","title":"T"}\u0085STEP {}`), {
      ok: false,
      code: 'missing_or_invalid_field',
      line: 3,
      message: 'id must be a non-empty string',
    });
    assert.deepEqual(outcome(`${header}TASK {"id":"\u00a0 ","title":"T"}`), {
      ok: false,
      code: 'missing_or_invalid_field',
      line: 2,
      message: 'id must be a non-empty string',
    });
  });

  it('STEP ids are unique per task (the same id in another task is fine); a task with no steps is fine', () => {
    const ok = parseAaps(
      `${header}TASK {"id":"a","title":"A"}\nSTEP {"id":"s","title":"S","block":"plan"}\nTASK {"id":"b","title":"B"}\nSTEP {"id":"s","title":"S","block":"plan"}\n`,
    );
    assert.equal(ok.ir.tasks.length, 2);
    assert.deepEqual(
      outcome(
        `${header}TASK {"id":"a","title":"A"}\nSTEP {"id":"s","title":"S","block":"plan"}\nSTEP {"id":"s","title":"S","block":"work"}\n`,
      ),
      {
        ok: false,
        code: 'duplicate_id',
        line: 4,
        message: 'duplicate step id in task a: s',
      },
    );
  });

  it('an IR document gets the same rules, placed on a JSON path', () => {
    assert.throws(
      () =>
        readIrDocument({
          kind: 'autoappdev_ir',
          version: 1,
          tasks: [{ id: 't', title: 'T', steps: [{ id: 's', title: 'S', block: 'nope' }] }],
        }),
      (error: unknown) =>
        error instanceof AapsParseError &&
        error.error === 'invalid_block' &&
        error.path === 'ir.tasks[0].steps[0]',
    );
    assert.throws(
      () => readIrDocument({ kind: 'autoappdev_ir', version: 1, tasks: [] }),
      (e: unknown) => isAapsParseError(e) && e.error === 'missing_task',
    );
    assert.throws(
      () => readIrDocument('text'),
      (e: unknown) => isAapsParseError(e) && e.error === 'invalid_json_object',
    );
    assert.throws(
      () => readIrDocument({ kind: 'other', version: 1, tasks: [] }),
      (e: unknown) => isAapsParseError(e) && e.error === 'invalid_header',
    );
  });
});

describe('AAPS v1 parser: properties', () => {
  const id = fc.string({ minLength: 1, maxLength: 8, unit: 'grapheme' }).filter((s) => pyStrip(s) !== '');
  const json = fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 });
  const uniqueBy = <T extends { id: string }>(arb: fc.Arbitrary<T>, max: number) =>
    fc.uniqueArray(arb, { selector: (x) => x.id, maxLength: max });
  const action = fc.record(
    { id, kind: id, params: fc.option(json, { nil: undefined }), meta: fc.option(json, { nil: undefined }) },
    { requiredKeys: ['id', 'kind'] },
  );
  const step = fc.record(
    {
      id,
      title: id,
      block: fc.constantFrom('plan', 'work', 'debug', 'fix', 'summary', 'commit_push'),
      actions: uniqueBy(action, 3),
      meta: json,
    },
    { requiredKeys: ['id', 'title', 'block', 'actions'] },
  );
  const task = fc.record(
    { id, title: id, steps: uniqueBy(step, 3), meta: json },
    { requiredKeys: ['id', 'title', 'steps'] },
  );
  const ir = fc.record({
    kind: fc.constant('autoappdev_ir'),
    version: fc.constant(1),
    tasks: fc.uniqueArray(task, { selector: (t) => t.id, minLength: 1, maxLength: 3 }),
  });

  it('print → parse gives the IR back, and parse → print → parse is stable', () => {
    fc.assert(
      fc.property(ir, (doc) => {
        const clean = JSON.parse(JSON.stringify(doc)) as AapsIr;
        const once = parseAaps(printAaps(clean));
        assert.deepStrictEqual(once.ir, clean);
        assert.deepStrictEqual(parseAaps(printAaps(once.ir)).ir, once.ir);
      }),
      { numRuns: 300 },
    );
  });

  it('no input makes the parser throw anything but its own error', () => {
    const statementish = fc.oneof(
      fc.string(),
      fc.constantFrom(
        'TASK',
        'STEP',
        'ACTION',
        '1.2',
        '#',
        '\ufeff',
        '\r\n',
        '\u2028',
        '\u0085',
        ' ',
        '{',
        '}',
        '"id"',
        ':',
        ',',
      ),
      fc.json().map((j) => `ACTION ${j}`),
      fc.json().map((j) => `STEP ${j}`),
    );
    fc.assert(
      fc.property(
        fc.array(statementish, { maxLength: 12 }),
        fc.boolean(),
        fc.constantFrom('\n', ' ', ''),
        (parts, withHeader, glue) => {
          const text = (withHeader ? 'AUTOAPPDEV_PIPELINE 1\n' : '') + parts.join(glue);
          outcome(text);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('the annotated shell import (AutoAppDev`s /api/scripts/import-shell)', () => {
  it('reads the `# AAPS:` lines as a script, ignores the rest, and places an error on its shell line', () => {
    const shell = [
      '#!/usr/bin/env bash',
      '# AAPS: AUTOAPPDEV_PIPELINE 1',
      'set -e',
      '  #AAPS:TASK {"id":"t1","title":"Build"}',
      'echo not me',
      '# AAPS:   STEP {"id":"s","title":"S","block":"work"}',
    ].join('\n');
    const result = importAnnotatedShell(shell);
    assert.equal(
      result.aapsText,
      'AUTOAPPDEV_PIPELINE 1\nTASK {"id":"t1","title":"Build"}\nSTEP {"id":"s","title":"S","block":"work"}',
    );
    assert.equal(result.ir.tasks[0].steps[0].id, 's');
    assert.throws(
      () => importAnnotatedShell('echo\n# AAPS: AUTOAPPDEV_PIPELINE 1\n\n# AAPS: TASK {"id":1}\n'),
      (e: unknown) => isAapsParseError(e) && e.error === 'missing_or_invalid_field' && e.line === 4,
    );
    assert.throws(
      () => importAnnotatedShell('echo hi\n'),
      (e: unknown) => isAapsParseError(e) && e.error === 'missing_annotations' && e.line === 1,
    );
  });
});
