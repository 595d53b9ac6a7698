import { spawn } from 'node:child_process';
import { Injectable, Logger } from '@nestjs/common';

export type OutputStream = 'stdout' | 'stderr';

/** One process to run: a bash command line in a folder, in a process group of its own. */
export interface Execution {
  /** What `cancel(key)` ends: the build it belongs to. */
  key: string;
  command: string;
  /** `bash -lc` (a login shell, as AutoAppDev runs `run` actions) rather than `bash -c`. */
  login: boolean;
  cwd: string;
  env: Record<string, string>;
  /** Written to stdin, which is then closed (an agent reads its prompt there). */
  stdin?: string;
  timeoutMs: number;
  /** Ended when it writes nothing for this long. */
  silenceMs: number;
  /** Between SIGTERM and SIGKILL. */
  killGraceMs: number;
  /** Called with the process id as soon as it exists; if it throws, the process is ended at once. */
  onSpawn: (pid: number) => Promise<void>;
  onLine: (stream: OutputStream, line: string) => void;
}

export type ExecutionOutcome =
  'exited' | 'timed_out' | 'silent' | 'cancelled' | 'interrupted' | 'spawn_failed';

export interface ExecutionResult {
  outcome: ExecutionOutcome;
  exitCode: number | null;
  signal: string | null;
  detail: string | null;
}

/** Sends a signal to a whole process group; false when the group is gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

interface Running {
  key: string;
  stop: (outcome: 'cancelled' | 'interrupted', why: string) => void;
}

/**
 * The one executor of every process an agent queue runs (pipeline actions, agents, workflow roles). Each runs
 * in its own process group, so ending it (a timeout, silence, a cancel, shutdown) ends everything it started:
 * SIGTERM to the group, then SIGKILL after the grace period. Whatever the command left running in its group
 * when it exits is ended too, so a pipeline leaves no process behind. Written on `child_process` because the
 * process-group handling (detached group, group signals, escalation) is the point, and no library adds it.
 */
@Injectable()
export class ProcessExecutor {
  private readonly logger = new Logger(ProcessExecutor.name);
  private readonly running = new Set<Running>();

  /** Ends every process of a build (a cancel); returns how many were running. */
  cancel(key: string, why = 'cancelled'): number {
    let count = 0;
    for (const run of this.running) {
      if (run.key !== key) continue;
      run.stop('cancelled', why);
      count++;
    }
    return count;
  }

  /** Ends every process (shutdown): each execution ends `interrupted`, and is run again when its build resumes. */
  interruptAll(why: string): number {
    for (const run of this.running) run.stop('interrupted', why);
    return this.running.size;
  }

  /** Whether a process of this build runs here now. */
  isRunning(key: string): boolean {
    for (const run of this.running) if (run.key === key) return true;
    return false;
  }

  get active(): number {
    return this.running.size;
  }

  execute(spec: Execution): Promise<ExecutionResult> {
    return new Promise((resolve) => {
      let child;
      try {
        // --norc: bash reads ~/.bashrc when its stdin is a socket (it takes it for sshd), and Node's pipes are
        child = spawn('bash', ['--norc', spec.login ? '-lc' : '-c', spec.command], {
          cwd: spec.cwd,
          env: spec.env,
          detached: true,
          stdio: ['pipe', 'pipe', 'pipe'],
        });
      } catch (error) {
        resolve({ outcome: 'spawn_failed', exitCode: null, signal: null, detail: (error as Error).message });
        return;
      }
      let ended: { outcome: ExecutionOutcome; detail: string } | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      const stop = (outcome: ExecutionOutcome, detail: string) => {
        if (ended || child.pid === undefined) return;
        ended = { outcome, detail };
        signalGroup(child.pid, 'SIGTERM');
        killTimer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), spec.killGraceMs);
      };
      const entry: Running = { key: spec.key, stop };
      this.running.add(entry);

      const deadline = setTimeout(
        () => stop('timed_out', `no end after ${spec.timeoutMs} ms`),
        spec.timeoutMs,
      );
      let silence = setTimeout(() => stop('silent', `no output for ${spec.silenceMs} ms`), spec.silenceMs);
      const heard = () => {
        clearTimeout(silence);
        silence = setTimeout(() => stop('silent', `no output for ${spec.silenceMs} ms`), spec.silenceMs);
      };
      for (const stream of ['stdout', 'stderr'] as const) {
        let partial = '';
        child[stream].setEncoding('utf8');
        child[stream].on('data', (chunk: string) => {
          heard();
          const lines = (partial + chunk).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) spec.onLine(stream, line.endsWith('\r') ? line.slice(0, -1) : line);
        });
        child[stream].on('end', () => {
          if (partial !== '') spec.onLine(stream, partial);
          partial = '';
        });
      }
      child.stdin.on('error', () => undefined); // a command that never reads its stdin closes it early
      child.stdin.end(spec.stdin ?? '');

      let exit: { code: number | null; signal: string | null } | undefined;
      child.on('error', (error) => {
        if (!ended) ended = { outcome: 'spawn_failed', detail: error.message };
        if (child.pid !== undefined) return;
        // never started (a folder gone, no bash): no 'close' may follow
        clearTimeout(deadline);
        clearTimeout(silence);
        this.running.delete(entry);
        resolve({ outcome: 'spawn_failed', exitCode: null, signal: null, detail: error.message });
      });
      child.on('exit', (code, signal) => {
        exit = { code, signal };
        // What the command started and left in its group goes with it.
        if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
      });
      child.on('close', (code, signal) => {
        clearTimeout(deadline);
        clearTimeout(silence);
        clearTimeout(killTimer);
        this.running.delete(entry);
        const end = exit ?? { code, signal };
        resolve({
          outcome: ended?.outcome ?? 'exited',
          exitCode: end.code,
          signal: end.signal,
          detail: ended?.detail ?? null,
        });
      });
      if (child.pid !== undefined) {
        spec.onSpawn(child.pid).catch((error: unknown) => {
          this.logger.error({ err: error }, 'could not record a started process: ending it');
          stop('interrupted', 'its start could not be recorded');
        });
      }
    });
  }
}
