import type { AapsStep } from '#aaps';
import {
  type BuildStatus,
  buildEventType,
  type BuildStatusPayload,
  createEnvelope,
  type Envelope,
  type PipelineState,
  progressPercent,
} from '#contracts';
import type { PipelineRun } from './pipeline-repository.js';
import type { TaskContext } from './pipeline-walk.js';

/** What an event says past the run's own state: the step's status, and the action it is about. */
export interface ProgressNote {
  phaseStatus: 'in_progress' | 'completed' | 'failed' | 'skipped';
  action?: { id: string; kind: string; status: 'started' | 'completed' | 'failed' | 'retrying' };
}

const STATUS_OF: Record<PipelineState, BuildStatus> = {
  queued: 'queued',
  running: 'running',
  paused: 'running',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
};

/**
 * A run as a build status (SPEC 6.1 "Progress"): `task_id`/`task_name` the current task (a meta-round's item),
 * `wave` its position among the run's tasks, `turn` the step's position in the task, `phase` the step's
 * title. The run's own state (`paused` included), step and action ride along as extra fields.
 */
export function pipelineStatus(
  run: PipelineRun,
  ctx: TaskContext | undefined,
  step: AapsStep | undefined,
  note: ProgressNote,
  now: Date,
): BuildStatusPayload {
  const status = STATUS_OF[run.state];
  // with no task in hand: the first before it starts, the last once it is over
  const task = run.state === 'completed' ? run.ir.tasks[run.ir.tasks.length - 1] : run.ir.tasks[0];
  const started = run.startedAt ?? run.createdAt;
  const core = {
    build_id: run.runId,
    build_type: 'pipeline',
    status,
    wave: ctx?.wave ?? (run.state === 'completed' ? Math.max(run.cursor.task, 1) : 0),
    wave_total: ctx?.waveTotal ?? run.ir.tasks.length,
    task_id: ctx?.id ?? task.id,
    task_name: ctx?.title ?? task.title,
    // a task that ended has done all its steps (its progress never goes back at its end)
    turn:
      ctx && step
        ? ctx.task.steps.indexOf(step) + 1
        : ctx && note.phaseStatus === 'completed'
          ? ctx.task.steps.length
          : 0,
    turn_max: ctx?.task.steps.length ?? 0,
    phase: step?.title ?? '',
    phase_status: note.phaseStatus,
    metrics: {
      elapsed_seconds: Math.max(0, Math.round((now.getTime() - started.getTime()) / 1000)),
      tests_passed: run.metrics.tests_passed,
      tests_total: run.metrics.tests_total,
      ...(run.metrics.files_created !== undefined ? { files_created: run.metrics.files_created } : {}),
      ...(run.metrics.files_modified !== undefined ? { files_modified: run.metrics.files_modified } : {}),
    },
    started_at: started.toISOString(),
    updated_at: now.toISOString(),
  };
  return {
    ...core,
    progress_pct: progressPercent(core),
    run_state: run.state,
    title: run.title,
    step_id: step?.id ?? null,
    step_block: step?.block ?? null,
    action_id: note.action?.id ?? null,
    action_kind: note.action?.kind ?? null,
    action_status: note.action?.status ?? null,
    ...(run.failure ? { failure: run.failure } : {}),
  };
}

export function pipelineEnvelope(
  run: PipelineRun,
  payload: BuildStatusPayload,
): Envelope<BuildStatusPayload> {
  return createEnvelope({
    source_id: 'guardkit-orchestrator',
    event_type: buildEventType(payload.status, run.eventSeq === 1),
    correlation_id: run.runId,
    payload,
  });
}
