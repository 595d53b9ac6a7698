import { Inject, Injectable } from '@nestjs/common';
import { InjectEntityManager } from '@nestjs/typeorm';
import { type EntityManager, In } from 'typeorm';
import {
  type AttemptResult,
  createEnvelope,
  type Envelope,
  NotFoundError,
  type TriggerDecision,
  type TriggerState,
  type TriggerStatusPayload,
  type TriggerView,
} from '#contracts';
import { Bus } from '#bus';
import { CLOCK, type Clock } from '#platform';
import { EventRelay } from '../relay/event-relay.js';
import { TriggerAttemptEntity, TriggerJobEntity } from './trigger.entities.js';

/** What changes with a state: the next hop, the deferral start, the last error. */
export interface TriggerChange {
  state: TriggerState;
  step?: TriggerDecision;
  chainStart?: number;
  deferredSince?: Date | null;
  error?: { code: string; message: string } | null;
  attempt?: number | null;
  /** The trigger goes back to its queue: the dispatcher queues it again. */
  requeue?: boolean;
}

/** How an attempt ended. */
export interface AttemptOutcome {
  result: Exclude<AttemptResult, 'running'>;
  errorCode: string | null;
  details: Record<string, unknown>;
}

/**
 * The record of every trigger: its state in `trigger_jobs`, each hop tried in `trigger_attempts`, and every
 * state change on `guardkit.triggers.<id>.status`. A state change and its event are written in one
 * transaction (the event into the EventRelay's outbox, published after the commit with `Nats-Msg-Id`
 * `<id>.<version>`), so no change is published that was not recorded, and none recorded goes unpublished.
 */
@Injectable()
export class TriggerLedger {
  constructor(
    @InjectEntityManager() private readonly manager: EntityManager,
    private readonly bus: Bus,
    private readonly relay: EventRelay,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async load(triggerId: string): Promise<TriggerJobEntity> {
    const trigger = await this.manager.findOneBy(TriggerJobEntity, { triggerId });
    if (!trigger) throw new NotFoundError(`no trigger ${triggerId}`);
    return trigger;
  }

  /**
   * Moves a trigger to a new state (and step), bumps its version and records the event, in one statement.
   * Inside `tx` when given (the caller then calls `relay.notify()` after its commit).
   */
  async transition(trigger: TriggerJobEntity, change: TriggerChange, tx?: EntityManager): Promise<void> {
    const next = this.changed(trigger, change);
    const { sql, params } = this.changeStatement(next, change.attempt ?? null);
    await (tx ?? this.manager).query(sql, params);
    Object.assign(trigger, next);
    if (!tx) this.relay.notify();
  }

  /**
   * Closes an attempt and moves the trigger on, in one statement: what an attempt did and where that leaves
   * the trigger are never recorded apart.
   */
  async settle(
    attempt: TriggerAttemptEntity,
    outcome: AttemptOutcome,
    trigger: TriggerJobEntity,
    change: TriggerChange,
  ): Promise<void> {
    const next = this.changed(trigger, change);
    const finishedAt = this.clock.now();
    const { sql, params } = this.changeStatement(next, change.attempt ?? null, {
      sql: `UPDATE trigger_attempts SET result = $2, error_code = $3, details = $4, finished_at = $5 WHERE id = $1`,
      params: [attempt.id, outcome.result, outcome.errorCode, JSON.stringify(outcome.details), finishedAt],
    });
    await this.manager.query(sql, params);
    Object.assign(attempt, { ...outcome, finishedAt });
    Object.assign(trigger, next);
    this.relay.notify();
  }

  /** The trigger as it will be after the change (the entity itself changes only once that is recorded). */
  private changed(trigger: TriggerJobEntity, change: TriggerChange): TriggerJobEntity {
    const next = { ...trigger };
    next.state = change.state;
    if (change.step !== undefined) next.step = change.step;
    if (change.chainStart !== undefined) next.chainStart = change.chainStart;
    if (change.deferredSince !== undefined) next.deferredSince = change.deferredSince;
    if (change.error !== undefined) {
      next.lastErrorCode = change.error?.code ?? null;
      next.lastErrorMessage = change.error?.message ?? null;
    }
    if (change.requeue) next.enqueuedAt = null;
    next.version += 1;
    next.updatedAt = this.clock.now();
    return next;
  }

  /**
   * One statement (atomic without a transaction, and one round trip): an optional statement before (closing
   * an attempt), the trigger's row, and its event into the relay's outbox.
   */
  private changeStatement(
    next: TriggerJobEntity,
    attempt: number | null,
    before?: { sql: string; params: unknown[] },
  ): { sql: string; params: unknown[] } {
    const params: unknown[] = [...(before?.params ?? [])];
    const at = (value: unknown) => `$${params.push(value)}`;
    const job = `UPDATE trigger_jobs SET state = ${at(next.state)}, step = ${at(next.step)},
        chain_start = ${at(next.chainStart)}, deferred_since = ${at(next.deferredSince)},
        last_error_code = ${at(next.lastErrorCode)}, last_error_message = ${at(next.lastErrorMessage)},
        version = ${at(next.version)}, updated_at = ${at(next.updatedAt)}, enqueued_at = ${at(next.enqueuedAt)}
      WHERE trigger_id = ${at(next.triggerId)}`;
    const event = this.eventOf(next, attempt);
    const insert = this.relay.insertSql(
      at(event.subject),
      at(event.msgId),
      at(JSON.stringify(event.envelope)),
    );
    const ctes = [...(before ? [`closed AS (${before.sql})`] : []), `job AS (${job})`];
    return { sql: `WITH ${ctes.join(', ')} ${insert}`, params };
  }

  /** Records the trigger's current state as an event (right after it is created), inside `tx`. */
  async recordEvent(tx: EntityManager, trigger: TriggerJobEntity): Promise<void> {
    const event = this.eventOf(trigger, null);
    await this.relay.record(tx, event.subject, event.envelope, event.msgId);
  }

  /** The status event of the trigger as it is, with `Nats-Msg-Id` `<id>.<version>`. */
  private eventOf(
    trigger: TriggerJobEntity,
    attempt: number | null,
  ): { subject: string; envelope: Envelope<TriggerStatusPayload>; msgId: string } {
    const payload: TriggerStatusPayload = {
      trigger_id: trigger.triggerId,
      state: trigger.state,
      decision: trigger.decision,
      workspace_id: trigger.workspaceId,
      thread_id: trigger.threadId,
      target_agent_id: trigger.targetAgentId,
      attempt,
      error_code: trigger.lastErrorCode,
      message: trigger.lastErrorMessage,
      version: trigger.version,
    };
    const envelope = createEnvelope({
      source_id: 'orchestrator',
      event_type: `trigger_${trigger.state}`,
      correlation_id: trigger.triggerId,
      timestamp: trigger.updatedAt,
      payload,
    });
    return {
      subject: this.bus.subjects.triggerStatus(trigger.triggerId),
      envelope,
      msgId: `${trigger.triggerId}.${trigger.version}`,
    };
  }

  /** These triggers were added to their queue (the dispatcher queues from what is committed). */
  async markEnqueued(triggerIds: string[]): Promise<void> {
    await this.manager.query(
      'UPDATE trigger_jobs SET enqueued_at = $2 WHERE trigger_id = ANY($1) AND enqueued_at IS NULL',
      [triggerIds, this.clock.now()],
    );
  }

  /** Unfinished triggers committed but not known to be queued, oldest first. */
  async unqueued(limit: number): Promise<string[]> {
    const rows = await this.manager.query<{ trigger_id: string }[]>(
      `SELECT trigger_id FROM trigger_jobs
        WHERE enqueued_at IS NULL AND state NOT IN ('delivered', 'fallback_resume', 'fallback_spawn', 'failed')
        ORDER BY created_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.trigger_id);
  }

  /** Triggers not finished (neither delivered nor failed), oldest first, after `afterId` (for paging). */
  async unfinished(afterId: string, limit: number): Promise<string[]> {
    const rows = await this.manager.query<{ trigger_id: string }[]>(
      `SELECT trigger_id FROM trigger_jobs
        WHERE state NOT IN ('delivered', 'fallback_resume', 'fallback_spawn', 'failed') AND trigger_id > $1
        ORDER BY trigger_id LIMIT $2`,
      [afterId, limit],
    );
    return rows.map((r) => r.trigger_id);
  }

  /** An attempt still `running`: a worker began a hop and never recorded how it ended. */
  async openAttempt(triggerId: string): Promise<TriggerAttemptEntity | null> {
    return this.manager.findOne(TriggerAttemptEntity, {
      where: { triggerId, result: 'running' },
      order: { attempt: 'DESC' },
    });
  }

  /**
   * Opens the next attempt. A hop left `running` by a worker that died is closed first as `interrupted`
   * (WORKER_STALLED): the stalled job was picked up again, and the history says so.
   */
  async startAttempt(trigger: TriggerJobEntity, step: TriggerDecision): Promise<TriggerAttemptEntity> {
    const now = this.clock.now();
    // one statement (this is the hot path): close a lost hop, then number the new one after the last
    const [row] = await this.manager.query<[{ id: string; attempt: number }]>(
      `WITH lost AS (
         UPDATE trigger_attempts SET result = 'interrupted', error_code = 'WORKER_STALLED', finished_at = $3
          WHERE trigger_id = $1 AND result = 'running')
       INSERT INTO trigger_attempts (trigger_id, attempt, step, result, details, started_at)
       SELECT $1, COALESCE(MAX(attempt), 0) + 1, $2, 'running', '{}', $3 FROM trigger_attempts WHERE trigger_id = $1
       RETURNING id, attempt`,
      [trigger.triggerId, step, now],
    );
    return this.manager.create(TriggerAttemptEntity, {
      id: row.id,
      triggerId: trigger.triggerId,
      attempt: row.attempt,
      step,
      result: 'running',
      errorCode: null,
      details: {},
      startedAt: now,
      finishedAt: null,
    });
  }

  async finishAttempt(
    attempt: TriggerAttemptEntity,
    outcome: AttemptOutcome,
    manager: EntityManager = this.manager,
  ): Promise<void> {
    const finishedAt = this.clock.now();
    await manager.query(
      `UPDATE trigger_attempts SET result = $2, error_code = $3, details = $4, finished_at = $5 WHERE id = $1`,
      [attempt.id, outcome.result, outcome.errorCode, JSON.stringify(outcome.details), finishedAt],
    );
    Object.assign(attempt, { ...outcome, finishedAt });
  }

  /** How many triggers are in each state, by decision (for the metrics). */
  async countByStateAndDecision(): Promise<{ state: string; decision: string; count: number }[]> {
    return this.manager.query(
      `SELECT state, decision, count(*)::int AS count FROM trigger_jobs GROUP BY state, decision`,
    );
  }

  attempts(triggerId: string): Promise<TriggerAttemptEntity[]> {
    return this.manager.find(TriggerAttemptEntity, { where: { triggerId }, order: { attempt: 'ASC' } });
  }

  /** Tries of this step in the current run of the chain that did not succeed (resume: at most TRIGGER_RESUME_TRIES). */
  async failedTries(trigger: TriggerJobEntity, step: TriggerDecision): Promise<number> {
    const [{ count }] = await this.manager.query<[{ count: number }]>(
      `SELECT count(*)::int AS count FROM trigger_attempts
        WHERE trigger_id = $1 AND step = $2 AND attempt > $3 AND result IN ('failed', 'timeout', 'interrupted')`,
      [trigger.triggerId, step, trigger.chainStart],
    );
    return count;
  }

  /** The number of the latest attempt, 0 before the first. */
  async lastAttemptNumber(triggerId: string): Promise<number> {
    const [{ last }] = await this.manager.query<[{ last: number }]>(
      `SELECT COALESCE(MAX(attempt), 0)::int AS last FROM trigger_attempts WHERE trigger_id = $1`,
      [triggerId],
    );
    return last;
  }

  /** The thread's latest triggers, newest first. */
  recentOnThread(workspaceId: string, threadId: string, limit: number): Promise<TriggerJobEntity[]> {
    return this.manager.find(TriggerJobEntity, {
      where: { workspaceId, threadId },
      order: { createdAt: 'DESC' },
      take: limit,
    });
  }

  /** The newest triggers with their attempts, newest first (two statements, whatever the limit). */
  async recentViews(limit: number): Promise<TriggerView[]> {
    const triggers = await this.manager.find(TriggerJobEntity, { order: { createdAt: 'DESC' }, take: limit });
    if (triggers.length === 0) return [];
    const attempts = await this.manager.find(TriggerAttemptEntity, {
      where: { triggerId: In(triggers.map((t) => t.triggerId)) },
      order: { attempt: 'ASC' },
    });
    return triggers.map((t) =>
      this.viewWith(
        t,
        attempts.filter((a) => a.triggerId === t.triggerId),
      ),
    );
  }

  async view(trigger: TriggerJobEntity): Promise<TriggerView> {
    return this.viewWith(trigger, await this.attempts(trigger.triggerId));
  }

  private viewWith(trigger: TriggerJobEntity, attempts: TriggerAttemptEntity[]): TriggerView {
    return {
      trigger_id: trigger.triggerId,
      workspace_id: trigger.workspaceId,
      thread_id: trigger.threadId,
      target_agent_id: trigger.targetAgentId,
      reason: trigger.reason,
      prompt: trigger.prompt,
      state: trigger.state,
      decision: trigger.decision,
      session_id: trigger.sessionId,
      idempotency_key: trigger.idempotencyKey,
      forced: trigger.forced,
      last_error: trigger.lastErrorCode
        ? { code: trigger.lastErrorCode, message: trigger.lastErrorMessage ?? '' }
        : null,
      created_at: trigger.createdAt.toISOString(),
      updated_at: trigger.updatedAt.toISOString(),
      attempts: attempts.map((a) => ({
        attempt: a.attempt,
        step: a.step,
        result: a.result,
        error_code: a.errorCode,
        details: a.details as Record<string, unknown>,
        started_at: a.startedAt.toISOString(),
        finished_at: a.finishedAt?.toISOString() ?? null,
      })),
    };
  }
}
