import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidIdError } from './errors.js';
import { assertSafeId } from './ids.js';
import { Subjects } from './subjects.js';

describe('subjects', () => {
  const subjects = new Subjects();

  it('builds the subjects of SPEC 2', () => {
    assert.equal(subjects.buildStatus('TASK-FB-002'), 'guardkit.builds.TASK-FB-002.status');
    assert.equal(subjects.outbox('local', 'pipeline'), 'guardkit.outbox.local.pipeline');
    assert.equal(subjects.triggerStatus('trg_1'), 'guardkit.triggers.trg_1.status');
    assert.equal(subjects.ingestRejected(), 'guardkit.ingest.rejected');
    assert.equal(subjects.streamName('builds'), 'GUARDKIT_BUILDS');
    assert.deepEqual(subjects.streamSubjects('builds'), ['guardkit.builds.*.status']);
  });

  for (const bad of [
    'a.b',
    '*',
    '>',
    'a b',
    '..',
    '',
    '-lead',
    '_lead',
    'x'.repeat(129),
    'tab\tid',
    'ünï',
    'a/b',
  ]) {
    it(`refuses the unsafe id ${JSON.stringify(bad.length > 20 ? `${bad.slice(0, 8)}…(${bad.length})` : bad)}`, () => {
      assert.throws(
        () => subjects.buildStatus(bad),
        (error: unknown) => {
          assert.ok(error instanceof InvalidIdError);
          assert.equal(error.code, 'INVALID_ID');
          assert.match(error.message, /invalid build id/);
          return true;
        },
      );
    });
  }

  it('accepts ids up to 128 characters', () => {
    assert.equal(assertSafeId('build id', `A${'b'.repeat(127)}`).length, 128);
  });

  it('refuses non-string ids', () => {
    assert.throws(() => assertSafeId('build id', 42), InvalidIdError);
    assert.throws(() => assertSafeId('build id', undefined), InvalidIdError);
  });

  it('prefixes every subject and stream with a namespace, and refuses an unsafe namespace', () => {
    const spaced = new Subjects('t1');
    assert.equal(spaced.buildStatus('B'), 't1.guardkit.builds.B.status');
    assert.equal(spaced.streamName('outbox'), 't1_GUARDKIT_OUTBOX');
    assert.equal(spaced.rpc('builds.get'), 't1.guardkit.rpc.builds.get');
    assert.throws(() => new Subjects('a.b'), InvalidIdError);
  });

  it('reads the build id back from a subject, and nothing from other subjects', () => {
    assert.equal(subjects.buildIdOf('guardkit.builds.TASK-1.status'), 'TASK-1');
    assert.equal(subjects.buildIdOf('guardkit.outbox.local.pipeline'), undefined);
    assert.equal(subjects.buildIdOf('other.guardkit.builds.TASK-1.status'), undefined);
  });

  it('reads the outbox source back from a subject, and nothing from other subjects', () => {
    assert.equal(subjects.outboxSourceOf('guardkit.outbox.local.pipeline'), 'local');
    assert.equal(subjects.outboxSourceOf('guardkit.outbox.local'), undefined);
    assert.equal(subjects.outboxSourceOf('guardkit.outbox.local.a.b'), undefined);
    assert.equal(subjects.outboxSourceOf('guardkit.builds.TASK-1.status'), undefined);
  });
});
