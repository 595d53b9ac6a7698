import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InvalidIdError, ProgressFileDto, validatePlain } from '#contracts';
import { ProgressFileWriter } from './progress-file-writer.js';

const update = {
  build_type: 'task',
  status: 'running' as const,
  wave: 1,
  wave_total: 1,
  task_name: 'x',
  turn: 1,
  turn_max: 3,
  phase: 'Player Implementation',
  phase_status: 'in_progress',
  metrics: { elapsed_seconds: 0, files_created: 0, files_modified: 0, tests_passed: 0, tests_total: 0 },
};

describe('ProgressFileWriter', () => {
  it('writes a seed 001 document atomically, keeping started_at and moving updated_at', async () => {
    const root = await mkdtemp(join(tmpdir(), 'writer-'));
    try {
      let now = Date.parse('2025-01-31T12:00:00Z');
      const writer = new ProgressFileWriter(root, 'TASK-W', () => new Date((now += 1000)));
      await writer.write(update);
      await writer.write({ ...update, turn: 2 });
      const doc = JSON.parse(await readFile(writer.path, 'utf8')) as Record<string, unknown>;
      assert.equal(writer.path, join(root, '.guardkit', 'autobuild', 'TASK-W', 'progress.json'));
      assert.ok(validatePlain(ProgressFileDto, doc).ok, 'the file validates');
      assert.equal(doc['task_id'], 'TASK-W');
      assert.equal(doc['turn'], 2);
      assert.equal(doc['started_at'], '2025-01-31T12:00:01.000Z');
      assert.equal(doc['updated_at'], '2025-01-31T12:00:02.000Z');
      assert.deepEqual(
        await readdir(join(root, '.guardkit', 'autobuild', 'TASK-W')),
        ['progress.json'],
        'no temp file left',
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('refuses a task id that is not safe for a path and a subject', () => {
    assert.throws(() => new ProgressFileWriter('/tmp', '../etc'), InvalidIdError);
  });
});
