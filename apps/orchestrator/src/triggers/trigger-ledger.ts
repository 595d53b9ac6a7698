import { Inject, Injectable } from '@nestjs/common';
import { InjectEntityManager } from '@nestjs/typeorm';
import { type EntityManager } from 'typeorm';
import {
  type AttemptResult,
  createEnvelope,
  NotFoundError,
  type TriggerDecision,
  type TriggerState,
  type TriggerStatusPayload,
  type TriggerView,
} from '#contracts';
import { Bus, EventPublisher } from '#bus';
import { CLOCK, type Clock } from '#platform';
import { TriggerAttemptEntity, TriggerJobEntity } from './trigger.entities.js';

/** What changes with a state: the next hop, the deferral start, the last error. */
export interface TriggerChange {
  state: TriggerState;
  step?: TriggerDecision;
  chainStart?: number;
  deferredSince?: Date | null;
  error?: { code: string; message: string } | null;
  attempt?: number | null;
}

/**
 * The record of every trigger: its state in `trigger_jobs`, each hop tried in `trigger_attempts`, and every
 * state change on `guardkit.triggers.<id>.status`. The event is published after the row is written, with
 * `Nats-Msg-Id` `<id>.<version>`, so a worker that retries after a crash publishes each change once.
 */
@Injectable()
export class TriggerLedger {
  constructor(
    @InjectEntityManager() private readonly manager: EntityManager,
    private readonly bus: Bus,
    private readonly publisher: EventPublisher,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  async load(triggerId: string): Promise<TriggerJobEntity> {
    const trigger = await this.manager.findOneBy(TriggerJobEntity, { triggerId });
    if (!trigger) throw new NotFoundError(`no trigger ${triggerId}`);
    return trigger;
  }

  /** Moves a trigger to a new state (and step), bumps its version and publishes the change. */
  async transition(trigger: TriggerJobEntity, change: TriggerChange): Promise<void> {
    trigger.state = change.state;
    if (change.step !== undefined) trigger.step = change.step;
    if (change.chainStart !== undefined) trigger.chainStart = change.chainStart;
    if (change.deferredSince !== undefined) trigger.deferredSince = change.deferredSince;
    if (change.error !== undefined) {
      trigger.lastErrorCode = change.error?.code ?? null;
      trigger.lastErrorMessage = change.error?.message ?? null;
    }
    trigger.version += 1;
    trigger.updatedAt = this.clock.now();
    await this.manager.query(
      `UPDATE trigger_jobs SET state = $2, step = $3, chain_start = $4, deferred_since = $5, last_error_code = $6,
              last_error_message = $7, version = $8, updated_at = $9
        WHERE trigger_id = $1`,
      [
        trigger.triggerId,
        trigger.state,
        trigger.step,
        trigger.chainStart,
        trigger.deferredSince,
        trigger.lastErrorCode,
        trigger.lastErrorMessage,
        trigger.version,
        trigger.updatedAt,
      ],
    );
    await this.publish(trigger, change.attempt ?? null);
  }

  /** Publishes the trigger's current state (also used right after it is created). */
  async publish(trigger: TriggerJobEntity, attempt: number | null = null): Promise<void> {
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
    await this.publisher.publish(this.bus.subjects.triggerStatus(trigger.triggerId), envelope, {
      msgId: `${trigger.triggerId}.${trigger.version}`,
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
    result: Exclude<AttemptResult, 'running'>,
    errorCode: string | null,
    details: Record<string, unknown>,
  ): Promise<void> {
    attempt.result = result;
    attempt.errorCode = errorCode;
    attempt.details = details;
    attempt.finishedAt = this.clock.now();
    await this.manager.query(
      `UPDATE trigger_attempts SET result = $2, error_code = $3, details = $4, finished_at = $5 WHERE id = $1`,
      [attempt.id, result, errorCode, JSON.stringify(details), attempt.finishedAt],
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

  async view(trigger: TriggerJobEntity): Promise<TriggerView> {
    const attempts = await this.attempts(trigger.triggerId);
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
