import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProgressFileDto } from './build-status.js';
import { validatePlain } from './validation.js';

describe('validation messages', () => {
  it('name each field once, with what it must be before any other rule', () => {
    const result = validatePlain(ProgressFileDto, {
      build_type: 'task',
      status: 'running',
      wave: 1,
      wave_total: 1,
      task_id: 'T',
      task_name: 'T',
      turn: 'two',
      turn_max: -1,
      phase: 'p',
      phase_status: 'p',
      metrics: { tests_passed: 'five' },
      started_at: 'yesterday',
      updated_at: '2026-11-26T10:00:00Z',
    });
    assert.ok(!result.ok);
    assert.deepEqual([...result.problems].sort(), [
      'metrics.tests_passed must be a number conforming to the specified constraints',
      'started_at must be an ISO-8601 date and time',
      'turn must be an integer number',
      'turn_max must not be less than 0',
    ]);
  });
});

describe('validatePlain with a published schema', () => {
  const valid = {
    build_type: 'task',
    status: 'running',
    wave: 1,
    wave_total: 1,
    task_id: 'T',
    task_name: 'T',
    turn: 2,
    turn_max: 5,
    phase: 'p',
    phase_status: 'in_progress',
    metrics: { tests_passed: 5 },
    started_at: '2026-11-26T10:00:00Z',
    updated_at: '2026-11-26T10:00:00Z',
    extra: { kept: true },
  };

  it('accepts by the JSON Schema, without class-transformer: the document itself comes back', () => {
    const result = validatePlain(ProgressFileDto, valid);
    assert.ok(result.ok);
    assert.equal(result.value, valid, 'the same object, not a class instance');
  });

  it('a document the schema refuses still gets class-validator`s problems', () => {
    const result = validatePlain(ProgressFileDto, { ...valid, wave: -1 });
    assert.ok(!result.ok);
    assert.deepEqual(result.problems, ['wave must not be less than 0']);
  });
});
