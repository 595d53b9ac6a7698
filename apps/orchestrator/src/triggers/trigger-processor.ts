import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Logger } from '@nestjs/common';
import { OnWorkerEvent } from '@nestjs/bullmq';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import { GuardkitError, NotFoundError, type TriggerDecision } from '#contracts';
import { CLOCK, type Clock, SETTINGS, type Settings } from '#platform';
import { SessionRegistry } from '../sessions/session-registry.js';
import type { SessionEntity } from '../sessions/session.entity.js';
import { CommandRunner } from './delivery/command-runner.js';
import {
  DELIVERY_ADAPTER,
  type DeliveryAdapter,
  DeliveryError,
  type DeliveryTarget,
  sanitizeForTerminal,
} from './delivery/delivery.js';
import { DrainingWorkerHost } from './draining-worker-host.js';
import { type AttemptOutcome, type TriggerChange, TriggerLedger } from './trigger-ledger.js';
import { TriggerMetrics } from './trigger-metrics.js';
import { collisionVerdict, isStale, resumeOrSpawn } from './trigger-policy.js';
import { TriggerQueue, type TriggerJobData } from './trigger-queue.js';
import { TriggerService } from './trigger-service.js';
import type { TriggerAttemptEntity, TriggerJobEntity } from './trigger.entities.js';

/** The ledger could not record what a delivery did, for TRIGGER_RECORD_RETRY_MS; the job is retried later. */
export class LedgerUnavailableError extends GuardkitError {
  readonly code = 'LEDGER_UNAVAILABLE';
  override readonly retryable = true;
}

/** What each step does that cannot be undone, for the message of an attempt cut off in the middle. */
const SIDE_EFFECT: Record<TriggerDecision, string> = {
  deliver: 'typed the prompt into the pane',
  resume: 'resumed the agent',
  spawn: 'spawned an agent',
};

/**
 * Works the `triggers` queue: walks a trigger down the fallback chain of SPEC 5, one attempt row per hop.
 *
 * - deliver: unless forced, a pane a person typed into lately defers the job (re-checked every
 *   TRIGGER_DEFER_RECHECK_MS, for at most TRIGGER_DEFER_MAX_MS); then `send-keys`. A missing target or a dead
 *   pane falls back at once; a timeout is retried with backoff.
 * - resume: the resume command, at most TRIGGER_RESUME_TRIES times; a stale session skips it.
 * - spawn: the spawn command with a summary of the thread; a failure is retried with backoff.
 *
 * A failure that cannot succeed, or the last retry, fails the trigger and copies it to `triggers-dead`.
 *
 * Exactly once: a hop's attempt row is committed before its side effect (keys typed, a command run), and
 * what the side effect did is committed with the trigger's new state in one statement, retried in place
 * while the database is away (TRIGGER_RECORD_RETRY_MS). Status events go out through the EventRelay, so NATS
 * cannot fail a delivery that happened. An attempt found still open on a later run (the worker died, or the
 * database stayed away) may have had its effect: it is never repeated automatically; the trigger fails with
 * OUTCOME_UNKNOWN and waits in `triggers-dead` for a person to check and replay it.
 * The class is decorated with its worker options by TriggersModule, from the settings.
 */
export class TriggerProcessor extends DrainingWorkerHost {
  private readonly logger = new Logger(TriggerProcessor.name);

  constructor(
    private readonly ledger: TriggerLedger,
    private readonly metrics: TriggerMetrics,
    private readonly queue: TriggerQueue,
    private readonly service: TriggerService,
    private readonly sessions: SessionRegistry,
    private readonly commands: CommandRunner,
    @Inject(DELIVERY_ADAPTER) private readonly adapter: DeliveryAdapter,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    super();
  }

  async process(job: Job<TriggerJobData>, token?: string): Promise<{ state: string }> {
    const trigger = await this.ledger.load(job.data.trigger_id).catch((error: unknown) => {
      if (error instanceof NotFoundError) {
        // only another installation sharing QUEUE_PREFIX queues triggers this database never had
        this.logger.error(
          { trigger_id: job.data.trigger_id, queue_prefix: this.settings.queues.prefix },
          'a trigger job for a trigger this database does not know: another installation shares ' +
            'QUEUE_PREFIX; the job is failed here, and its trigger is not delivered',
        );
      }
      throw new UnrecoverableError(error instanceof Error ? error.message : String(error));
    });
    if (
      trigger.state === 'delivered' ||
      trigger.state === 'fallback_resume' ||
      trigger.state === 'fallback_spawn'
    ) {
      return { state: trigger.state }; // done already: a duplicate run after a crash
    }
    const open = await this.ledger.openAttempt(trigger.triggerId);
    if (open) return this.cutOff(trigger, open);
    if (trigger.state === 'failed') {
      // Retry on the board's failed tab of `triggers`: the same as a replay
      await this.service.restart(trigger, 'board');
      await this.queue.removeDeadLetter(trigger.triggerId);
    }
    try {
      return { state: await this.walk(trigger, job, token) };
    } catch (error) {
      if (error instanceof DelayedError) throw error;
      const retryable = error instanceof GuardkitError ? error.retryable : true;
      const final = !retryable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      const code = error instanceof GuardkitError ? error.code : 'INTERNAL';
      const message = error instanceof Error ? error.message : String(error);
      if (final) {
        await this.fail(trigger, { code, message });
        throw new UnrecoverableError(`${code}: ${message}`);
      }
      await this.ledger.transition(trigger, {
        state: code === 'TIMEOUT' ? 'timeout' : 'queued',
        error: { code, message },
      });
      throw error;
    }
  }

  /** An attempt left open by an earlier run: closed as interrupted and the trigger failed, in one statement. */
  private async cutOff(trigger: TriggerJobEntity, open: TriggerAttemptEntity): Promise<never> {
    const error = {
      code: 'OUTCOME_UNKNOWN',
      message:
        `attempt ${open.attempt} (${open.step}) was cut off after it may have ${SIDE_EFFECT[open.step]}; ` +
        'it is not repeated automatically: check the agent, then replay the trigger if it needs to run again',
    };
    await this.ledger.settle(
      open,
      { result: 'interrupted', errorCode: 'OUTCOME_UNKNOWN', details: { message: error.message } },
      trigger,
      { state: 'failed', error, attempt: open.attempt },
    );
    await this.fail(trigger, error);
    throw new UnrecoverableError(`${error.code}: ${error.message}`);
  }

  /** Fails the trigger and copies it, with its history, to `triggers-dead`. Safe to repeat. */
  async fail(trigger: TriggerJobEntity, error: { code: string; message: string }): Promise<void> {
    if (trigger.state !== 'failed') await this.ledger.transition(trigger, { state: 'failed', error });
    const view = await this.ledger.view(trigger);
    await this.queue.deadLetter({ ...view, last_error: error, failed_at: this.clock.now().toISOString() });
    this.logger.warn({ trigger_id: trigger.triggerId, error }, 'trigger failed: moved to triggers-dead');
  }

  /**
   * A job that failed without passing through `process`'s own handling (it stalled more often than allowed)
   * is failed and dead-lettered here.
   */
  @OnWorkerEvent('failed')
  async onFailed(job: Job<TriggerJobData> | undefined, error: Error): Promise<void> {
    if (!job || !(await job.isFailed())) return;
    try {
      const trigger = await this.ledger.load(job.data.trigger_id);
      if (trigger.state !== 'failed')
        await this.fail(trigger, { code: 'WORKER_STALLED', message: error.message });
    } catch (failure) {
      this.logger.error(
        { err: failure, trigger_id: job.data.trigger_id },
        'could not dead-letter a failed job',
      );
    }
  }

  private async walk(trigger: TriggerJobEntity, job: Job<TriggerJobData>, token?: string) {
    const session = trigger.sessionId
      ? await this.sessions.find(trigger.sessionId).catch(() => undefined)
      : undefined;
    for (;;) {
      switch (trigger.step) {
        case 'deliver': {
          const next = await this.deliver(trigger, session, job, token);
          if (next === 'done') return trigger.state;
          trigger.step = next;
          break;
        }
        case 'resume': {
          const next = await this.resume(trigger, session);
          if (next === 'done') return trigger.state;
          trigger.step = next;
          break;
        }
        case 'spawn':
          await this.spawn(trigger, session);
          return trigger.state;
      }
    }
  }

  private async deliver(
    trigger: TriggerJobEntity,
    session: SessionEntity | undefined,
    job: Job<TriggerJobData>,
    token?: string,
  ): Promise<TriggerDecision | 'done'> {
    if (!session) return 'spawn';
    const target = targetOf(session);
    // Unsent text on the input line defers even a forced trigger: typed now, the prompt would be merged
    // into a person's half-written line and submitted with it.
    const unsent = await this.adapter.unsentInput(target);
    if (unsent !== undefined || !trigger.forced) {
      const now = this.clock.now();
      const verdict = collisionVerdict(
        unsent !== undefined ? now : await this.adapter.lastHumanInput(target),
        trigger.deferredSince,
        now,
        this.settings.triggers,
      );
      if (verdict === 'defer') {
        if (trigger.state !== 'deferred') {
          await this.ledger.transition(trigger, {
            state: 'deferred',
            deferredSince: trigger.deferredSince ?? now,
          });
        }
        await job.moveToDelayed(Date.now() + this.settings.triggers.deferRecheckMs, token);
        throw new DelayedError();
      }
      if (verdict === 'give_up') {
        const attempt = await this.ledger.startAttempt(trigger, 'deliver');
        await this.ledger.finishAttempt(attempt, {
          result: 'deferred',
          errorCode: 'DEFER_TIMEOUT',
          details: {
            deferred_since: trigger.deferredSince?.toISOString(),
            unsent_input: unsent !== undefined,
          },
        });
        const error = {
          code: 'DEFER_TIMEOUT',
          message:
            unsent !== undefined
              ? "a person's unsent text stayed on the pane's input line"
              : 'a person kept typing in the pane',
        };
        return this.fallBack(trigger, session, error, attempt.attempt);
      }
    }
    const attempt = await this.ledger.startAttempt(trigger, 'deliver');
    await this.ledger.transition(trigger, { state: 'triggering', attempt: attempt.attempt });
    let details: Record<string, unknown>;
    try {
      // refused at create when over the limit; the bound here only guards triggers stored before that rule
      const { text } = sanitizeForTerminal(trigger.prompt, this.settings.triggers.payloadMaxBytes);
      details = await this.adapter.deliver(target, text);
    } catch (error) {
      await this.closeFailed(attempt, error);
      if (!(error instanceof DeliveryError) || error.retryable) throw error;
      return this.fallBack(trigger, session, { code: error.code, message: error.message }, attempt.attempt);
    }
    await this.settle(attempt, { result: 'delivered', errorCode: null, details }, trigger, {
      state: 'delivered',
      error: null,
      attempt: attempt.attempt,
    });
    return 'done';
  }

  private async resume(
    trigger: TriggerJobEntity,
    session: SessionEntity | undefined,
  ): Promise<TriggerDecision | 'done'> {
    const policy = this.settings.triggers;
    if (!session || isStale(session, this.clock.now(), policy)) return 'spawn';
    if ((await this.ledger.failedTries(trigger, 'resume')) >= policy.resumeTries) return 'spawn';
    const attempt = await this.ledger.startAttempt(trigger, 'resume');
    await this.ledger.transition(trigger, { state: 'triggering', step: 'resume', attempt: attempt.attempt });
    let details: Record<string, unknown>;
    try {
      details = await this.commands.run('resume', this.variables(trigger, session));
    } catch (error) {
      await this.closeFailed(attempt, error);
      if (!(error instanceof DeliveryError)) throw error;
      if (error.code === 'NOT_CONFIGURED') return 'spawn';
      return 'resume'; // counted: the next turn of the loop tries again or moves on to spawn
    }
    await this.settle(attempt, { result: 'delivered', errorCode: null, details }, trigger, {
      state: 'fallback_resume',
      error: null,
      attempt: attempt.attempt,
    });
    return 'done';
  }

  private async spawn(trigger: TriggerJobEntity, session: SessionEntity | undefined): Promise<void> {
    const attempt = await this.ledger.startAttempt(trigger, 'spawn');
    await this.ledger.transition(trigger, { state: 'triggering', step: 'spawn', attempt: attempt.attempt });
    const variables = this.variables(trigger, session);
    let details: Record<string, unknown>;
    try {
      variables['GUARDKIT_THREAD_SUMMARY'] = await this.threadSummary(trigger);
      details = await this.commands.run('spawn', variables);
    } catch (error) {
      await this.closeFailed(attempt, error);
      throw error;
    }
    await this.settle(attempt, { result: 'delivered', errorCode: null, details }, trigger, {
      state: 'fallback_spawn',
      error: null,
      attempt: attempt.attempt,
    });
  }

  /**
   * Records what a side effect did, with the trigger's new state, retrying while the database is away: the
   * effect happened, so the record must follow it, or (past TRIGGER_RECORD_RETRY_MS) the attempt stays open
   * and a later run reports it instead of repeating it.
   */
  private async settle(
    attempt: TriggerAttemptEntity,
    outcome: AttemptOutcome,
    trigger: TriggerJobEntity,
    change: TriggerChange,
  ): Promise<void> {
    await this.recorded(() => this.ledger.settle(attempt, outcome, trigger, change), trigger.triggerId);
    this.metrics.attemptFinished(attempt);
  }

  private async recorded(write: () => Promise<void>, triggerId: string): Promise<void> {
    const deadline = Date.now() + this.settings.triggers.recordRetryMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await write();
        if (attempt > 1) this.logger.log({ trigger_id: triggerId }, 'trigger outcome recorded');
        return;
      } catch (error) {
        if (Date.now() >= deadline) {
          throw new LedgerUnavailableError(
            `could not record the outcome of trigger ${triggerId} for ` +
              `${this.settings.triggers.recordRetryMs} ms (TRIGGER_RECORD_RETRY_MS)`,
            { cause: error },
          );
        }
        if (attempt === 1) {
          this.logger.warn(
            { trigger_id: triggerId, err: error instanceof Error ? error.message : String(error) },
            'cannot record a trigger outcome yet; retrying',
          );
        }
        await sleep(Math.min(100 * 2 ** attempt, 2000));
      }
    }
  }

  /** Live delivery is out: on to resume or spawn, saying why in the state change. */
  private async fallBack(
    trigger: TriggerJobEntity,
    session: SessionEntity,
    error: { code: string; message: string },
    attempt: number,
  ): Promise<TriggerDecision> {
    const next = resumeOrSpawn(session, this.clock.now(), this.settings.triggers);
    await this.ledger.transition(trigger, { state: 'triggering', step: next, error, attempt });
    return next;
  }

  private async closeFailed(attempt: TriggerAttemptEntity, error: unknown): Promise<void> {
    const code = error instanceof GuardkitError ? error.code : 'INTERNAL';
    const details = error instanceof DeliveryError ? error.details : {};
    const message = error instanceof Error ? error.message : String(error);
    const outcome: AttemptOutcome = {
      result: code === 'TIMEOUT' ? 'timeout' : 'failed',
      errorCode: code,
      details: { ...details, message },
    };
    await this.recorded(() => this.ledger.finishAttempt(attempt, outcome), attempt.triggerId);
    this.metrics.attemptFinished(attempt);
  }

  /** What resume and spawn commands receive, as environment variables. */
  private variables(trigger: TriggerJobEntity, session: SessionEntity | undefined): Record<string, string> {
    const { text } = sanitizeForTerminal(trigger.prompt, this.settings.triggers.payloadMaxBytes);
    return {
      GUARDKIT_TRIGGER_ID: trigger.triggerId,
      GUARDKIT_WORKSPACE_ID: trigger.workspaceId,
      GUARDKIT_THREAD_ID: trigger.threadId,
      GUARDKIT_AGENT_ID: trigger.targetAgentId,
      GUARDKIT_REASON: trigger.reason,
      GUARDKIT_PROMPT: text,
      GUARDKIT_SESSION_ID: session?.sessionId ?? '',
      GUARDKIT_TMUX_TARGET: session?.tmuxTarget ?? '',
    };
  }

  /** The thread's recent triggers, oldest first, bounded like a prompt: what a fresh agent needs to pick up. */
  private async threadSummary(trigger: TriggerJobEntity): Promise<string> {
    const recent = await this.ledger.recentOnThread(trigger.workspaceId, trigger.threadId, 20);
    const lines = recent
      .reverse()
      .map(
        (t) =>
          `- ${t.createdAt.toISOString()} ${t.targetAgentId} (${t.state}): ${t.reason}: ${t.prompt.slice(0, 300)}`,
      );
    const summary = `Thread ${trigger.threadId} in workspace ${trigger.workspaceId}. Recent triggers:\n${lines.join('\n')}`;
    const bytes = new Uint8Array(this.settings.triggers.payloadMaxBytes);
    return summary.slice(0, new TextEncoder().encodeInto(summary, bytes).read);
  }
}

function targetOf(session: SessionEntity): DeliveryTarget {
  return { sessionId: session.sessionId, runtime: session.runtime, tmuxTarget: session.tmuxTarget };
}
