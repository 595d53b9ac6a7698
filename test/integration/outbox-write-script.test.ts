import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { OUTBOX_FILE_PATTERN } from '#contracts';

const run = promisify(execFile);

/** Runs the script with `input` on its standard input (closed after it). */
function runWithInput(
  args: string[],
  input: string,
  env: NodeJS.ProcessEnv,
  cwd?: string,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile('bash', args, { env, cwd }, (error, stdout, stderr) =>
      error
        ? reject(new Error(`outbox_write.sh failed: ${stderr}`, { cause: error }))
        : resolve({ stdout, stderr }),
    );
    child.stdin?.end(input);
  });
}

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

  const env = (runtime?: string) => {
    const vars = { ...process.env };
    delete vars['AUTOAPPDEV_RUNTIME_DIR'];
    return runtime === undefined ? vars : { ...vars, AUTOAPPDEV_RUNTIME_DIR: runtime };
  };
  const files = async (runtime: string) => readdir(join(runtime, 'outbox')).catch(() => [] as string[]);

  it('answers --help with its usage and writes nothing', async () => {
    const runtime = join(dir, 'help');
    const { stdout } = await runWithInput([SCRIPT, '--help'], '', env(runtime));
    assert.match(stdout, /^usage: outbox_write\.sh \[TEXT\|-\] \[ROLE\]/);
    assert.match(stdout, /AUTOAPPDEV_RUNTIME_DIR/);
    assert.deepEqual(await files(runtime), []);
  });

  it('reads the message from standard input when none is given, or with -', async () => {
    const runtime = join(dir, 'stdin');
    await runWithInput([SCRIPT], 'piped in\nsecond line\n', env(runtime));
    await runWithInput([SCRIPT, '-', 'system'], 'from dash', env(runtime));
    const names = (await files(runtime)).sort();
    assert.equal(names.length, 2);
    const texts = await Promise.all(names.map((n) => readFile(join(runtime, 'outbox', n), 'utf8')));
    assert.deepEqual(texts.sort(), ['from dash\n', 'piped in\nsecond line\n']);
    assert.ok(names.some((n) => n.endsWith('_system.md')));
  });

  it('writes nothing for an empty message or none, and says so (status 0)', async () => {
    const runtime = join(dir, 'empty');
    const empty = await runWithInput([SCRIPT, '   '], '', env(runtime));
    assert.match(empty.stderr, /the message is empty; nothing written/);
    const none = await runWithInput([SCRIPT], '', env(runtime));
    assert.match(none.stderr, /the message is empty/);
    const sourced = await run('bash', ['-c', `source "${SCRIPT}" && outbox_write && echo after`], {
      env: env(runtime),
    });
    assert.match(sourced.stderr, /no message given/);
    assert.equal(sourced.stdout, 'after\n', "a function never waits on its caller's input");
    assert.deepEqual(await files(runtime), []);
  });

  it('warns when it rewrites a role', async () => {
    const runtime = join(dir, 'role');
    const { stderr } = await write(runtime, 'text', 'reviewer');
    assert.match(stderr, /role 'reviewer' is not pipeline or system; written as pipeline/);
    assert.match((await files(runtime))[0] ?? '', /_pipeline\.md$/);
  });

  it("writes into its checkout's runtime/ from any folder, and warns when it is outside a checkout", async () => {
    // A checkout of its own, so the test never writes into the repository it runs from.
    const checkout = join(dir, 'checkout');
    await mkdir(join(checkout, 'scripts'), { recursive: true });
    await writeFile(join(checkout, 'package.json'), '{\n  "name": "guardkit-stream"\n}\n');
    await copyFile(SCRIPT, join(checkout, 'scripts', 'outbox_write.sh'));
    const elsewhere = join(dir, 'elsewhere');
    await mkdir(elsewhere);
    const inside = await runWithInput(
      [join(checkout, 'scripts', 'outbox_write.sh'), 'hello'],
      '',
      env(),
      elsewhere,
    );
    assert.equal(inside.stderr, '');
    assert.equal((await files(join(checkout, 'runtime'))).length, 1, "the checkout's runtime/");
    assert.deepEqual(await files(join(elsewhere, 'runtime')), [], 'not the current folder');

    const loose = join(dir, 'loose');
    await mkdir(loose);
    await copyFile(SCRIPT, join(loose, 'outbox_write.sh'));
    const outside = await runWithInput([join(loose, 'outbox_write.sh'), 'hi'], '', env(), elsewhere);
    assert.match(outside.stderr, /outside a guardkit-stream checkout; writing to \.\/runtime\/outbox/);
    assert.equal((await files(join(elsewhere, 'runtime'))).length, 1);
  });
});
