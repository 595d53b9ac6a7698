import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { type AapsStep, planPipeline } from '#aaps';
import { createEnvelope, GuardkitError, type OutboxMessagePayload } from '#contracts';
import { Bus } from '#bus';
import { CLOCK, type Clock } from '#platform';
import { EventRelay } from '../relay/event-relay.js';
import { pipelineEnvelope, pipelineStatus, type ProgressNote } from './pipeline-progress.js';
import { PipelineRepository, type PipelineRun } from './pipeline-repository.js';
import { PipelineWalk, type TaskContext } from './pipeline-walk.js';

/** What a change announces: a build status event (where it stands by default), and an outbox message. */
export interface RunEvent {
  ctx?: TaskContext;
  step?: AapsStep;
  note: ProgressNote;
  outbox?: string;
}

/** A driver whose lease another replica took (this one was thought dead): it must stop driving. */
export class DriverLeaseLostError extends GuardkitError {
  readonly code = 'DRIVER_LEASE_LOST';
}

/** Changes a locked run and says what to announce (null: nothing). */
export type RunChange = (run: PipelineRun, tx: EntityManager) => Promise<RunEvent | null> | RunEvent | null;

/**
 * Every change of a run goes through here: on the locked row, saved with its build status event (and outbox
 * message) in one transaction; the events go out through the EventRelay after the commit, with `Nats-Msg-Id`
 * `<run_id>.<event_seq>`. So nothing is announced that was not saved, and nothing saved goes unannounced.
 */
@Injectable()
export class PipelineLedger {
  constructor(
    private readonly repo: PipelineRepository,
    private readonly relay: EventRelay,
    private readonly bus: Bus,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /**
   * `onlyIn`: the states the change applies in (a driver's changes: queued and running); others are left be.
   * `driver`: the driver making it, which must still hold the run's lease.
   */
  async commit(
    runId: string,
    change: RunChange,
    options: { onlyIn?: readonly string[]; driver?: string } = {},
  ): Promise<PipelineRun> {
    const onlyIn = options.onlyIn ?? ['queued', 'running'];
    let published = false;
    const run = await this.repo.locked(runId, async (tx, r) => {
      if (options.driver !== undefined && r.driverId !== options.driver) {
        throw new DriverLeaseLostError(`run ${runId} is driven by another orchestrator now`);
      }
      if (!onlyIn.includes(r.state)) return r;
      const event = await change(r, tx);
      const now = this.clock.now();
      r.updatedAt = now;
      if (event) {
        r.eventSeq += 1;
        const where = event.ctx ? { ctx: event.ctx, step: event.step } : this.whereIs(r);
        const envelope = pipelineEnvelope(r, pipelineStatus(r, where.ctx, where.step, event.note, now));
        await this.relay.record(
          tx,
          this.bus.subjects.buildStatus(r.runId),
          envelope,
          `${r.runId}.${r.eventSeq}`,
        );
        if (event.outbox) {
          const payload: OutboxMessagePayload = {
            source: r.source,
            role: 'pipeline',
            content: event.outbox,
            truncated: false,
          };
          const message = createEnvelope({
            source_id: 'guardkit-orchestrator',
            event_type: 'outbox_message',
            payload,
            correlation_id: r.runId,
          });
          await this.relay.record(
            tx,
            this.bus.subjects.outbox(r.source, 'pipeline'),
            message,
            `${r.runId}.${r.eventSeq}.outbox`,
          );
        }
        published = true;
      }
      await this.repo.save(tx, r);
      return r;
    });
    if (published) this.relay.notify();
    return run;
  }

  /** The task and step a run's cursor stands in. */
  whereIs(run: PipelineRun): { ctx?: TaskContext; step?: AapsStep } {
    const ctx = new PipelineWalk(planPipeline(run.ir), run.items, new Set()).context(run.cursor);
    const step = ctx && run.cursor.taskStarted ? ctx.task.steps[run.cursor.step] : undefined;
    return { ctx, step };
  }
}
