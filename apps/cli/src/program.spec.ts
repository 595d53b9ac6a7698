import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { captureOutput } from './output.js';
import { runCli } from './program.js';

function capture() {
  const { output, stdout, stderr } = captureOutput();
  return { output, out: { stdout, stderr } };
}

describe('guardkit-stream pipeline parse', () => {
  const write = async (name: string, content: string | Buffer) => {
    const dir = await mkdtemp(join(tmpdir(), 'gk-cli-'));
    await writeFile(join(dir, name), content);
    return join(dir, name);
  };

  it('exit 0 with a summary and warnings for dropped keys', async () => {
    const file = await write(
      'ok.aaps',
      'AUTOAPPDEV_PIPELINE 1\nTASK {"id":"t","title":"T","x":1}\nSTEP {"id":"s","title":"S","block":"plan"}\n',
    );
    const { out, output } = capture();
    assert.equal(await runCli(['pipeline', 'parse', file], output), 0);
    assert.deepEqual(out.stdout, [`${file}: ok: 1 tasks, 1 steps, 0 actions`]);
    assert.deepEqual(out.stderr, [`${file}:2: warning: TASK t: unknown key "x" dropped`]);
  });

  it('exit 2 with file:line: code: detail, and the error body with --json', async () => {
    const file = await write(
      'bad.aaps',
      'AUTOAPPDEV_PIPELINE 1\nTASK {"id":"t","title":"T"}\nACTION {"id":"a","kind":"note"}\n',
    );
    const { out, output } = capture();
    assert.equal(await runCli(['pipeline', 'parse', '--json', file], output), 2);
    assert.deepEqual(JSON.parse(out.stdout[0]), {
      ok: false,
      error: 'action_before_step',
      line: 3,
      detail: 'ACTION must appear after a STEP',
    });
    assert.deepEqual(out.stderr, [`${file}:3: action_before_step: ACTION must appear after a STEP`]);
  });

  it('exit 2 for a file that is not UTF-8 or not there', async () => {
    const file = await write('latin1.aaps', Buffer.from([0x41, 0xe9, 0x0a]));
    const { out, output } = capture();
    assert.equal(await runCli(['pipeline', 'parse', file], output), 2);
    assert.match(out.stderr[0], /:1: invalid_encoding:/);
    assert.equal(await runCli(['pipeline', 'parse', `${file}.missing`], output), 2);
    assert.match(out.stderr[1], /cannot read: ENOENT/);
  });
});
