import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { OUTBOX_FILE_PATTERN } from '#contracts';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../../scripts/outbox_write.sh', import.meta.url));

describe('scripts/outbox_write.sh', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outbox-write-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const write = (runtime: string, ...args: string[]) =>
    run('bash', [SCRIPT, ...args], { env: { ...process.env, AUTOAPPDEV_RUNTIME_DIR: runtime } });

  it('writes <ns>_<role>.md atomically, with the content, and no temp file left', async () => {
    const runtime = join(dir, 'a');
    await write(runtime, 'META_TASK t1: start', 'system');
    await write(runtime, 'second');
    await write(runtime, 'third', 'reviewer');
    const names = (await readdir(join(runtime, 'outbox'))).sort();
    assert.equal(names.length, 3);
    assert.ok(
      names.every((n) => OUTBOX_FILE_PATTERN.test(n)),
      names.join(' '),
    );
    assert.deepEqual(names.map((n) => n.replace(/^\d+_/, '')).sort(), [
      'pipeline.md',
      'pipeline.md',
      'system.md',
    ]);
    assert.ok(
      names.every((n) => /^\d{19}_/.test(n)),
      'nanosecond timestamps',
    );
    const system = names.find((n) => n.endsWith('_system.md'))!;
    assert.equal(await readFile(join(runtime, 'outbox', system), 'utf8'), 'META_TASK t1: start\n');
  });

  it('gives every message its own file when called many times at once', async () => {
    const runtime = join(dir, 'b');
    await Promise.all(Array.from({ length: 40 }, (_, i) => write(runtime, `m${i}`)));
    const names = await readdir(join(runtime, 'outbox'));
    assert.equal(names.length, 40);
    const contents = await Promise.all(names.map((n) => readFile(join(runtime, 'outbox', n), 'utf8')));
    assert.equal(new Set(contents).size, 40, 'none overwrote another');
  });

  it('never fails the caller: an unusable runtime folder is a warning and exit code 0', async () => {
    const runtime = join(dir, 'not-a-folder');
    await writeFile(runtime, 'a file');
    const { stderr } = await write(runtime, 'dropped');
    assert.match(stderr, /outbox_write: cannot create/);
  });

  it('can be sourced by a runner and called as a function', async () => {
    const runtime = join(dir, 'c');
    await run('bash', ['-c', `source "${SCRIPT}" && outbox_write "from a function" && echo after`], {
      env: { ...process.env, AUTOAPPDEV_RUNTIME_DIR: runtime },
    });
    assert.equal((await readdir(join(runtime, 'outbox'))).length, 1);
  });
});
