import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectEntityManager } from '@nestjs/typeorm';
import { type EntityManager, QueryFailedError } from 'typeorm';
import {
  ConflictError,
  CreateTriggerDto,
  NotFoundError,
  PayloadTooLargeError,
  ThreadAutoBlockedError,
  ThreadProgressDto,
  type TriggerCreated,
  TriggerIdQuery,
  ListTriggersQuery,
  TriggerRateLimitedError,
  type TriggerView,
} from '#contracts';
import { RpcServer } from '#bus';
import { CLOCK, type Clock, SETTINGS, type Settings } from '#platform';
import { AuditLog } from '../audit/audit-log.js';
import { EventRelay } from '../relay/event-relay.js';
import { SessionRegistry } from '../sessions/session-registry.js';
import type { SessionEntity } from '../sessions/session.entity.js';
import { cleanForTerminal } from './delivery/delivery.js';
import { TriggerDispatcher } from './trigger-dispatcher.js';
import { TriggerLedger } from './trigger-ledger.js';
import { decide, findingHash, nextThreadGuard } from './trigger-policy.js';
import { TriggerQueue } from './trigger-queue.js';
import { TriggerJobEntity, TriggerThreadEntity } from './trigger.entities.js';

/** Failures that say the agent's runtime is crashing: 3 in 15 minutes and triggers go straight to spawn. */
const RUNTIME_FAILURE_CODES = ['PANE_DEAD', 'TARGET_MISSING', 'COMMAND_FAILED', 'TIMEOUT'];

/**
 * Creating, reading, replaying and purging triggers (SPEC 5), over `guardkit.rpc.triggers.*`. Creation applies
 * the safeguards under a lock on the thread's guard row, so concurrent requests for one thread are counted
 * one after the other: the rate limit, the loop guard, and `force_override` (audited). The trigger and its
 * first event are committed together, and the answer goes out once they are: queueing (Redis) and
 * publishing (NATS) follow from what is committed, so neither can fail a trigger that exists.
 */
@Injectable()
export class TriggerService implements OnModuleInit {
  constructor(
    private readonly rpc: RpcServer,
    private readonly ledger: TriggerLedger,
    private readonly queue: TriggerQueue,
    private readonly dispatcher: TriggerDispatcher,
    private readonly relay: EventRelay,
    private readonly sessions: SessionRegistry,
    private readonly audit: AuditLog,
    @InjectEntityManager() private readonly manager: EntityManager,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    this.rpc.serve('triggers.create', CreateTriggerDto, (dto) => this.create(dto));
    this.rpc.serve('triggers.get', TriggerIdQuery, (q) => this.get(q.trigger_id));
    this.rpc.serve('triggers.list', ListTriggersQuery, (q) => this.ledger.recentViews(q.limit ?? 50));
    this.rpc.serve('triggers.replay', TriggerIdQuery, (q) => this.replay(q.trigger_id, 'api'));
    this.rpc.serve('triggers.purge', TriggerIdQuery, (q) => this.purge(q.trigger_id));
    this.rpc.serve('threads.progress', ThreadProgressDto, (dto) => this.threadProgress(dto));
  }

  async create(dto: CreateTriggerDto): Promise<TriggerCreated> {
    const earlier = await this.earlier(dto);
    if (earlier) return earlier;
    const bytes = Buffer.byteLength(cleanForTerminal(dto.prompt));
    if (bytes > this.settings.triggers.payloadMaxBytes) {
      throw new PayloadTooLargeError(
        `the prompt is ${bytes} bytes once made safe for a terminal, over the limit of ` +
          `${this.settings.triggers.payloadMaxBytes} (TRIGGER_PAYLOAD_MAX_BYTES); send a shorter prompt ` +
          '(a path to a file with the details, say)',
      );
    }
    // read before the transaction: inside it, a second pool connection could wait on the ones it holds
    const session = await this.sessions.latestFor(dto.workspace_id, dto.target_agent_id);
    let trigger: TriggerJobEntity;
    try {
      trigger = await this.manager.transaction(async (tx) => {
        const admitted = await this.admit(tx, dto, session);
        await this.ledger.recordEvent(tx, admitted);
        return admitted;
      });
    } catch (error) {
      // the same idempotency key or request, sent twice at once: the other one created it
      if (isUniqueViolation(error)) {
        const other = await this.earlier(dto);
        if (other) return other;
      }
      throw error;
    }
    this.relay.notify();
    this.dispatcher.dispatchSoon(trigger.triggerId, true);
    return this.answer(trigger, true);
  }

  /** The trigger an earlier call made for the same request id (created by it) or idempotency key (not). */
  private async earlier(dto: CreateTriggerDto): Promise<TriggerCreated | undefined> {
    if (dto.request_id) {
      const same = await this.manager.findOneBy(TriggerJobEntity, { requestId: dto.request_id });
      if (same) return this.answer(same, true);
    }
    if (dto.idempotency_key) {
      const same = await this.manager.findOneBy(TriggerJobEntity, {
        workspaceId: dto.workspace_id,
        idempotencyKey: dto.idempotency_key,
      });
      if (same) return this.answer(same, false);
    }
    return undefined;
  }

  async get(triggerId: string): Promise<TriggerView> {
    return this.ledger.view(await this.ledger.load(triggerId));
  }

  /**
   * Runs a failed trigger again from the top of its chain (POST /triggers/:id/replay, or Retry on the board's
   * `triggers-dead`). Its attempts so far stay in the history.
   */
  async replay(triggerId: string, via: 'api' | 'board'): Promise<TriggerView> {
    const trigger = await this.ledger.load(triggerId);
    if (trigger.state !== 'failed') {
      throw new ConflictError(
        `trigger ${triggerId} is ${trigger.state}: only a failed trigger can be replayed`,
      );
    }
    await this.restart(trigger, via);
    if (via === 'api') await this.queue.removeDeadLetter(triggerId);
    this.dispatcher.dispatchSoon(triggerId);
    return this.ledger.view(trigger);
  }

  /**
   * Puts a failed trigger back at the start of its chain, audited, and marks it for the dispatcher to queue
   * again (the board's Retry re-runs the job itself, which the dispatcher then finds active and leaves be).
   */
  async restart(trigger: TriggerJobEntity, via: 'api' | 'board'): Promise<void> {
    await this.audit.record({
      action: 'trigger_replayed',
      subjectType: 'trigger',
      subjectId: trigger.triggerId,
      details: { via, last_error: trigger.lastErrorCode },
    });
    await this.ledger.transition(trigger, {
      state: 'queued',
      step: trigger.decision,
      chainStart: await this.ledger.lastAttemptNumber(trigger.triggerId),
      deferredSince: null,
      error: null,
      requeue: true,
    });
  }

  /** Drops a trigger's dead letter; the trigger stays failed, with its history. */
  async purge(triggerId: string): Promise<{ purged: true }> {
    await this.ledger.load(triggerId);
    if (!(await this.queue.removeDeadLetter(triggerId))) {
      throw new NotFoundError(`trigger ${triggerId} has no dead letter`);
    }
    await this.audit.record({ action: 'dead_letter_purged', subjectType: 'trigger', subjectId: triggerId });
    return { purged: true };
  }

  /** The agent made progress on the thread: the loop guard starts over, and a blocked thread is free again. */
  async threadProgress(dto: ThreadProgressDto): Promise<{ blocked: false }> {
    const where = { workspaceId: dto.workspace_id, threadId: dto.thread_id };
    const guard = await this.manager.findOneBy(TriggerThreadEntity, where);
    if (guard?.blockedReason) {
      await this.audit.record({
        action: 'thread_unblocked',
        subjectType: 'thread',
        subjectId: `${dto.workspace_id}/${dto.thread_id}`,
        reason: 'progress reported',
        details: { was: guard.blockedReason },
      });
    }
    if (guard) {
      await this.manager.update(TriggerThreadEntity, where, {
        turnsWithoutProgress: 0,
        identicalFindings: 0,
        lastFindingHash: null,
        blockedReason: null,
        blockedAt: null,
        updatedAt: this.clock.now(),
      });
    }
    return { blocked: false };
  }

  /** The safeguards and the decision, in one transaction holding the thread's guard row. */
  private async admit(
    tx: EntityManager,
    dto: CreateTriggerDto,
    session: SessionEntity | null,
  ): Promise<TriggerJobEntity> {
    const now = this.clock.now();
    const policy = this.settings.triggers;
    const threadKey = { workspaceId: dto.workspace_id, threadId: dto.thread_id };
    // the guard row, created if new and locked (DO UPDATE takes the row lock) until the transaction ends
    const [guardRow] = await tx.query<[GuardRow]>(
      `INSERT INTO trigger_threads (workspace_id, thread_id, turns_without_progress, identical_findings, updated_at)
       VALUES ($1, $2, 0, 0, $3)
       ON CONFLICT (workspace_id, thread_id) DO UPDATE SET updated_at = trigger_threads.updated_at
       RETURNING turns_without_progress, last_finding_hash, identical_findings, blocked_reason`,
      [dto.workspace_id, dto.thread_id, now],
    );
    const guard = {
      turnsWithoutProgress: guardRow.turns_without_progress,
      lastFindingHash: guardRow.last_finding_hash,
      identicalFindings: guardRow.identical_findings,
      blockedReason: guardRow.blocked_reason,
    };
    // counted in a statement of its own, after the lock, so it sees triggers committed while it waited
    const [{ last_minute: lastMinute, runtime_failures: runtimeFailures }] = await tx.query<
      [{ last_minute: number; runtime_failures: number }]
    >(
      // the recent failures first (few, through a partial index), then whose they are: driven from the
      // agent's triggers instead, this would read every trigger the agent ever had
      `WITH failures AS MATERIALIZED (
         SELECT trigger_id FROM trigger_attempts
          WHERE result IN ('failed', 'timeout') AND started_at > $6 AND step IN ('deliver', 'resume')
            AND error_code = ANY($5))
       SELECT
         (SELECT count(*)::int FROM trigger_jobs
           WHERE workspace_id = $1 AND thread_id = $2 AND target_agent_id = $3 AND created_at > $4) AS last_minute,
         (SELECT count(*)::int FROM failures f JOIN trigger_jobs j USING (trigger_id)
           WHERE j.workspace_id = $1 AND j.target_agent_id = $3) AS runtime_failures`,
      [
        dto.workspace_id,
        dto.thread_id,
        dto.target_agent_id,
        new Date(now.getTime() - 60_000),
        RUNTIME_FAILURE_CODES,
        new Date(now.getTime() - policy.crashLoopWindowMs),
      ],
    );
    if (lastMinute >= policy.rateLimitPerMinute) {
      throw new TriggerRateLimitedError(
        `${dto.target_agent_id} was triggered ${lastMinute} times on thread ${dto.thread_id} in the last minute ` +
          `(at most ${policy.rateLimitPerMinute}); try again later`,
      );
    }

    const threadId = `${dto.workspace_id}/${dto.thread_id}`;
    if (dto.force_override) {
      await this.audit.record(
        {
          action: 'force_override',
          subjectType: 'thread',
          subjectId: threadId,
          reason: dto.force_override.reason,
          details: { target_agent_id: dto.target_agent_id, was_blocked: guard.blockedReason },
        },
        tx,
      );
      Object.assign(guard, {
        turnsWithoutProgress: 0,
        identicalFindings: 0,
        lastFindingHash: null,
        blockedReason: null,
      });
    } else if (guard.blockedReason) {
      throw new ThreadAutoBlockedError(
        `thread ${dto.thread_id} is blocked (${guard.blockedReason}): report progress on it, ` +
          'or send force_override with a reason',
      );
    }

    const next = nextThreadGuard(guard, findingHash(dto.prompt), policy);
    await tx.update(TriggerThreadEntity, threadKey, {
      ...next,
      blockedAt: next.blockedReason ? now : null,
      updatedAt: now,
    });
    if (next.blockedReason) {
      await this.audit.record(
        {
          action: 'thread_auto_blocked',
          subjectType: 'thread',
          subjectId: threadId,
          reason: next.blockedReason,
        },
        tx,
      );
    }

    const crashLoop = runtimeFailures >= policy.crashLoopFailures;
    const decision = decide(session ?? undefined, now, policy, crashLoop);
    const trigger = tx.create(TriggerJobEntity, {
      triggerId: randomUUID(),
      workspaceId: dto.workspace_id,
      threadId: dto.thread_id,
      targetAgentId: dto.target_agent_id,
      reason: dto.reason,
      prompt: dto.prompt,
      idempotencyKey: dto.idempotency_key ?? null,
      requestId: dto.request_id ?? null,
      enqueuedAt: null,
      decision,
      step: decision,
      state: 'queued',
      sessionId: session?.sessionId ?? null,
      forced: dto.force_override !== undefined,
      deferredSince: null,
      chainStart: 0,
      lastErrorCode: null,
      lastErrorMessage: null,
      version: 1,
      createdAt: now,
      updatedAt: now,
    });
    await tx.insert(TriggerJobEntity, trigger);
    return trigger;
  }

  private answer(trigger: TriggerJobEntity, created: boolean): TriggerCreated {
    return {
      trigger_id: trigger.triggerId,
      decision: trigger.decision,
      state: trigger.state,
      session_id: trigger.sessionId,
      created,
    };
  }
}

interface GuardRow {
  turns_without_progress: number;
  last_finding_hash: string | null;
  identical_findings: number;
  blocked_reason: string | null;
}

function isUniqueViolation(error: unknown): boolean {
  return error instanceof QueryFailedError && (error.driverError as { code?: string }).code === '23505';
}
