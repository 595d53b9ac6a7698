import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { jwtVerify } from 'jose';
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

describe('guardkit-stream token', () => {
  const SECRET = 'a-cli-test-secret-of-at-least-thirty-two-bytes';
  it('mints an HS256 token with the gk claim, the subject and the ttl', async () => {
    process.env['GATEWAY_JWT_SECRET'] = SECRET;
    try {
      const { out, output } = capture();
      const argv = [
        'token',
        '--sub',
        'ci',
        '--read',
        'TASK-*',
        '--read',
        'run-1',
        '--trigger',
        '*',
        '--admin',
      ];
      assert.equal(await runCli([...argv, '--ttl', '2h'], output), 0);
      const { payload, protectedHeader } = await jwtVerify(out.stdout[0], new TextEncoder().encode(SECRET));
      assert.equal(protectedHeader.alg, 'HS256');
      assert.equal(payload.sub, 'ci');
      assert.deepEqual(payload['gk'], { builds: ['TASK-*', 'run-1'], trigger: ['*'], admin: true });
      assert.equal(payload.exp! - payload.iat!, 7200);
    } finally {
      delete process.env['GATEWAY_JWT_SECRET'];
    }
  });

  it('exit 2 without a usable secret, or with a ttl it cannot read', async () => {
    const { out, output } = capture();
    assert.equal(await runCli(['token', '--sub', 'x'], output), 2);
    assert.match(out.stderr[0], /GATEWAY_JWT_SECRET is not set/);
    process.env['GATEWAY_JWT_SECRET'] = SECRET;
    try {
      assert.equal(await runCli(['token', '--sub', 'x', '--ttl', 'forever'], output), 2);
      assert.match(out.stderr[1], /--ttl forever: a number and s, m, h, d or w/);
    } finally {
      delete process.env['GATEWAY_JWT_SECRET'];
    }
  });
});
