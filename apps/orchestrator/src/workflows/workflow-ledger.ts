import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import {
  type BuildStatus,
  type BuildStatusCore,
  buildEventType,
  type BuildStatusPayload,
  createEnvelope,
  progressPercent,
  WORKFLOW_STAGES,
  type WorkflowState,
} from '#contracts';
import { Bus } from '#bus';
import { CLOCK, type Clock, SETTINGS, type Settings } from '#platform';
import { EventRelay } from '../relay/event-relay.js';
import { nodeOf } from './workflow-graph.js';
import { type Workflow, WorkflowRepository } from './workflow-repository.js';

/** What a change announces: the node it is about and how that node stands. */
export interface WorkflowNote {
  node?: string | null;
  phaseStatus: 'in_progress' | 'completed' | 'failed' | 'skipped';
  /** A word for people: `started`, `retrying`, `answered CHANGES_REQUESTED`, … */
  detail?: string;
}

export type WorkflowChange = (
  wf: Workflow,
  tx: EntityManager,
) => Promise<WorkflowNote | null> | WorkflowNote | null;

const STATUS_OF: Record<WorkflowState, BuildStatus> = {
  queued: 'queued',
  running: 'running',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
};

/**
 * A workflow as a build status (SPEC 6.2 and issue 14): `wave` the stage (drafts 1 … reviewer 6), `turn` the
 * review round, `phase` the node (`analyst-2`, `implementer`).
 */
export function workflowStatus(
  wf: Workflow,
  note: WorkflowNote,
  maxRounds: number,
  now: Date,
): BuildStatusPayload {
  const node = note.node === undefined ? wf.currentNode : note.node;
  const stage = node ? nodeOf(node).stage + 1 : wf.state === 'completed' ? WORKFLOW_STAGES.length : 0;
  const started = wf.startedAt ?? wf.createdAt;
  const firstLine = wf.description.split('\n', 1)[0].slice(0, 120);
  const core: BuildStatusCore = {
    build_id: wf.workflowId,
    build_type: 'workflow',
    status: STATUS_OF[wf.state],
    wave: stage,
    wave_total: WORKFLOW_STAGES.length,
    task_id: wf.workflowId,
    task_name: firstLine,
    turn: wf.round,
    turn_max: Math.max(maxRounds, wf.round),
    phase: node ?? '',
    phase_status: note.phaseStatus,
    metrics: {
      elapsed_seconds: Math.max(0, Math.round((now.getTime() - started.getTime()) / 1000)),
      ...wf.metrics,
    },
    started_at: started.toISOString(),
    updated_at: now.toISOString(),
  };
  return {
    ...core,
    progress_pct: progressPercent(core),
    workflow_state: wf.state,
    mode: wf.mode,
    role_detail: note.detail ?? null,
    ...(wf.failure ? { failure: wf.failure } : {}),
  };
}

/**
 * Every change of a workflow goes through here: on the locked row, saved with its build status event in one
 * transaction, the event published by the EventRelay after the commit (`Nats-Msg-Id` `<id>.<event_seq>`).
 */
@Injectable()
export class WorkflowLedger {
  constructor(
    private readonly repo: WorkflowRepository,
    private readonly relay: EventRelay,
    private readonly bus: Bus,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  /** `onlyIn`: the states the change applies in (by default a live workflow's); in others it is left be. */
  async commit(
    workflowId: string,
    change: WorkflowChange,
    onlyIn: readonly WorkflowState[] = ['queued', 'running'],
  ): Promise<{ wf: Workflow; applied: boolean }> {
    let published = false;
    let applied = false;
    const wf = await this.repo.locked(workflowId, async (tx, w) => {
      if (!onlyIn.includes(w.state)) return w;
      applied = true;
      const note = await change(w, tx);
      const now = this.clock.now();
      w.updatedAt = now;
      if (note) {
        if (note.node !== undefined) w.currentNode = note.node ?? w.currentNode;
        w.eventSeq += 1;
        const payload = workflowStatus(w, note, this.settings.workflows.maxReviewRounds, now);
        const envelope = createEnvelope({
          source_id: 'guardkit-orchestrator',
          event_type: buildEventType(payload.status, w.eventSeq === 1),
          correlation_id: w.workflowId,
          payload,
        });
        await this.relay.record(
          tx,
          this.bus.subjects.buildStatus(w.workflowId),
          envelope,
          `${w.workflowId}.${w.eventSeq}`,
        );
        published = true;
      }
      await this.repo.save(tx, w);
      return w;
    });
    if (published) this.relay.notify();
    return { wf, applied };
  }
}
