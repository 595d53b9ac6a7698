import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Job } from 'bullmq';
import { Bus, EventPublisher } from '#bus';
import { CLOCK, type Clock, SETTINGS, type Settings } from '#platform';
import { allowlistedEnvironment } from '../agents/process-environment.js';
import { type ExecutionResult, ProcessExecutor } from '../agents/process-executor.js';
import { LogSink } from '../agents/log-sink.js';
import { PipelineMetrics } from './pipeline-metrics.js';
import { type ActionRunState, PipelineRepository } from './pipeline-repository.js';

/** How long the end of an action is retried while PostgreSQL does not answer. */
const RECORD_RETRY_MS = 60_000;

/** The agent-queue job name of a pipeline action. */
export const PIPELINE_ACTION_JOB = 'pipeline_action';

/** What a worker needs to execute one action (values, never the service's own environment). */
export interface PipelineActionJob {
  runId: string;
  seq: number;
  attempt: number;
  role: string;
  taskId: string;
  itemId: string | null;
  stepId: string;
  actionId: string;
  kind: 'run' | 'codex_exec';
  command: string;
  login: boolean;
  stdin?: string;
  cwd: string;
  /** The AUTOAPPDEV_CTX_*, GUARDKIT_* and the run's own variables. */
  env: Record<string, string>;
  /** Watch stdout for the agent's session id (a `codex_exec` of a run that has none yet). */
  captureSession: boolean;
}

export interface PipelineActionResult {
  state: ActionRunState;
  exitCode: number | null;
  detail: string | null;
  sessionId: string | null;
}

const STATE_OF: Record<ExecutionResult['outcome'], Exclude<ActionRunState, 'queued' | 'running'>> = {
  exited: 'failed',
  timed_out: 'timed_out',
  silent: 'timed_out',
  cancelled: 'cancelled',
  interrupted: 'interrupted',
  spawn_failed: 'failed',
};

/** The first agent session id a JSON line names (`thread_id`, `session_id`, `thread.id`), as AutoAppDev reads it. */
export function sessionIdOf(line: string): string | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const obj = JSON.parse(line) as Record<string, unknown>;
    const thread = obj.thread as Record<string, unknown> | undefined;
    const id =
      obj.thread_id ?? obj.session_id ?? (typeof thread === 'object' && thread ? thread.id : undefined);
    return typeof id === 'string' && id !== '' ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Executes one pipeline action on an agent queue's worker. The execution's row is taken (`queued` →
 * `running`) before the process starts and only one taking succeeds, so a job delivered twice never runs its
 * command twice; the process id is recorded right after the spawn (so an orphan can be ended); the end is
 * recorded before the job answers.
 */
@Injectable()
export class PipelineActionProcessor {
  private readonly logger = new Logger(PipelineActionProcessor.name);

  constructor(
    private readonly repo: PipelineRepository,
    private readonly executor: ProcessExecutor,
    private readonly publisher: EventPublisher,
    private readonly bus: Bus,
    private readonly metrics: PipelineMetrics,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /**
   * The process has run: its end is recorded, retried while PostgreSQL is away (RECORD_RETRY_MS), so a database
   * hiccup does not leave it looking interrupted, which would run it again.
   */
  private async recordEnd(
    key: { runId: string; seq: number; attempt: number },
    end: Parameters<PipelineRepository['finishActionRun']>[1],
  ): Promise<void> {
    const deadline = Date.now() + RECORD_RETRY_MS;
    for (let delay = 250; ; delay = Math.min(delay * 2, 5000)) {
      try {
        await this.repo.finishActionRun(key, end, this.clock.now());
        return;
      } catch (error) {
        if (Date.now() + delay > deadline) throw error;
        if (delay === 250)
          this.logger.warn({ err: error, run_id: key.runId }, 'could not record an action`s end; retrying');
        await sleep(delay);
      }
    }
  }

  async process(job: Job<PipelineActionJob>): Promise<PipelineActionResult> {
    const d = job.data;
    const key = { runId: d.runId, seq: d.seq, attempt: d.attempt };
    if ((await this.repo.claimActionRun(d.runId, d.seq, d.attempt, this.clock.now())) !== 'claimed') {
      // Taken before (a second delivery of the job) or cancelled before it started: say what is recorded.
      const row = await this.repo.actionRun(d.runId, d.seq, d.attempt);
      return {
        state: row?.state ?? 'interrupted',
        exitCode: row?.exitCode ?? null,
        detail: row?.detail ?? null,
        sessionId: null,
      };
    }
    const agents = this.settings.agents;
    const sink = new LogSink(
      this.publisher,
      this.bus.subjects.logs(d.runId),
      {
        build_id: d.runId,
        seq: d.seq,
        attempt: d.attempt,
        role: d.role,
        task_id: d.taskId,
        step_id: d.stepId,
        action_id: d.actionId,
      },
      { maxChars: agents.logLineMaxChars, perSecond: agents.logLinesPerSecond },
    );
    let sessionId: string | null = null;
    const started = performance.now();
    const result = await this.executor.execute({
      key: d.runId,
      command: d.command,
      login: d.login,
      cwd: d.cwd,
      env: {
        ...allowlistedEnvironment(process.env, agents.envAllow),
        ...d.env,
        GUARDKIT_ATTEMPT: String(d.attempt),
      },
      stdin: d.stdin,
      timeoutMs: agents.timeoutMs,
      silenceMs: agents.silenceMs,
      killGraceMs: agents.killGraceMs,
      onSpawn: (pid) => this.repo.recordPid(d.runId, d.seq, d.attempt, pid, hostname()),
      onLine: (stream, line) => {
        if (d.captureSession && sessionId === null && stream === 'stdout')
          sessionId = sessionIdOf(line) ?? null;
        sink.write(stream, line);
      },
    });
    const state =
      result.outcome === 'exited' && result.exitCode === 0 ? 'succeeded' : STATE_OF[result.outcome];
    this.metrics.actionEnded(d.kind, state, (performance.now() - started) / 1000);
    const detail =
      result.detail ??
      (state === 'failed' ? `exited with ${result.exitCode ?? `signal ${result.signal ?? '?'}`}` : null);
    if (state !== 'succeeded')
      sink.write('runner', `[guardkit] ${d.actionId}: ${state}${detail ? ` (${detail})` : ''}`);
    await sink.close();
    await this.recordEnd(key, { state, exitCode: result.exitCode, signal: result.signal, detail });
    if (state === 'interrupted')
      this.logger.warn({ run_id: d.runId, action: d.actionId }, 'action interrupted');
    return { state, exitCode: result.exitCode, detail, sessionId };
  }
}
