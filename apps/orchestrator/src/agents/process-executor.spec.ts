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
});
