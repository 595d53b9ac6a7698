import { spawn } from 'node:child_process';
import { signalGroup } from './process-group.js';

/**
 * The process launcher: a small Node process of the orchestrator's own (forked by `ProcessExecutor`) that
 * starts the executor's processes and relays their output and end over its IPC channel.
 *
 * Why a process of its own: Node's `spawn` forks the calling process whole and waits until the child has called
 * `exec`. From the orchestrator (a few hundred MB resident) that stopped its event loop 3–4 ms per process on a
 * busy two-core machine, the largest item of its profile in `bench:pipelines` (`docs/benchmarks.md`); from this
 * process, which loads only `node:child_process` and `process-group.ts`, a fork copies little and stops nobody
 * else.
 *
 * It keeps no state of its own beyond the processes it watches: signals to a process group are sent by the
 * executor directly, and when the orchestrator goes (the channel closes), it exits at once, as the
 * orchestrator's own pipes to its processes used to close with it.
 */

/** What the executor asks for. */
export interface LaunchRequest {
  type: 'launch';
  id: number;
  command: string;
  login: boolean;
  cwd: string;
  env: Record<string, string>;
  stdin: string;
}

/** What the launcher tells about a launch, in this order: started (or failed), output, ended. */
export type LaunchEvent =
  | { type: 'started'; id: number; pid: number }
  | { type: 'failed'; id: number; detail: string }
  | { type: 'output'; id: number; stream: 'stdout' | 'stderr'; chunk: string }
  | { type: 'ended'; id: number; code: number | null; signal: string | null; error: string | null };

/** False when the channel's backlog is full; `written` runs once this event has been written to it. */
function send(event: LaunchEvent, written?: () => void): boolean {
  return process.send?.(event, undefined, {}, written) ?? false;
}

function launch(request: LaunchRequest): void {
  const { id } = request;
  let child;
  try {
    // --norc: bash reads ~/.bashrc when its stdin is a socket (it takes it for sshd), and Node's pipes are
    child = spawn('bash', ['--norc', request.login ? '-lc' : '-c', request.command], {
      cwd: request.cwd,
      env: request.env,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (error) {
    send({ type: 'failed', id, detail: (error as Error).message });
    return;
  }
  const pid = child.pid;
  if (pid !== undefined) send({ type: 'started', id, pid });
  // Output is read only as fast as the channel takes it: a process that writes faster than the orchestrator reads
  // waits on its pipe, as it did when the orchestrator read the pipe itself, instead of filling this one's memory.
  const outputs = [child.stdout, child.stderr];
  const resume = () => outputs.forEach((output) => output.resume());
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream].setEncoding('utf8');
    child[stream].on('data', (chunk: string) => {
      if (!send({ type: 'output', id, stream, chunk }, resume)) outputs.forEach((output) => output.pause());
    });
  }
  child.stdin.on('error', () => undefined); // a command that never reads its stdin closes it early
  child.stdin.end(request.stdin);

  let exit: { code: number | null; signal: string | null } | undefined;
  let error: string | null = null;
  child.on('error', (failure) => {
    // never started (a folder gone, no bash): no 'close' may follow
    if (pid === undefined) send({ type: 'failed', id, detail: failure.message });
    else error = failure.message;
  });
  child.on('exit', (code, signal) => {
    exit = { code, signal };
    // What the command started and left in its group goes with it.
    if (pid !== undefined) signalGroup(pid, 'SIGKILL');
  });
  child.on('close', (code, signal) => {
    if (pid === undefined) return;
    const end = exit ?? { code, signal };
    send({ type: 'ended', id, code: end.code, signal: end.signal, error });
  });
}

if (process.send) {
  process.on('message', (request: LaunchRequest) => {
    if (request.type === 'launch') launch(request);
  });
  process.on('disconnect', () => process.exit(0));
}
