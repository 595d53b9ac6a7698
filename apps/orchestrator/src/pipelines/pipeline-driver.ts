import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolve } from 'node:path';
import { Logger } from '@nestjs/common';
import {
  type AapsAction,
  type AapsStep,
  expandPlaceholders,
  isPipelinePlanError,
  type PipelinePlan,
  planPipeline,
} from '#aaps';
import type { EntityManager } from 'typeorm';
import { isSafeId, ROLE_BY_BLOCK } from '#contracts';
import type { Bus, EventPublisher } from '#bus';
import type { Clock, Settings } from '#platform';
import type { AgentQueues } from '../agents/agent-queues.js';
import { LogSink } from '../agents/log-sink.js';
import { type ProcessExecutor } from '../agents/process-executor.js';
import { signalGroup } from '../agents/process-group.js';
import {
  PIPELINE_ACTION_JOB,
  type PipelineActionJob,
  type PipelineActionResult,
} from './pipeline-action-processor.js';
import type { PipelineLedger, RunChange } from './pipeline-ledger.js';
import type { ProgressNote } from './pipeline-progress.js';
import type { ActionRun, PipelineRepository, PipelineRun } from './pipeline-repository.js';
import { type Move, PipelineWalk, type TaskItem } from './pipeline-walk.js';
import { workspaceChanges } from './workspace-changes.js';

/** What a driver uses; the engine hands it over. */
export interface DriverDeps {
  /** This orchestrator's driver id: every change is made under its lease on the run. */
  driverId: string;
  executor: ProcessExecutor;
  repo: PipelineRepository;
  ledger: PipelineLedger;
  queues: AgentQueues;
  publisher: EventPublisher;
  bus: Bus;
  clock: Clock;
  settings: Settings;
}

/** How many times an execution interrupted by something other than a shutdown is tried before the run fails. */
const MAX_ATTEMPTS = 3;

/** What the driver needs of an execution's record: its state and end, and where its process ran. */
type ExecutionRecord = Pick<ActionRun, 'state' | 'exitCode' | 'detail'> &
  Partial<Pick<ActionRun, 'pid' | 'host'>>;
/** An execution this driver has just recorded, in the transaction that moved the cursor onto it. */
const JUST_QUEUED: ExecutionRecord = { state: 'queued', exitCode: null, detail: null };

/** The role of an action: its `meta.role`, else its step's block's (SPEC 6.3). */
export function roleOf(step: AapsStep, action: AapsAction): string {
  const named = action.meta?.role;
  return typeof named === 'string' && isSafeId(named) ? named : ROLE_BY_BLOCK[step.block];
}

/**
 * Runs one pipeline from where its cursor stands to its end, a pause, a cancel or a failure: asks the walk
 * for the next move, performs it, and saves the cursor with the move's build status event (and outbox
 * message) in one transaction. `run` and `codex_exec` actions go to their role's agent queue; the execution's
 * row is written with the cursor before the job is queued, so a driver resumed after a crash finds it and
 * waits for it, or runs it again (recorded as interrupted) if its process died with the orchestrator.
 */
export class PipelineDriver {
  private readonly logger = new Logger(PipelineDriver.name);
  private stopping = false;
  private plan!: PipelinePlan;
  private completed = new Set<string>();
  private runner!: LogSink;
  /** `seq.attempt` of the execution this driver recorded last: its row is known without reading it. */
  private recorded?: string;

  constructor(
    private readonly deps: DriverDeps,
    readonly runId: string,
  ) {}

  /** Stops at the next move (shutdown): the run stays `running` and resumes at the next start. */
  stop(): void {
    this.stopping = true;
  }

  async drive(): Promise<void> {
    let run = await this.deps.repo.get(this.runId);
    this.plan = planPipeline(run.ir);
    if (this.plan.metaRound)
      this.completed = await this.deps.repo.completedItems(run.cwd, this.plan.metaRound.controller.id);
    this.runner = new LogSink(
      this.deps.publisher,
      this.deps.bus.subjects.logs(this.runId),
      {
        build_id: this.runId,
        seq: 0,
        attempt: 0,
        role: 'runner',
        task_id: null,
        step_id: null,
        action_id: null,
      },
      { maxChars: this.deps.settings.agents.logLineMaxChars, perSecond: 1000 },
      undefined,
      // a driver of the same run after a pause or a restart numbers its lines anew: its own prefix
      `${this.runId}.runner.${randomBytes(4).toString('hex')}`,
    );
    try {
      if (run.state === 'running') {
        // resumed (after a pause, a retry or a restart): said once, where it stands
        run = await this.commit(() => ({ note: { phaseStatus: 'in_progress' } }));
      }
      if (run.state === 'queued') {
        run = await this.commit((r) => {
          if (r.state !== 'queued') return null;
          r.state = 'running';
          r.startedAt ??= this.deps.clock.now();
          return { note: { phaseStatus: 'in_progress' } };
        });
      }
      while (run.state === 'running' && !this.stopping) run = await this.step(run);
    } finally {
      await this.runner.close();
    }
  }

  private async step(run: PipelineRun): Promise<PipelineRun> {
    if (run.requested === 'cancel') return this.end('cancelled', undefined, 'cancelled on request');
    if (run.requested === 'pause' && !run.cursor.running) {
      this.say('paused (POST /pipelines/:id/resume to go on)');
      return this.commit((r) => {
        r.state = 'paused';
        r.requested = null;
        return { note: { phaseStatus: 'in_progress' } };
      });
    }
    const walk = new PipelineWalk(this.plan, run.items, this.completed);
    const move = walk.next(run.cursor);
    if (run.cursor.running) {
      if (move.type !== 'run_action')
        return this.end('failed', undefined, 'the cursor names an action the pipeline has not');
      return this.awaitAction(run, walk, move);
    }
    switch (move.type) {
      case 'start_task':
        this.say(`TASK ${move.ctx.id}: ${move.ctx.title}`);
        return this.commit((r) => {
          r.cursor = walk.apply(r.cursor, move);
          return {
            ctx: move.ctx,
            note: { phaseStatus: 'in_progress' },
            outbox: move.ctx.item ? `META_TASK ${move.ctx.id}: start (${move.ctx.title})` : undefined,
          };
        });
      case 'skip_item':
        this.say(`SKIP META_TASK ${move.item.id}: already completed`);
        return this.commit((r) => {
          r.cursor = walk.apply(r.cursor, move);
          const ctx = walk.context(run.cursor);
          return {
            ctx,
            note: { phaseStatus: 'skipped' },
            outbox: `SKIP META_TASK ${move.item.id}: already completed`,
          };
        });
      case 'start_step':
        this.say(`STEP ${move.step.id} (${move.step.block}): ${move.step.title}`);
        return this.commit((r) => {
          r.cursor = walk.apply(r.cursor, move);
          return { ctx: move.ctx, step: move.step, note: { phaseStatus: 'in_progress' } };
        });
      case 'skip_step':
        this.say(`SKIP STEP ${move.step.id} (${move.step.block}): conditional=${move.conditional}`);
        return this.commit((r) => {
          r.cursor = walk.apply(r.cursor, move);
          return { ctx: move.ctx, step: move.step, note: { phaseStatus: 'skipped' } };
        });
      case 'end_step': {
        const changes = await workspaceChanges(run.cwd);
        return this.commit((r) => {
          r.cursor = walk.apply(r.cursor, move);
          if (changes)
            Object.assign(r.metrics, { files_created: changes.created, files_modified: changes.modified });
          return {
            ctx: move.ctx,
            step: move.step,
            note: { phaseStatus: move.failed ? 'failed' : 'completed' },
          };
        });
      }
      case 'end_task': {
        const meta = this.plan.metaRound;
        const item = move.ctx.item;
        if (item) this.say(`META_TASK ${item.id}: done`);
        const next = await this.commit(async (r, tx) => {
          r.cursor = walk.apply(r.cursor, move);
          if (item && meta)
            await this.deps.repo.markItemCompleted(
              tx,
              r.cwd,
              meta.controller.id,
              item.id,
              r.runId,
              this.deps.clock.now(),
            );
          return {
            ctx: move.ctx,
            note: { phaseStatus: 'completed' },
            outbox: item ? `META_TASK ${item.id}: done` : undefined,
          };
        });
        if (item) this.completed.add(item.id);
        return next;
      }
      case 'read_task_list':
        return this.readTaskList(run, walk, move);
      case 'run_action':
        return this.startAction(run, walk, move);
      case 'finish':
        return this.end('completed');
    }
  }

  private async readTaskList(
    run: PipelineRun,
    walk: PipelineWalk,
    move: Extract<Move, { type: 'read_task_list' }>,
  ): Promise<PipelineRun> {
    const path = resolve(run.cwd, move.path);
    let items: TaskItem[];
    try {
      items = parseTaskList(await readFile(path, 'utf8'));
    } catch (error) {
      return this.end('failed', undefined, `meta_round: task list ${move.path}: ${(error as Error).message}`);
    }
    const capped = PipelineWalk.capped(items, this.plan.metaRound?.taskLimit);
    this.say(
      `meta_round: ${items.length} tasks in ${move.path}${capped.length < items.length ? `, running the first ${capped.length} (task_limit)` : ''}`,
    );
    return this.commit((r) => {
      r.items = capped;
      r.cursor = walk.apply(r.cursor, move);
      return { note: { phaseStatus: 'completed' } };
    });
  }

  private async startAction(
    run: PipelineRun,
    walk: PipelineWalk,
    move: Extract<Move, { type: 'run_action' }>,
  ): Promise<PipelineRun> {
    const { ctx, step, action } = move;
    if (action.kind === 'note') {
      this.say(`NOTE: ${action.params?.text as string}`); // a string: checked when the run was submitted
      return this.commit((r) => {
        r.cursor = walk.apply(r.cursor, move);
        return {
          ctx,
          step,
          note: {
            phaseStatus: 'in_progress',
            action: { id: action.id, kind: action.kind, status: 'completed' },
          },
        };
      });
    }
    try {
      this.jobFor(run, move, 1, 0); // the placeholders expand, or the run fails here, before anything is queued
    } catch (error) {
      if (isPipelinePlanError(error)) return this.end('failed', move, error.detail);
      throw error;
    }
    return this.commit(async (r, tx) => {
      const seq = r.cursor.seq + 1;
      r.cursor = { ...r.cursor, seq, running: { seq, attempt: 1 } };
      await this.recordExecution(tx, move, seq, 1);
      return {
        ctx,
        step,
        note: { phaseStatus: 'in_progress', action: { id: action.id, kind: action.kind, status: 'started' } },
      };
    });
  }

  /** The action in flight: wait for its job, or run it again if its process died with an orchestrator. */
  private async awaitAction(
    run: PipelineRun,
    walk: PipelineWalk,
    move: Extract<Move, { type: 'run_action' }>,
  ): Promise<PipelineRun> {
    const { seq, attempt } = run.cursor.running!;
    const { ctx, step, action } = move;
    // Read, unless this driver has just recorded it: then it is queued (a cancel meanwhile is the worker's to
    // find, and its job answers so).
    let row: ExecutionRecord | undefined =
      this.recorded === `${seq}.${attempt}`
        ? JUST_QUEUED
        : await this.deps.repo.actionRun(this.runId, seq, attempt);
    this.recorded = undefined;
    // A row running while this replica runs the run's process: a driver started again (after an error) while
    // the job goes on here; wait for it. Otherwise the orchestrator that ran it died.
    if (row?.state === 'running' && !this.deps.executor.isRunning(this.runId)) {
      // Only a dead orchestrator leaves a row running when its run is being resumed (its lease lapsed): end
      // what it left, where it can be reached (a process on another host is that host's to end).
      if (row.pid && row.host === hostname()) signalGroup(row.pid, 'SIGKILL');
      await this.deps.repo.finishActionRun(
        { runId: this.runId, seq, attempt },
        {
          state: 'interrupted',
          exitCode: null,
          signal: null,
          detail: 'the orchestrator stopped while it ran',
        },
        this.deps.clock.now(),
      );
      row = await this.deps.repo.actionRun(this.runId, seq, attempt);
    }
    if (row?.state === 'queued' || row?.state === 'running') {
      const role = roleOf(step, action);
      let result: PipelineActionResult | undefined;
      try {
        result = await this.deps.queues.run<PipelineActionResult>(
          role,
          PIPELINE_ACTION_JOB,
          `${this.runId}.${seq}.${attempt}`,
          this.jobFor(run, move, attempt, seq),
        );
      } catch (error) {
        this.logger.warn({ err: error, run_id: this.runId }, 'an action job ended without an answer');
      }
      if (result?.sessionId && !run.agentSession) {
        run = await this.commit((r) => {
          r.agentSession ??= result.sessionId;
          return null;
        });
      }
      // A job's answer with an end is what its worker recorded before answering; any other is read.
      const ended = result && result.state !== 'queued' && result.state !== 'running';
      row = ended ? result : await this.deps.repo.actionRun(this.runId, seq, attempt);
      if (row?.state === 'queued' || row?.state === 'running') {
        if (this.stopping) return run;
        if (this.deps.executor.isRunning(this.runId)) {
          // its process still runs here (the answer was lost on the way, Redis away): wait for it again
          await sleep(1000);
          return run;
        }
        // the job failed without recording an end (Redis or a worker lost it): this execution is over
        await this.deps.repo.finishActionRun(
          { runId: this.runId, seq, attempt },
          { state: 'interrupted', exitCode: null, signal: null, detail: 'its job ended without an answer' },
          this.deps.clock.now(),
        );
        row = await this.deps.repo.actionRun(this.runId, seq, attempt);
      }
    }
    if (!row)
      return this.end('failed', move, `the execution ${seq}.${attempt} of ${action.id} is not recorded`);
    const actionNote = (status: NonNullable<ProgressNote['action']>['status']): ProgressNote => ({
      phaseStatus: 'in_progress',
      action: { id: action.id, kind: action.kind, status },
    });
    switch (row.state) {
      case 'queued':
      case 'running':
        return run;
      case 'interrupted': {
        if (this.stopping) return run;
        if (attempt >= MAX_ATTEMPTS)
          return this.end('failed', move, `interrupted ${attempt} times: ${row.detail ?? ''}`);
        this.say(
          `${action.id}: interrupted (${row.detail ?? 'no detail'}); running it again (attempt ${attempt + 1})`,
        );
        return this.commit(async (r, tx) => {
          r.cursor = { ...r.cursor, running: { seq, attempt: attempt + 1 } };
          await this.recordExecution(tx, move, seq, attempt + 1);
          return { ctx, step, note: actionNote('retrying') };
        });
      }
      case 'cancelled':
        return this.end('cancelled', move, 'cancelled on request');
      case 'succeeded':
      case 'failed':
      case 'timed_out': {
        const ok = row.state === 'succeeded';
        const inDebug = step.block === 'debug';
        if (!ok && !inDebug) {
          return this.end(
            'failed',
            move,
            `${action.kind} ${action.id} ${row.state === 'timed_out' ? 'timed out' : 'failed'}: ${row.detail ?? ''}`,
            row.exitCode,
          );
        }
        return this.commit((r) => {
          r.cursor = walk.apply(r.cursor, move, !ok);
          if (inDebug) {
            r.metrics.tests_total += 1;
            if (ok) r.metrics.tests_passed += 1;
          }
          return { ctx, step, note: actionNote(ok ? 'completed' : 'failed') };
        });
      }
    }
  }

  /** The row of an action's execution, written (queued) with the cursor that names it, before its job exists. */
  private recordExecution(
    tx: EntityManager,
    move: Extract<Move, { type: 'run_action' }>,
    seq: number,
    attempt: number,
  ): Promise<void> {
    const { ctx, step, action } = move;
    this.recorded = `${seq}.${attempt}`;
    return this.deps.repo.insertActionRun(
      tx,
      {
        runId: this.runId,
        seq,
        attempt,
        taskId: ctx.id,
        itemId: ctx.item?.id ?? null,
        stepId: step.id,
        actionId: action.id,
        kind: action.kind,
        role: roleOf(step, action),
      },
      this.deps.clock.now(),
    );
  }

  private jobFor(
    run: PipelineRun,
    move: Extract<Move, { type: 'run_action' }>,
    attempt: number,
    seq: number,
  ): PipelineActionJob {
    const { ctx, step, action } = move;
    const role = roleOf(step, action);
    const values = {
      runtime_dir: run.runtimeDir,
      'task.id': ctx.id,
      'task.title': ctx.title,
      'task.acceptance': ctx.acceptance,
      'step.id': step.id,
      'step.title': step.title,
      'step.block': step.block,
      'action.id': action.id,
      'action.kind': action.kind,
    };
    const env: Record<string, string> = {
      ...run.env,
      AUTOAPPDEV_RUNTIME_DIR: run.runtimeDir,
      AUTOAPPDEV_RUNTIME_DIR_RESOLVED: run.runtimeDir,
      AUTOAPPDEV_CTX_TASK_ID: ctx.id,
      AUTOAPPDEV_CTX_TASK_TITLE: ctx.title,
      AUTOAPPDEV_CTX_TASK_ACCEPTANCE: ctx.acceptance,
      AUTOAPPDEV_CTX_STEP_ID: step.id,
      AUTOAPPDEV_CTX_STEP_TITLE: step.title,
      AUTOAPPDEV_CTX_STEP_BLOCK: step.block,
      AUTOAPPDEV_CTX_ACTION_ID: action.id,
      AUTOAPPDEV_CTX_ACTION_KIND: action.kind,
      GUARDKIT_BUILD_ID: run.runId,
      GUARDKIT_ROLE: role,
    };
    const base = {
      runId: run.runId,
      seq,
      attempt,
      role,
      taskId: ctx.id,
      itemId: ctx.item?.id ?? null,
      stepId: step.id,
      actionId: action.id,
      cwd: run.cwd,
    };
    const params = action.params ?? {};
    if (action.kind === 'run') {
      return {
        ...base,
        kind: 'run',
        command: expandPlaceholders(String(params.cmd), values),
        login: true,
        env,
        captureSession: false,
      };
    }
    const agents = this.deps.settings.agents;
    env.AUTOAPPDEV_CODEX_MODEL = typeof params.model === 'string' ? params.model : agents.model;
    env.AUTOAPPDEV_CODEX_REASONING =
      typeof params.reasoning === 'string' ? params.reasoning : agents.reasoning;
    if (run.agentSession) env.GUARDKIT_AGENT_SESSION = run.agentSession;
    return {
      ...base,
      kind: 'codex_exec',
      command: agents.command,
      login: false,
      stdin: `${expandPlaceholders(String(params.prompt), values)}\n`,
      env,
      captureSession: !run.agentSession,
    };
  }

  /** Ends the run: completed, failed (naming the action and its exit code) or cancelled. */
  private end(
    state: 'completed' | 'failed' | 'cancelled',
    move?: Extract<Move, { type: 'run_action' }>,
    reason?: string,
    exitCode: number | null = null,
  ): Promise<PipelineRun> {
    this.say(state === 'completed' ? 'runner done' : `${state}: ${reason ?? ''}`);
    return this.commit((r) => {
      r.state = state;
      r.requested = null;
      r.finishedAt = this.deps.clock.now();
      r.cursor = { ...r.cursor, running: null };
      if (state === 'failed') {
        r.failure = {
          task_id: move?.ctx.id ?? null,
          step_id: move?.step.id ?? null,
          action_id: move?.action.id ?? null,
          exit_code: exitCode,
          reason: reason ?? 'failed',
        };
      }
      const note: ProgressNote = move
        ? {
            phaseStatus: state === 'completed' ? 'completed' : 'failed',
            action: { id: move.action.id, kind: move.action.kind, status: 'failed' },
          }
        : { phaseStatus: state === 'completed' ? 'completed' : 'failed' };
      return { ctx: move?.ctx, step: move?.step, note };
    });
  }

  private commit(change: RunChange): Promise<PipelineRun> {
    return this.deps.ledger.commit(this.runId, change, { driver: this.deps.driverId });
  }

  /** A line of the runner's own, as AutoAppDev's runner logs (`[runner] …`), on the build's log subject. */
  private say(text: string): void {
    this.runner.write('runner', text);
  }
}

/** An `autoappdev_task_list` v0 file, checked as AutoAppDev's runner checks it. */
export function parseTaskList(text: string): TaskItem[] {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (error) {
    throw new Error(`invalid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Error('must be an object');
  const list = obj as Record<string, unknown>;
  if (list.kind !== 'autoappdev_task_list' || list.version !== 0) {
    throw new Error('unexpected kind/version (expected autoappdev_task_list v0)');
  }
  if (!Array.isArray(list.tasks)) throw new Error('.tasks must be an array');
  return list.tasks.map((raw: unknown, i) => {
    const t = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw new Error(`tasks[${i}] must be an object`);
    if (typeof t.id !== 'string' || t.id === '') throw new Error(`tasks[${i}].id must be a non-empty string`);
    if (typeof t.title !== 'string' || t.title === '')
      throw new Error(`tasks[${i}].title must be a non-empty string`);
    const acceptance = t.acceptance ?? '';
    if (typeof acceptance !== 'string') throw new Error(`tasks[${i}].acceptance must be a string`);
    return { id: t.id, title: t.title, acceptance };
  });
}
