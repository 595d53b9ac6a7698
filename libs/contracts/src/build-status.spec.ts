import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildEventType,
  type ProgressFileDto,
  progressPercent,
  toBuildStatusPayload,
} from './build-status.js';

const at = (over: Partial<Parameters<typeof progressPercent>[0]>) =>
  progressPercent({
    status: 'running',
    wave: 1,
    wave_total: 2,
    turn: 1,
    turn_max: 5,
    ...over,
  });

describe('progress_pct', () => {
  it('is 0 when queued and 100 when completed, whatever the counters say', () => {
    assert.equal(at({ status: 'queued', wave: 2, turn: 5 }), 0);
    assert.equal(at({ status: 'completed', wave: 1, turn: 1 }), 100);
  });

  it('grows with turns and waves, the current turn counting half, and stays below 100 until completion', () => {
    const seen = [
      at({ wave: 1, turn: 1 }),
      at({ wave: 1, turn: 3 }),
      at({ wave: 1, turn: 5 }),
      at({ wave: 2, turn: 1 }),
      at({ wave: 2, turn: 5 }),
    ];
    assert.deepEqual(seen, [5, 25, 45, 55, 95]);
  });

  it('never goes back over a GuardKit build: Player then Coach in every turn, each phase started then done', () => {
    const payloads = [];
    for (let wave = 1; wave <= 2; wave++)
      for (let turn = 1; turn <= 5; turn++)
        for (const phase of ['Player Implementation', 'Coach Validation'])
          for (const phase_status of ['in_progress', 'completed'])
            payloads.push({ ...toPayload(wave, turn), phase, phase_status });
    const bar = payloads.map((p) => toBuildStatusPayload(p, 'B').progress_pct);
    for (let i = 1; i < bar.length; i++)
      assert.ok(bar[i] >= bar[i - 1], `went back from ${bar[i - 1]} to ${bar[i]} at update ${i}`);
    assert.equal(bar.at(-1), 95);
  });

  it('copes with counters out of range', () => {
    assert.equal(at({ wave_total: 0 }), 0);
    assert.equal(at({ turn_max: 0 }), 0);
    assert.equal(at({ wave: 9, turn: 99 }), 99);
  });
});

/** A seed 001 progress file at a wave and turn (2 waves of 5 turns). */
function toPayload(wave: number, turn: number) {
  return {
    build_type: 'task',
    status: 'running' as const,
    wave,
    wave_total: 2,
    task_id: 'B',
    task_name: 'B',
    turn,
    turn_max: 5,
    phase: '',
    phase_status: '',
    metrics: {},
    started_at: '2026-11-26T10:00:00Z',
    updated_at: '2026-11-26T10:00:00Z',
  };
}

describe('toBuildStatusPayload', () => {
  const file = {
    build_type: 'task',
    status: 'error',
    wave: 1,
    wave_total: 1,
    task_id: 'T',
    task_name: 'n',
    turn: 1,
    turn_max: 1,
    phase: 'p',
    phase_status: 'completed',
    metrics: {
      elapsed_seconds: 1,
      files_created: 0,
      files_modified: 0,
      tests_passed: 0,
      tests_total: 0,
      extra: 1,
    },
    started_at: '2025-01-01T00:00:00Z',
    updated_at: '2025-01-01T00:00:01Z',
    worker: 'kept',
  } as ProgressFileDto & Record<string, unknown>;

  it('reads error as failed, takes the folder name as build id, keeps unknown fields', () => {
    const payload = toBuildStatusPayload(file, 'FOLDER-1');
    assert.equal(payload.status, 'failed');
    assert.equal(payload.build_id, 'FOLDER-1');
    assert.equal(payload['worker'], 'kept');
    assert.equal(payload.metrics['extra'], 1);
  });

  it('prefers the build_id in the file', () => {
    assert.equal(toBuildStatusPayload({ ...file, build_id: 'FILE-1' }, 'FOLDER-1').build_id, 'FILE-1');
  });
});

describe('event types', () => {
  it('says started, progress and the three endings', () => {
    assert.equal(buildEventType('running', true), 'build_started');
    assert.equal(buildEventType('queued', true), 'build_started');
    assert.equal(buildEventType('running', false), 'build_progress');
    assert.equal(buildEventType('completed', false), 'build_complete');
    assert.equal(buildEventType('failed', true), 'build_failed');
    assert.equal(buildEventType('cancelled', false), 'build_cancelled');
  });
});
