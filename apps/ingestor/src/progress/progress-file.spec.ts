import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MAX_PROGRESS_FILE_BYTES, readProgressFile } from './progress-file.js';

const valid = {
  build_type: 'task',
  status: 'running',
  wave: 1,
  wave_total: 1,
  task_id: 'TASK-1',
  task_name: 'x',
  turn: 1,
  turn_max: 5,
  phase: 'Player',
  phase_status: 'in_progress',
  metrics: { elapsed_seconds: 1, files_created: 0, files_modified: 0, tests_passed: 0, tests_total: 0 },
  started_at: '2025-01-31T12:34:56Z',
  updated_at: '2025-01-31T12:34:57Z',
};

describe('readProgressFile', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'progress-file-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const file = async (name: string, content: string | Buffer) => {
    const path = join(dir, name);
    await writeFile(path, content);
    return path;
  };

  it('reads a valid file, with the folder name as build id', async () => {
    const read = readProgressFile(await file('ok.json', JSON.stringify(valid)), 'TASK-1');
    assert.equal(read.kind, 'valid');
    assert.ok(
      read.kind === 'valid' && read.payload.build_id === 'TASK-1' && read.payloadSha256.length === 64,
    );
  });

  it('gives the same hash for the same content however it is indented', async () => {
    const a = readProgressFile(await file('a.json', JSON.stringify(valid)), 'T');
    const b = readProgressFile(await file('b.json', JSON.stringify(valid, null, 4)), 'T');
    assert.ok(a.kind === 'valid' && b.kind === 'valid' && a.payloadSha256 === b.payloadSha256);
  });

  it('says missing for a file that is not there (or vanished)', () => {
    assert.deepEqual(readProgressFile(join(dir, 'gone.json'), 'T'), { kind: 'missing' });
  });

  const invalid: [string, () => Promise<string>, string][] = [
    ['half-written JSON', () => file('half.json', '{"status": "run'), 'not JSON'],
    ['an empty file', () => file('empty.json', ''), 'not JSON'],
    ['invalid UTF-8', () => file('bytes.json', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), 'not JSON'],
    [
      'a schema violation',
      () => file('schema.json', JSON.stringify({ ...valid, turn: 'one' })),
      'does not match the progress.json schema',
    ],
    ['a JSON array', () => file('array.json', '[]'), 'does not match the progress.json schema'],
    [
      'a file over 1 MiB',
      () => file('big.json', JSON.stringify({ ...valid, pad: 'x'.repeat(MAX_PROGRESS_FILE_BYTES) })),
      'file too large',
    ],
    [
      'a directory',
      async () => {
        await mkdir(join(dir, 'adir'));
        return join(dir, 'adir');
      },
      'not a regular file',
    ],
    [
      'a symlink',
      async () => {
        const target = await file('target.json', JSON.stringify(valid));
        await symlink(target, join(dir, 'link.json'));
        return join(dir, 'link.json');
      },
      'not a regular file',
    ],
    [
      // opened without O_NONBLOCK, a FIFO with no writer would stall the ingestor for good
      'a named pipe',
      () => {
        execFileSync('mkfifo', [join(dir, 'pipe.json')]);
        return Promise.resolve(join(dir, 'pipe.json'));
      },
      'not a regular file',
    ],
  ];
  for (const [name, make, reason] of invalid) {
    it(`refuses ${name}: ${reason}`, async () => {
      const read = readProgressFile(await make(), 'TASK-1');
      assert.equal(read.kind, 'invalid');
      assert.ok(read.kind === 'invalid');
      assert.equal(read.reason, reason);
      assert.ok(read.problems.length > 0);
    });
  }

  it('refuses a file without build_id in a folder whose name is not a valid id', async () => {
    const read = readProgressFile(await file('noid.json', JSON.stringify(valid)), 'bad.folder');
    assert.ok(read.kind === 'invalid' && read.reason === 'no usable build id');
  });
});
