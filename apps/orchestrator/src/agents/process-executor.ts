import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Injectable, Logger } from '@nestjs/common';
import type { LaunchEvent, LaunchRequest } from './process-launcher.js';
import { signalGroup } from './process-group.js';

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

interface Running {
  key: string;
  stop: (outcome: 'cancelled' | 'interrupted', why: string) => void;
  /** What the launcher tells about this execution. */
  hear: (event: LaunchEvent) => void;
  /** The launcher went before telling how it ended. */
  orphan: (why: string) => void;
  /** The launcher it was sent to. */
  launcher: ChildProcess | undefined;
}

const LAUNCHER = fileURLToPath(new URL('./process-launcher.js', import.meta.url));

/**
 * The one executor of every process an agent queue runs (pipeline actions, agents, workflow roles). Each runs
 * in its own process group, so ending it (a timeout, silence, a cancel, shutdown) ends everything it started:
 * SIGTERM to the group, then SIGKILL after the grace period. Whatever the command left running in its group
 * when it exits is ended too, so a pipeline leaves no process behind. Written on `child_process` because the
 * process-group handling (detached group, group signals, escalation) is the point, and no library adds it.
 *
 * The processes are started by the process launcher (`process-launcher.ts`), a small process forked once,
 * so that starting one does not stop this process's event loop; timers, signals and lines stay here. If the
 * launcher dies, what it ran is ended (its output had no reader left) and ends `interrupted`, what it had not
 * started yet `spawn_failed`; the next execution forks a new launcher.
 */
@Injectable()
export class ProcessExecutor {
  private readonly logger = new Logger(ProcessExecutor.name);
  private readonly running = new Map<number, Running>();
  private launcher: ChildProcess | undefined;
  private nextId = 1;

  /** Ends every process of a build (a cancel); returns how many were running. */
  cancel(key: string, why = 'cancelled'): number {
    let count = 0;
    for (const run of this.running.values()) {
      if (run.key !== key) continue;
      run.stop('cancelled', why);
      count++;
    }
    return count;
  }

  /** Ends every process (shutdown): each execution ends `interrupted`, and is run again when its build resumes. */
  interruptAll(why: string): number {
    for (const run of this.running.values()) run.stop('interrupted', why);
    return this.running.size;
  }

  /** Whether a process of this build runs here now. */
  isRunning(key: string): boolean {
    for (const run of this.running.values()) if (run.key === key) return true;
    return false;
  }

  get active(): number {
    return this.running.size;
  }

  /** The launcher's process id while it runs (diagnostics and tests). */
  get launcherPid(): number | undefined {
    return this.launcher?.pid;
  }

  execute(spec: Execution): Promise<ExecutionResult> {
    return new Promise((resolve) => {
      const id = this.nextId++;
      let pid: number | undefined;
      let ended: { outcome: ExecutionOutcome; detail: string } | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      const terminate = (groupPid: number) => {
        signalGroup(groupPid, 'SIGTERM');
        killTimer = setTimeout(() => signalGroup(groupPid, 'SIGKILL'), spec.killGraceMs);
      };
      const stop = (outcome: ExecutionOutcome, detail: string) => {
        if (ended) return;
        ended = { outcome, detail };
        // before the launcher has said it started, it is ended as soon as it has
        if (pid !== undefined) terminate(pid);
      };
      const deadline = setTimeout(
        () => stop('timed_out', `no end after ${spec.timeoutMs} ms`),
        spec.timeoutMs,
      );
      let silence = setTimeout(() => stop('silent', `no output for ${spec.silenceMs} ms`), spec.silenceMs);
      const heard = () => {
        clearTimeout(silence);
        silence = setTimeout(() => stop('silent', `no output for ${spec.silenceMs} ms`), spec.silenceMs);
      };
      const partial = { stdout: '', stderr: '' };
      const finish = (result: ExecutionResult) => {
        clearTimeout(deadline);
        clearTimeout(silence);
        clearTimeout(killTimer);
        this.running.delete(id);
        this.refLauncher();
        for (const stream of ['stdout', 'stderr'] as const) {
          if (partial[stream] !== '') spec.onLine(stream, partial[stream]);
          partial[stream] = '';
        }
        resolve(result);
      };

      const hear = (event: LaunchEvent) => {
        switch (event.type) {
          case 'started':
            pid = event.pid;
            if (ended) terminate(pid);
            spec.onSpawn(pid).catch((error: unknown) => {
              this.logger.error({ err: error }, 'could not record a started process: ending it');
              stop('interrupted', 'its start could not be recorded');
            });
            return;
          case 'failed':
            finish({ outcome: 'spawn_failed', exitCode: null, signal: null, detail: event.detail });
            return;
          case 'output': {
            heard();
            const lines = (partial[event.stream] + event.chunk).split('\n');
            partial[event.stream] = lines.pop() ?? '';
            for (const line of lines)
              spec.onLine(event.stream, line.endsWith('\r') ? line.slice(0, -1) : line);
            return;
          }
          case 'ended':
            if (!ended && event.error !== null) ended = { outcome: 'spawn_failed', detail: event.error };
            finish({
              outcome: ended?.outcome ?? 'exited',
              exitCode: event.code,
              signal: event.signal,
              detail: ended?.detail ?? null,
            });
        }
      };
      const orphan = (why: string) => {
        // its output has no reader any more: end what it started rather than leave it unwatched; what it had
        // not started yet never ran (spawn_failed, so a launcher that cannot start fails jobs, not loops them)
        if (pid !== undefined) signalGroup(pid, 'SIGKILL');
        finish({
          outcome: ended?.outcome ?? (pid === undefined ? 'spawn_failed' : 'interrupted'),
          exitCode: null,
          signal: null,
          detail: ended?.detail ?? why,
        });
      };
      const run: Running = { key: spec.key, stop, hear, orphan, launcher: undefined };
      this.running.set(id, run);

      const request: LaunchRequest = {
        type: 'launch',
        id,
        command: spec.command,
        login: spec.login,
        cwd: spec.cwd,
        env: spec.env,
        stdin: spec.stdin ?? '',
      };
      try {
        run.launcher = this.launcherProcess();
        run.launcher.send(request);
      } catch (error) {
        orphan(`the process launcher could not be reached: ${(error as Error).message}`);
      }
    });
  }

  private launcherProcess(): ChildProcess {
    if (this.launcher?.connected) {
      this.refLauncher();
      return this.launcher;
    }
    // no inherited --cpu-prof or --inspect: the launcher is not what they are for
    const launcher = fork(LAUNCHER, [], {
      execArgv: [],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    launcher.on('message', (event: LaunchEvent) => this.running.get(event.id)?.hear(event));
    let stopped = false;
    const gone = (why: string) => {
      if (stopped) return;
      stopped = true;
      if (this.launcher === launcher) this.launcher = undefined;
      const orphans = [...this.running.values()].filter((run) => run.launcher === launcher);
      if (orphans.length > 0)
        this.logger.error(
          { processes: orphans.length, why },
          'the process launcher stopped: ending what it ran',
        );
      for (const run of orphans) run.orphan(`the process launcher stopped (${why})`);
    };
    launcher.on('error', (error) => gone(error.message));
    launcher.on('exit', (code, signal) => gone(signal ? `killed by ${signal}` : `exit code ${code}`));
    this.launcher = launcher;
    this.refLauncher();
    return launcher;
  }

  /** The launcher keeps this process alive only while something runs (a test, or a shutdown, may end it). */
  private refLauncher(): void {
    const launcher = this.launcher;
    if (!launcher) return;
    const channel = launcher.channel as { ref(): void; unref(): void } | undefined;
    if (this.running.size > 0) {
      launcher.ref();
      channel?.ref();
    } else {
      launcher.unref();
      channel?.unref();
    }
  }
}
