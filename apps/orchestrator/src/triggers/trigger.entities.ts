import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import type { AttemptResult, TriggerDecision, TriggerState } from '#contracts';

/** A trigger and where it stands. `step` is the hop of the fallback chain the next attempt will take. */
@Entity({ name: 'trigger_jobs' })
export class TriggerJobEntity {
  @PrimaryColumn({ name: 'trigger_id', type: 'text' }) triggerId: string;
  @Column({ name: 'workspace_id', type: 'text' }) workspaceId: string;
  @Column({ name: 'thread_id', type: 'text' }) threadId: string;
  @Column({ name: 'target_agent_id', type: 'text' }) targetAgentId: string;
  @Column({ type: 'text' }) reason: string;
  @Column({ type: 'text' }) prompt: string;
  @Column({ name: 'idempotency_key', type: 'text', nullable: true }) idempotencyKey: string | null;
  /** The id of the request that created it: the same request retried is answered with this trigger. */
  @Column({ name: 'request_id', type: 'text', nullable: true }) requestId: string | null;
  /** When the dispatcher put it on the queue; null while it waits to be queued (or re-queued). */
  @Column({ name: 'enqueued_at', type: 'timestamptz', nullable: true }) enqueuedAt: Date | null;
  @Column({ type: 'text' }) decision: TriggerDecision;
  @Column({ type: 'text' }) step: TriggerDecision;
  @Column({ type: 'text' }) state: TriggerState;
  @Column({ name: 'session_id', type: 'text', nullable: true }) sessionId: string | null;
  @Column({ type: 'boolean' }) forced: boolean;
  @Column({ name: 'deferred_since', type: 'timestamptz', nullable: true }) deferredSince: Date | null;
  /** The last attempt number before the current run of the chain (a replay starts a new run). */
  @Column({ name: 'chain_start', type: 'integer' }) chainStart: number;
  @Column({ name: 'last_error_code', type: 'text', nullable: true }) lastErrorCode: string | null;
  @Column({ name: 'last_error_message', type: 'text', nullable: true }) lastErrorMessage: string | null;
  @Column({ type: 'integer' }) version: number;
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
  @Column({ name: 'updated_at', type: 'timestamptz' }) updatedAt: Date;
}

/** One hop tried for a trigger: unique per trigger and attempt number, kept forever as its history. */
@Entity({ name: 'trigger_attempts' })
export class TriggerAttemptEntity {
  /** bigserial: a string, as pg returns it */
  @PrimaryGeneratedColumn({ type: 'bigint' }) id: string;
  @Column({ name: 'trigger_id', type: 'text' }) triggerId: string;
  @Column({ type: 'integer' }) attempt: number;
  @Column({ type: 'text' }) step: TriggerDecision;
  @Column({ type: 'text' }) result: AttemptResult;
  @Column({ name: 'error_code', type: 'text', nullable: true }) errorCode: string | null;
  @Column({ type: 'jsonb' }) details: object;
  @Column({ name: 'started_at', type: 'timestamptz' }) startedAt: Date;
  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true }) finishedAt: Date | null;
}

/** The loop guard of one thread (SPEC 5 safeguards). */
@Entity({ name: 'trigger_threads' })
export class TriggerThreadEntity {
  @PrimaryColumn({ name: 'workspace_id', type: 'text' }) workspaceId: string;
  @PrimaryColumn({ name: 'thread_id', type: 'text' }) threadId: string;
  @Column({ name: 'turns_without_progress', type: 'integer' }) turnsWithoutProgress: number;
  @Column({ name: 'last_finding_hash', type: 'text', nullable: true }) lastFindingHash: string | null;
  @Column({ name: 'identical_findings', type: 'integer' }) identicalFindings: number;
  @Column({ name: 'blocked_reason', type: 'text', nullable: true }) blockedReason: string | null;
  @Column({ name: 'blocked_at', type: 'timestamptz', nullable: true }) blockedAt: Date | null;
  @Column({ name: 'updated_at', type: 'timestamptz' }) updatedAt: Date;
}
