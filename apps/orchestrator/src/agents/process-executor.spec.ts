import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { type Execution, ProcessExecutor } from './process-executor.js';

const base = (over: Partial<Execution>): Execution => ({
  key: 'b1',
  command: 'true',
  login: false,
  cwd: process.cwd(),
  env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
  timeoutMs: 10_000,
  silenceMs: 10_000,
  killGraceMs: 200,
  onSpawn: () => Promise.resolve(),
  onLine: () => undefined,
  ...over,
});

/** Running: it exists and is not a zombie waiting for its (re)parent to reap it. */
const alive = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
};

describe('ProcessExecutor: one process group per execution', () => {
  it('passes stdin, splits output into lines, and reports the exit code', async () => {
    const lines: string[] = [];
    const result = await new ProcessExecutor().execute(
      base({
        command: 'read x; echo "got $x"; printf "no newline"; exit 4',
        stdin: 'hello\n',
        onLine: (_s, l) => lines.push(l),
      }),
    );
    assert.deepEqual(lines, ['got hello', 'no newline']);
    assert.deepEqual([result.outcome, result.exitCode], ['exited', 4]);
  });

  it('a silent process is ended (silence timeout), a slow one too (timeout), with what they started', async () => {
    const executor = new ProcessExecutor();
    let child = 0;
    const silent = await executor.execute(
      base({ command: 'sleep 30 & echo $!; wait', silenceMs: 300, onLine: (_s, l) => (child = Number(l)) }),
    );
    assert.equal(silent.outcome, 'silent');
    assert.ok(child > 0 && !alive(child), 'the background child ended with its group');
    const slow = await executor.execute(
      base({ command: 'while true; do echo tick; sleep 0.1; done', timeoutMs: 400 }),
    );
    assert.equal(slow.outcome, 'timed_out');
  });

  it('what a command leaves running in its group is ended when it exits', async () => {
    let child = 0;
    const result = await new ProcessExecutor().execute(
      base({ command: '(sleep 30 >/dev/null 2>&1 &) ; echo started', onLine: () => undefined }),
    );
    assert.equal(result.exitCode, 0);
    const left = await new ProcessExecutor().execute(
      base({ command: 'sleep 30 >/dev/null 2>&1 & echo $!', onLine: (_s, l) => (child = Number(l)) }),
    );
    assert.equal(left.exitCode, 0);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(child > 0 && !alive(child), 'the background sleep did not outlive its action');
  });

  it('SIGTERM first; SIGKILL after the grace period for a process that ignores it', async () => {
    const executor = new ProcessExecutor();
    const started = Date.now();
    const running = executor.execute(
      base({
        command: "trap '' TERM; echo ready; sleep 30",
        killGraceMs: 300,
        onLine: () => executor.cancel('b1'),
      }),
    );
    const result = await running;
    assert.equal(result.outcome, 'cancelled');
    assert.equal(result.signal, 'SIGKILL');
    assert.ok(Date.now() - started >= 300);
  });
  it('a folder that does not exist: spawn_failed with the reason, and the next one runs', async () => {
    const executor = new ProcessExecutor();
    const failed = await executor.execute(base({ cwd: '/nonexistent/guardkit-folder' }));
    assert.equal(failed.outcome, 'spawn_failed');
    assert.match(failed.detail ?? '', /ENOENT/);
    assert.equal(executor.active, 0);
    assert.equal((await executor.execute(base({ command: 'exit 3' }))).exitCode, 3);
  });

  it('a cancel that comes before the process has started still ends it once it has', async () => {
    const executor = new ProcessExecutor();
    let pid = 0;
    const running = executor.execute(
      base({ command: 'sleep 30', onSpawn: (p) => Promise.resolve(void (pid = p)) }),
    );
    assert.equal(executor.cancel('b1'), 1);
    const result = await running;
    assert.equal(result.outcome, 'cancelled');
    assert.equal(result.signal, 'SIGTERM', 'ended by the cancel, not by itself');
    assert.ok(pid > 0 && !alive(pid), 'the process did not outlive its cancel');
  });

  it('the launcher killed with SIGKILL: what it ran is ended and interrupted; the next runs on a new one', async () => {
    const executor = new ProcessExecutor();
    let pid = 0;
    const started = new Promise<void>((ready) => {
      void executor
        .execute(
          base({
            command: 'echo ready; sleep 30',
            onSpawn: (p) => Promise.resolve(void (pid = p)),
            onLine: () => ready(),
          }),
        )
        .then((r) => (result = r));
    });
    let result: Awaited<ReturnType<ProcessExecutor['execute']>> | undefined;
    await started;
    const launcher = executor.launcherPid;
    assert.ok(launcher && alive(launcher));
    process.kill(launcher, 'SIGKILL');
    while (!result) await new Promise((r) => setTimeout(r, 10));
    assert.equal(result.outcome, 'interrupted');
    assert.match(result.detail ?? '', /launcher stopped \(killed by SIGKILL\)/);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(pid > 0 && !alive(pid), 'the process the launcher ran was ended');
    const next = await executor.execute(base({ command: 'echo again', onLine: () => undefined }));
    assert.deepEqual([next.outcome, next.exitCode], ['exited', 0]);
    assert.notEqual(executor.launcherPid, launcher);
  });
  it('the launcher gone before it started the process: spawn_failed, since nothing ran', async () => {
    const executor = new ProcessExecutor();
    const running = executor.execute(base({ command: 'echo never' }));
    process.kill(executor.launcherPid!, 'SIGKILL'); // long before a new Node process can have started anything
    const result = await running;
    assert.equal(result.outcome, 'spawn_failed');
    assert.match(result.detail ?? '', /launcher stopped/);
  });
  it('a process that writes fast: every line arrives, in order', async () => {
    let count = 0;
    let last = '';
    const result = await new ProcessExecutor().execute(
      base({
        command: 'seq 1 300000',
        onLine: (_s, line) => {
          count++;
          if (line !== String(count)) last = `line ${count} was ${line}`;
        },
      }),
    );
    assert.equal(result.exitCode, 0);
    assert.equal(last, '', last);
    assert.equal(count, 300_000);
  });
});
