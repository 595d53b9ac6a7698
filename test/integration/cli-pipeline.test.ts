import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Stack, TestEnv } from '#test-support';
import { captureOutput } from '../../apps/cli/src/output.js';
import { runCli } from '../../apps/cli/src/program.js';

const HELLO = fileURLToPath(new URL('../../../examples/pipelines/hello.aaps', import.meta.url));

function capture() {
  const { output, stdout, stderr } = captureOutput();
  return { output, out: { stdout, stderr } };
}

describe('guardkit-stream pipeline run --follow, against the real services', () => {
  let env: TestEnv;
  let stack: Stack;

  before(async () => {
    env = await TestEnv.create();
    stack = await Stack.start(env);
  });
  after(() => stack?.stop());

  it('runs the shipped example, prints its progress and output, and exits 0 when it completes', async () => {
    const { out, output } = capture();
    const code = await runCli(
      ['pipeline', 'run', HELLO, '--cwd', env.root, '--follow', '--url', stack.baseUrl],
      output,
    );
    assert.equal(code, 0, [...out.stderr, ...out.stdout].join('\n'));
    assert.ok(
      out.stdout.some((l) => l.startsWith('[runner] NOTE: notes are logged as written')),
      out.stdout.join('\n'),
    );
    assert.ok(out.stdout.includes('created the marker'));
    assert.ok(out.stdout.includes('[runner] runner done'));
    assert.ok(
      out.stderr.some((l) => /^\[running \d+%\] task 2\/2 check · step 2\/3 Create the marker/.test(l)),
      out.stderr.join('\n'),
    );
    await access(join(env.root, 'runtime', 'hello-marker'));
  });

  it('exits 1 when the run fails, and 2 with the gateway`s reason when it is refused', async () => {
    const { out, output } = capture();
    const failing = join(env.root, 'fail.aaps');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(
      failing,
      'AUTOAPPDEV_PIPELINE 1\nTASK {"id":"t","title":"T"}\nSTEP {"id":"s","title":"S","block":"work"}\nACTION {"id":"a","kind":"run","params":{"cmd":"exit 7"}}\n',
    );
    assert.equal(
      await runCli(['pipeline', 'run', failing, '--cwd', env.root, '-f', '--url', stack.baseUrl], output),
      1,
    );
    assert.match(out.stderr.at(-1) ?? '', /failed$/);
    assert.equal(await runCli(['pipeline', 'run', failing, '--cwd', '/', '--url', stack.baseUrl], output), 2);
    assert.match(out.stderr.at(-1) ?? '', /400 INVALID_PAYLOAD: .*PIPELINE_WORKSPACE_ROOTS/);
  });
});
